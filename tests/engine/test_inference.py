import pytest
import torch

from meddenoise.engine.inference import TilingConfig, denoise_tensor
from meddenoise.engine.precision import resolve_precision
from meddenoise.errors import InputError
from meddenoise.models import build_model


def _model(arch="two_stage", **config):
    torch.manual_seed(0)
    return build_model(arch, **config).eval()


def _untiled(model, x):
    with torch.inference_mode():
        return model(x).clean.clamp(0, 1)


@pytest.mark.parametrize(
    ("shape", "tile", "batch"),
    [
        ((2, 3, 300, 517), 96, 3),
        ((1, 3, 40, 60), 512, 1),
        ((1, 3, 1, 1), 64, 2),
        ((1, 3, 1, 97), 16, 4),
    ],
)
def test_tiled_equals_untiled_in_fp32(shape, tile, batch):
    model = _model(depth=1)  # receptive radius 34: quick, same tiling logic
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    tiled = denoise_tensor(model, x, config=TilingConfig(tile=tile, batch_size=batch))
    assert tiled.shape == x.shape
    assert (tiled - _untiled(model, x)).abs().max().item() <= 1e-4


def test_full_model_with_its_receptive_radius_as_margin():
    """The margin defaults to the radius (94, proved exact in tests/models); no margin fails."""
    model = _model()
    x = torch.rand((1, 3, 130, 211), generator=torch.Generator().manual_seed(2)) * 0.5 + 0.25
    ref = _untiled(model, x)
    tiled = denoise_tensor(model, x, config=TilingConfig(tile=48, batch_size=4))
    assert (tiled - ref).abs().max().item() <= 1e-4
    seams = denoise_tensor(model, x, config=TilingConfig(tile=48, margin=0, batch_size=4))
    assert (seams - ref).abs().max().item() > 1e-2  # the comparison can fail


def test_progress_counts_tiles_and_output_is_on_the_output_device():
    model = _model("nen", depth=1)
    calls = []
    x = torch.rand((3, 3, 50, 50))
    out = denoise_tensor(
        model,
        x,
        config=TilingConfig(tile=25, batch_size=5),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(5, 12), (10, 12), (12, 12)]
    assert out.device.type == "cpu"
    assert out.dtype == torch.float32
    assert out.min() >= 0
    assert out.max() <= 1


def test_bad_arguments():
    model = _model("nen", depth=1)
    with pytest.raises(InputError):
        denoise_tensor(model, torch.rand(3, 8, 8))
    with pytest.raises(InputError):
        TilingConfig(tile=0)
    with pytest.raises(InputError, match="precision"):
        resolve_precision("fp8", torch.device("cpu"))
    with pytest.raises(InputError, match="CPU"):
        resolve_precision("fp16", torch.device("cpu"))
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("BF16", torch.device("cpu")) == "bf16"
