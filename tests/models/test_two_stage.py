import pytest
import torch

from meddenoise.errors import InputError
from meddenoise.models import build_model
from meddenoise.models.base import DenoiserOutput
from meddenoise.models.two_stage import TwoStageDenoiser


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_reproduce_the_paper():
    net = TwoStageDenoiser()
    assert n_params(net.nen) == 283_776
    assert n_params(net.rn) == 302_466
    assert n_params(net) == 586_242


def test_variant_parameter_counts():
    assert n_params(build_model("nen")) == 283_776
    # twn lacks only the attention block (18,594 parameters)
    assert n_params(build_model("twn")) == 586_242 - 18_594


def test_forward_256_on_device_returns_noise_and_clean(device):
    net = TwoStageDenoiser().to(device).eval()
    x = torch.rand(1, 3, 256, 256, device=device)
    with torch.inference_mode():
        out = net(x)
    assert isinstance(out, DenoiserOutput)
    assert out.noise.shape == out.clean.shape == (1, 3, 256, 256)
    assert torch.isfinite(out.clean).all()
    assert out.clean.device.type == device


@pytest.mark.parametrize("arch", ["nen", "twn", "two_stage"])
@pytest.mark.parametrize("hw", [(1, 1), (1, 9), (5, 7), (33, 17)])
def test_any_size_works(arch, hw):
    net = build_model(arch).eval()
    with torch.inference_mode():
        out = net(torch.rand(2, 3, *hw))
    assert out.clean.shape == (2, 3, *hw)


def test_outputs_compose_as_documented():
    torch.manual_seed(0)
    net = TwoStageDenoiser().eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        out = net(x)
        noise = net.nen.estimate_noise(x)
        correction = net.rn(x, noise)
    torch.testing.assert_close(out.noise, noise)
    torch.testing.assert_close(out.clean, x - noise + correction)

    nen = build_model("nen").eval()
    with torch.inference_mode():
        nen_out = nen(x)
    torch.testing.assert_close(nen_out.clean, x - nen_out.noise)


@pytest.mark.parametrize("arch", ["two_stage", "twn"])
def test_stage_two_may_refine_the_estimate_instead_of_the_noisy_image(arch):
    torch.manual_seed(0)
    net = build_model(arch, stage_two_input="estimate").eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        out = net(x)
        noise = net.nen.estimate_noise(x)
        correction = net.rn(x - noise, noise)
        other = net.rn(x, noise)
    torch.testing.assert_close(out.clean, x - noise + correction)
    assert not torch.allclose(correction, other)  # stage II does see another image
    # same weights as the default wiring: only the config records the difference
    assert n_params(net) == n_params(build_model(arch))
    assert net.config["stage_two_input"] == "estimate"


def test_the_default_wiring_leaves_the_config_as_before():
    """Checkpoints written before the option rebuild with the same config."""
    assert "stage_two_input" not in TwoStageDenoiser().config
    assert "stage_two_input" not in TwoStageDenoiser(stage_two_input="noisy").config


def test_an_unknown_stage_two_input_is_refused():
    with pytest.raises(InputError, match="stage_two_input must be one of noisy, estimate"):
        build_model("two_stage", stage_two_input="clean")


def test_both_stages_receive_gradients():
    net = TwoStageDenoiser()
    out = net(torch.rand(2, 3, 12, 12))
    (out.noise.pow(2).mean() + out.clean.abs().mean()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
    assert net.nen.head.weight.grad.abs().sum() > 0
    assert net.rn.attention.spatial.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("arch", "radius"), [("nen", 45), ("twn", 90), ("two_stage", 94)])
def test_receptive_radius_is_exact(arch, radius):
    """The centre output depends on inputs up to `radius` pixels away and no further.

    Measured on the gradient (the Jacobian's support) in float64: differences of outputs
    would lose the far, tiny contributions to cancellation.
    """
    torch.manual_seed(1)
    net = build_model(arch).double().eval()
    assert net.receptive_radius == radius
    size = 2 * radius + 11
    centre = size // 2
    x = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    net(x).clean[..., centre, centre].sum().backward()
    support = x.grad.abs().amax(dim=(0, 1)) > 0
    rows = torch.nonzero(support.any(dim=1)).flatten()
    cols = torch.nonzero(support.any(dim=0)).flatten()
    assert (int(rows.min()), int(rows.max())) == (centre - radius, centre + radius)
    assert (int(cols.min()), int(cols.max())) == (centre - radius, centre + radius)
