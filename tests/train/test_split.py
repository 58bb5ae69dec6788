from pathlib import Path

import pytest

from meddenoise.errors import InputError
from meddenoise.train.split import FAMILIES, load_split

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_split_covers_all_five_modalities_without_leaks():
    items = load_split(REPO / "configs" / "split.toml", root="/nonexistent")
    for family in FAMILIES:
        sides = {i.split for i in items if i.family == family}
        assert sides == {"train", "validation"}, family
    groups = {}
    for item in items:
        groups.setdefault(item.group, set()).add(item.split)
    assert all(len(s) == 1 for s in groups.values())
    paths = [i.path for i in items]
    assert len(paths) == len(set(paths))


def test_the_committed_split_files_exist(shared_data):
    for item in load_split(REPO / "configs" / "split.toml", root=shared_data):
        assert item.path.exists(), item.path


def test_a_group_in_both_splits_is_refused(tmp_path):
    text = "\n".join(
        [
            "[[item]]",
            'path = "a"',
            'modality = "CT"',
            'family = "ct"',
            'split = "train"',
            'group = "p1"',
            "[[item]]",
            'path = "b"',
            'modality = "CT"',
            'family = "ct"',
            'split = "validation"',
            'group = "p1"',
        ]
    )
    path = tmp_path / "split.toml"
    path.write_text(text)
    with pytest.raises(InputError, match="both splits: p1"):
        load_split(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('path = "a"\nmodality = "CT"\nfamily = "ct"\nsplit = "train"', "lacks 'group'"),
        ('path = "a"\nmodality = "CT"\nfamily = "pet"\nsplit = "train"\ngroup = "g"', "family"),
        ('path = "a"\nmodality = "CT"\nfamily = "ct"\nsplit = "test"\ngroup = "g"', "split"),
    ],
)
def test_malformed_items(tmp_path, entry, message):
    path = tmp_path / "split.toml"
    path.write_text(f"[[item]]\n{entry}\n")
    with pytest.raises(InputError, match=message):
        load_split(path)
    path.write_text("not = [toml")
    with pytest.raises(InputError, match="cannot read"):
        load_split(path)
