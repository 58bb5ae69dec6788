from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meddenoise.errors import InputError
from meddenoise.evaluation import load_eval_images
from meddenoise.evaluation.data import spread
from tests.io.dicom.synthetic import write_series


def _png(path: Path, color: bool, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    shape = (48, 64, 3) if color else (48, 64)
    Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "photos"
    data.mkdir()
    _png(data / "b_grey.png", False)
    _png(data / "a_rgb.png", True)
    (data / ".hidden").write_text("ignored")
    return data


def test_folder_images_are_named_by_folder_and_read_in_order(folder: Path) -> None:
    images = load_eval_images(data=[folder])
    assert [im.name for im in images] == ["photos/a_rgb.png", "photos/b_grey.png"]
    assert [im.family for im in images] == ["other", "other"]  # PNG records no modality
    rgb, grey = images[0].slices[0], images[1].slices[0]
    assert rgb.shape == (3, 48, 64)
    assert grey.shape == (1, 48, 64)
    assert grey.dtype == np.float32
    assert grey.min() >= 0.0
    assert grey.max() <= 1.0
    raw = np.asarray(Image.open(folder / "b_grey.png"), dtype=np.float32) / 255
    np.testing.assert_allclose(grey[0], raw, atol=1e-6)  # 8-bit images map through 0..255


def test_family_option_and_filter(folder: Path) -> None:
    images = load_eval_images(data=[folder], family="microscopy", max_items=1)
    assert [(im.name, im.family) for im in images] == [("photos/a_rgb.png", "microscopy")]
    with pytest.raises(InputError, match="no usable evaluation images"):
        load_eval_images(data=[folder], families=["ct"])


def test_dicom_series_family_comes_from_the_modality(tmp_path: Path) -> None:
    data = tmp_path / "series"
    write_series(data / "ct1", [0.0, 1.0, 2.0, 3.0, 4.0], shape=(48, 48))
    images = load_eval_images(data=[data], max_slices=2)
    assert [(im.name, im.family, len(im.slices)) for im in images] == [("series/ct1", "ct", 2)]


def test_split_items_are_named_relative_to_their_common_folder(tmp_path: Path) -> None:
    for sub in ("ct", "derm"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    _png(tmp_path / "data" / "ct" / "x.png", False)
    _png(tmp_path / "data" / "derm" / "y.png", True)
    _png(tmp_path / "data" / "derm" / "z.png", True, seed=1)
    (tmp_path / "configs").mkdir()
    entries = [
        ("ct/x.png", "CT", "ct", "validation"),
        ("derm/y.png", "XC", "dermoscopy", "validation"),
        ("derm/z.png", "XC", "dermoscopy", "train"),
    ]
    text = 'version = 1\nroot = "data"\n' + "".join(
        f'[[item]]\npath = "{p}"\nmodality = "{m}"\nfamily = "{f}"\nsplit = "{s}"\ngroup = "{p}"\n'
        for p, m, f, s in entries
    )
    split = tmp_path / "configs" / "split.toml"
    split.write_text(text)
    images = load_eval_images(split=split)
    assert [(im.name, im.family) for im in images] == [
        ("ct/x.png", "ct"),
        ("derm/y.png", "dermoscopy"),
    ]
    train = load_eval_images(split=split, split_name="train", families=["dermoscopy"])
    assert [im.name for im in train] == ["derm/z.png"]


def test_bad_sources_raise_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="give a split file or folders"):
        load_eval_images()
    with pytest.raises(InputError, match="not a folder"):
        load_eval_images(data=[tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty folder"):
        load_eval_images(data=[tmp_path / "empty"])
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match="unknown file type"):
        load_eval_images(data=[tmp_path / "junk"])


def test_spread_picks_evenly_spaced_indices_with_both_ends() -> None:
    assert spread(5, 3) == [0, 2, 4]
    assert spread(100, 2) == [0, 99]
    assert spread(3, 1) == [0]
    assert spread(3, 10) == [0, 1, 2]
