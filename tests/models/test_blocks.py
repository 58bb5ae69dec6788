import pytest
import torch

from meddenoise.models.blocks import RRDB, GatedTrunk, NoiseAttention, ResidualDenseBlock


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_block_parameter_counts_match_design():
    assert n_params(ResidualDenseBlock()) == 31_168
    assert n_params(RRDB()) == 93_504
    assert n_params(GatedTrunk()) == 283_584
    assert n_params(NoiseAttention()) == 18_594


def test_dense_block_channels_grow_by_eight():
    block = ResidualDenseBlock()
    assert [c.in_channels for c in block.convs] == [32, 40, 48, 56]
    assert all(c.out_channels == 8 for c in block.convs)
    assert (block.fuse.in_channels, block.fuse.out_channels) == (64, 32)


@pytest.mark.parametrize("shape", [(1, 32, 1, 1), (2, 32, 7, 3), (1, 32, 19, 23)])
def test_blocks_keep_the_spatial_size(shape):
    x = torch.randn(shape)
    assert GatedTrunk()(x).shape == x.shape
    assert NoiseAttention()(x, torch.randn(shape)).shape == x.shape


def test_rdb_with_zero_fuse_is_identity():
    block = ResidualDenseBlock()
    torch.nn.init.zeros_(block.fuse.weight)
    torch.nn.init.zeros_(block.fuse.bias)
    x = torch.randn(1, 32, 6, 6)
    torch.testing.assert_close(block(x), x)


def test_residual_scaling_is_point_two():
    block = ResidualDenseBlock()
    torch.nn.init.zeros_(block.fuse.weight)
    torch.nn.init.constant_(block.fuse.bias, 1.0)
    x = torch.zeros(1, 32, 4, 4)
    torch.testing.assert_close(block(x), torch.full_like(x, 0.2))


def test_attention_weights_lie_between_zero_and_image_features():
    nob = NoiseAttention()
    image, noise = torch.randn(1, 32, 9, 9), torch.randn(1, 32, 9, 9)
    out = nob(image, noise)
    refined = nob.image_conv(image)
    ratio = out / refined
    assert torch.all(ratio > 0)
    assert torch.all(ratio < 1)
    # the ratio is one attention value per pixel, shared by all channels
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
