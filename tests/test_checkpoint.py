import os
import zipfile

import pytest
import torch

from meddenoise.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from meddenoise.errors import CheckpointError
from meddenoise.models import build_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("two_stage", depth=1)


def test_round_trip_rebuilds_the_same_model(tmp_path, model):
    path = save_checkpoint(
        tmp_path / "m.pt",
        model,
        normalization={"kind": "fixed", "low": -1024.0, "high": 3071.0},
        training={"data": ["ct", "mri"], "steps": 12, "noise": "algorithm1"},
        metrics={"psnr": 31.5},
    )
    ck = load_checkpoint(path)
    assert ck.arch == "two_stage"
    assert ck.config["depth"] == 1
    assert ck.training["steps"] == 12
    assert ck.normalization["low"] == -1024.0
    assert ck.metrics == {"psnr": 31.5}
    assert ck.format_version == FORMAT_VERSION
    rebuilt = ck.build()
    assert not rebuilt.training
    x = torch.rand(1, 3, 9, 11)
    with torch.inference_mode():
        torch.testing.assert_close(rebuilt(x).clean, model.eval()(x).clean, rtol=0, atol=0)
    # nothing but the checkpoint is left in the folder (no temporary file)
    assert os.listdir(tmp_path) == ["m.pt"]


def test_extra_entries_round_trip_and_cannot_shadow(tmp_path, model):
    path = save_checkpoint(tmp_path / "m.pt", model, extra={"optimizer": {"step": 3}})
    raw = torch.load(path, weights_only=True)
    assert raw["optimizer"] == {"step": 3}
    with pytest.raises(CheckpointError, match="replace"):
        save_checkpoint(tmp_path / "n.pt", model, extra={"arch": "x"})


def test_objects_that_are_not_plain_data_are_refused_on_save(tmp_path, model):
    with pytest.raises(CheckpointError, match=r"training\.when: .* not plain data"):
        save_checkpoint(tmp_path / "m.pt", model, training={"when": object()})
    assert not list(tmp_path.iterdir())


def _write_raw(path, payload):
    torch.save(payload, path)
    return path


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_that_runs_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = _write_raw(
        tmp_path / "evil.pt",
        {"format_version": 1, "arch": "nen", "config": {}, "state_dict": {"x": _Evil(str(marker))}},
    )
    with pytest.raises(CheckpointError, match="refused") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ([1, 2, 3], "not a meddenoise checkpoint"),
        (
            {"format_version": 1, "arch": "unet", "config": {}, "state_dict": {}},
            "unknown model architecture 'unet'; valid: nen, twn, two_stage",
        ),
        ({"format_version": 99, "arch": "nen", "config": {}, "state_dict": {}}, "newer"),
        (
            {"format_version": 1, "arch": "nen", "config": {}, "state_dict": {"w": 3}},
            "not a mapping of tensors",
        ),
    ],
)
def test_malformed_checkpoints_give_one_line_errors(tmp_path, payload, match):
    path = _write_raw(tmp_path / "bad.pt", payload)
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_corrupted_files(tmp_path, model):
    good = save_checkpoint(tmp_path / "good.pt", model).read_bytes()
    cases = {
        "empty.pt": b"",
        "text.pt": b"not a checkpoint at all",
        "truncated.pt": good[: len(good) // 2],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match="corrupted or not a checkpoint"):
            load_checkpoint(tmp_path / name)
    # a zip whose tensor data was damaged
    damaged = tmp_path / "damaged.pt"
    with zipfile.ZipFile(tmp_path / "good.pt") as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename.endswith("data.pkl"):
                body = body[: len(body) // 3]
            dst.writestr(item, body)
    with pytest.raises(CheckpointError, match="corrupted or not a checkpoint"):
        load_checkpoint(damaged)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    small = build_model("nen", depth=1)
    path = save_checkpoint(tmp_path / "m.pt", small)
    raw = torch.load(path, weights_only=True)
    raw["config"]["depth"] = 2
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="do not fit architecture 'nen'"):
        load_checkpoint(path).build()


def test_export_keeps_weights_and_description_but_drops_training_state(tmp_path):
    import torch

    from meddenoise.checkpoint import export_checkpoint, file_digest

    torch.manual_seed(0)
    model = build_model("nen")
    source = save_checkpoint(
        tmp_path / "last.pt",
        model,
        training={"steps": 7},
        metrics={"mean": 30.0},
        extra={"optimizer": {"lr": 1.0}},
    )
    out = tmp_path / "release"
    out.mkdir()
    released = export_checkpoint(source, out, name="nen", metrics={"psnr": 31.5})
    assert released.name == f"nen-{file_digest(released)[:12]}.pt"
    assert [p.name for p in out.iterdir()] == [released.name]
    raw = torch.load(released, weights_only=True)
    assert "optimizer" not in raw
    assert raw["training"] == {"steps": 7}
    assert raw["metrics"] == {"psnr": 31.5}
    for key, value in model.state_dict().items():
        assert torch.equal(raw["state_dict"][key], value)


def test_export_refuses_a_missing_folder(tmp_path):
    from meddenoise.checkpoint import export_checkpoint

    source = save_checkpoint(tmp_path / "a.pt", build_model("nen"))
    with pytest.raises(CheckpointError, match="no such folder"):
        export_checkpoint(source, tmp_path / "missing")
