import hashlib

import nibabel as nib
import numpy as np
import pytest

from meddenoise.api import denoise, denoise_array, denoise_file, load_model
from meddenoise.checkpoint import save_checkpoint
from meddenoise.errors import InputError
from meddenoise.image import MedicalImage
from meddenoise.models import build_model


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, build_model("two_stage", depth=1))
    return path


@pytest.fixture
def nifti(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1000, size=(20, 16, 3)).astype(np.int16)
    path = tmp_path / "in.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([0.8, 0.8, 2.0, 1.0])), path)
    return path


@pytest.mark.parametrize("shape", [(12, 13), (12, 13, 3), (2, 12, 13), (2, 12, 13, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_denoise_array_keeps_shape_and_dtype(tiny_checkpoint, shape, dtype):
    x = np.random.default_rng(1).random(shape).astype(dtype)
    y = denoise_array(x, model=tiny_checkpoint, device="cpu", tile=8)
    assert y.shape == x.shape
    assert y.dtype == x.dtype
    assert 0.0 <= y.min() <= y.max() <= 1.0
    assert not np.array_equal(x, y)


def test_denoise_array_tiling_does_not_change_the_result(tiny_checkpoint):
    x = np.random.default_rng(2).random((40, 50)).astype(np.float32)
    whole = denoise_array(x, model=tiny_checkpoint, device="cpu", tile=512)
    tiled = denoise_array(x, model=tiny_checkpoint, device="cpu", tile=16, batch_size=3)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_denoise_array_refuses_bad_arrays(tiny_checkpoint):
    with pytest.raises(InputError, match="floats"):
        denoise_array(np.zeros((4, 4), np.uint8), model=tiny_checkpoint)
    with pytest.raises(InputError, match="NaN"):
        denoise_array(np.full((4, 4), np.nan), model=tiny_checkpoint)
    with pytest.raises(InputError, match="expected"):
        denoise_array(np.zeros(5), model=tiny_checkpoint)


def test_models_load_once_per_process(tiny_checkpoint):
    a = load_model(tiny_checkpoint, device="cpu")
    b = load_model(str(tiny_checkpoint), device="cpu")
    assert a is b
    assert a.sha256 == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert a.arch == "two_stage"


def test_the_default_model_is_never_random_weights(monkeypatch, tmp_path):
    import meddenoise.api as api

    monkeypatch.setattr(api, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(InputError, match="no trained default model"):
        load_model("default")


def test_the_shipped_default_model_matches_its_name(monkeypatch, tmp_path, tiny_checkpoint):
    import meddenoise.api as api
    from meddenoise.checkpoint import export_checkpoint

    monkeypatch.setattr(api, "WEIGHTS_DIR", tmp_path)
    released = export_checkpoint(tiny_checkpoint, tmp_path)
    digest = hashlib.sha256(released.read_bytes()).hexdigest()
    assert released.name == f"default-{digest[:12]}.pt"
    assert api.default_model_path() == released
    loaded = load_model("default", device="cpu")
    assert loaded.name == "default"
    assert loaded.sha256 == digest

    damaged = bytearray(released.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    released.write_bytes(bytes(damaged))
    with pytest.raises(InputError, match="does not match the digest"):
        api.default_model_path()
    (tmp_path / "default-000000000000.pt").write_bytes(b"")
    with pytest.raises(InputError, match="several default models"):
        api.default_model_path()


def test_the_real_default_model_ships_and_loads():
    import meddenoise.api as api

    path = api.default_model_path()
    loaded = load_model("default", device="cpu")
    assert loaded.arch == "two_stage"
    assert loaded.sha256.startswith(path.stem.removeprefix("default-"))
    assert loaded.info["training"]["steps"] > 0


def test_denoise_image_changes_values_but_not_dtype_or_shape(tiny_checkpoint):
    stored = np.random.default_rng(3).integers(0, 4096, (10, 9, 11)).astype(np.uint16)
    image = MedicalImage.from_array(stored, modality="MR")
    calls = []
    out, stats = denoise(
        image,
        model=tiny_checkpoint,
        device="cpu",
        tile=8,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert out.pixels.dtype == np.uint16
    assert out.shape == image.shape
    assert not np.array_equal(out.pixels, stored)
    assert calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert stats.clipped == 0


def test_denoise_file_writes_once_and_never_touches_the_input(tiny_checkpoint, nifti, tmp_path):
    before = nifti.read_bytes()
    out = tmp_path / "out.nii.gz"
    result = denoise_file(nifti, out, model=tiny_checkpoint, device="cpu")
    assert result.output == out
    assert result.slices == 3
    assert result.seconds >= result.model_seconds > 0
    written = nib.load(out)
    assert written.get_data_dtype() == np.int16
    assert written.shape == (20, 16, 3)
    np.testing.assert_allclose(written.affine, nib.load(nifti).affine)
    with pytest.raises(InputError, match="already exists"):
        denoise_file(nifti, out, model=tiny_checkpoint, device="cpu")
    with pytest.raises(InputError, match="over the input"):
        denoise_file(nifti, nifti, model=tiny_checkpoint, device="cpu", overwrite=True)
    assert nifti.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nii.gz", "out.nii.gz"]
