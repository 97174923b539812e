"""(N, L, C) transformer tokens recorded as (N, C, H, W) maps: the extra tokens dropped, the
patch tokens on their grid, checked against mmpretrain's own ``out_type='featmap'``."""
import re

import pytest
import torch
from mmpretrain.models import DistilledVisionTransformer, SwinTransformer, VisionTransformer
from torch import nn

from rkd.models.recorders import ModuleRecorder, RecorderGroup

ARCH = dict(embed_dims=16, num_layers=3, num_heads=2, feedforward_channels=32)


def vit(cls=VisionTransformer, **kwargs) -> nn.Module:
    """A 3-layer ViT on 32 px images in 8 px patches (a 4 x 4 grid), returning layer 1 as
    mmpretrain's own feature map."""
    model = cls(arch=ARCH, img_size=32, patch_size=8, out_indices=(1, ), out_type='featmap',
                **kwargs)
    model.eval()  # mmpretrain's ViT.train() returns None
    return model


def record(model: nn.Module, x: torch.Tensor, *recorders) -> list:
    with RecorderGroup(list(recorders), network='the student').bind(model).recording() as rec:
        out = model(x)
        return [out, *rec.features()]


@pytest.mark.parametrize('cls,extra', [(VisionTransformer, 1), (DistilledVisionTransformer, 2)])
def test_extra_tokens_are_dropped_and_the_grid_read_from_the_model(cls, extra):
    model = vit(cls)
    assert model.num_extra_tokens == extra  # class token (+ DeiT's distillation token)
    (expected, ), feat = record(model, torch.randn(2, 3, 32, 32), 'layers.1')
    assert feat.shape == (2, 16, 4, 4)
    torch.testing.assert_close(feat, expected, rtol=0, atol=0)


def test_an_input_size_other_than_the_models_uses_the_grid_of_that_forward():
    model = vit()  # nominal grid 4 x 4; a 48 x 32 input makes 6 x 4 patches
    (expected, ), feat = record(model, torch.randn(2, 3, 48, 32), 'layers.1')
    assert feat.shape == (2, 16, 6, 4)
    torch.testing.assert_close(feat, expected, rtol=0, atol=0)


def test_a_network_without_a_class_token_has_no_extra_token():
    model = vit(with_cls_token=False)
    assert model.num_extra_tokens == 0
    (expected, ), feat = record(model, torch.randn(1, 3, 32, 32), 'layers.1')
    torch.testing.assert_close(feat, expected, rtol=0, atol=0)


class Tokens(nn.Module):
    """Returns its input: (N, L, C) tokens with no patch embedding to read a grid from."""

    def forward(self, x):
        return x


class Owner(nn.Module):
    """Keeps a nominal ``patch_resolution`` and one extra token, as mmpretrain's ViTs, but has
    no patch embedding that would tell the grid of each forward."""
    patch_resolution = (2, 8)
    num_extra_tokens = 1

    def __init__(self) -> None:
        super().__init__()
        self.block = Tokens()

    def forward(self, x):
        return self.block(x)


def test_the_nominal_grid_then_a_square():
    tokens = torch.arange(2 * 17 * 3, dtype=torch.float).reshape(2, 17, 3)
    _, feat = record(Owner(), tokens, 'block')
    assert feat.shape == (2, 3, 2, 8)  # the nominal grid, not the square 4 x 4
    # patch (i, j) is token 1 + 8 i + j, the class token dropped
    torch.testing.assert_close(feat[:, :, 1, 2], tokens[:, 1 + 8 + 2])
    _, feat = record(Owner(), torch.randn(2, 1 + 36, 3), 'block')
    assert feat.shape == (2, 3, 6, 6)  # another input size: the nominal grid does not fit


def test_an_explicit_grid_and_extra_tokens():
    tokens = torch.randn(2, 2 + 12, 5)
    _, feat = record(Tokens(), tokens, dict(source='', grid=(3, 4), extra_tokens=2))
    assert feat.shape == (2, 5, 3, 4)
    torch.testing.assert_close(feat.flatten(2).transpose(1, 2), tokens[:, 2:])
    # the explicit grid wins over the model's
    _, feat = record(Owner(), torch.randn(1, 17, 3), dict(source='block', grid=(4, 4)))
    assert feat.shape == (1, 3, 4, 4)


def test_swin_grids_travel_with_the_tokens():
    model = SwinTransformer(arch=dict(embed_dims=8, depths=[2, 2], num_heads=[2, 2]),
                            img_size=32, window_size=2, out_indices=(1, ))
    model.eval()
    x = torch.randn(1, 3, 32, 64)  # not the nominal size, not square: stage 1 is 4 x 8
    # a stage returns (tokens, (H, W)); a block is called with (tokens, (H, W))
    (out, ), stage, block = record(model, x, 'stages.1', 'stages.0.blocks.1')
    assert stage.shape == (1, 16, 4, 8) and block.shape == (1, 8, 8, 16)
    torch.testing.assert_close(model.norm1(stage.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), out)
    # the last stage's norm gets its tokens alone: on a square input, a square grid
    (out, ), norm = record(model, torch.randn(1, 3, 32, 32), 'norm1')
    torch.testing.assert_close(norm, out, rtol=0, atol=0)
    with pytest.raises(ValueError, match=re.escape(
            "32 patch tokens remain, which fit none of the grids tried: (8, 16) (this forward's "
            'patch embedding), (8, 8) (patch_resolution), (5, 5) (square)')):
        record(model, x, 'norm1')


def test_bad_token_shapes_say_what_to_set():
    with pytest.raises(ValueError) as error:
        record(Tokens(), torch.randn(2, 17, 3), '')
    message = str(error.value)
    assert message.startswith('In the student (Tokens): Recorder "" recorded tokens of shape '
                              '(2, 17, 3)')
    assert 'no module at or above it has a patch embedding' in message
    assert "dict(source='', grid=(4, 4), extra_tokens=1)" in message
    with pytest.raises(ValueError, match=r'grid=\(3, 3\) holds 9 patches, but 17 tokens less 1 '
                                         r'extra leave 16'):
        record(Owner(), torch.randn(2, 17, 3), dict(source='block', grid=(3, 3)))
    with pytest.raises(ValueError, match=re.escape(
            'less 1 extra token(s) (those of the model (Owner)), 14 patch tokens remain, which '
            'fit none of the grids tried: (2, 8) (patch_resolution), (3, 3) (square). Set '
            'grid=(H, W) with H x W = 14 on the recorder')):
        record(Owner(), torch.randn(2, 15, 3), 'block')
    with pytest.raises(ValueError, match='no more than its 2 extra'):
        record(Tokens(), torch.randn(2, 2, 3), dict(source='', extra_tokens=2))


def test_other_shapes_name_the_recorder_the_network_and_what_to_do():
    with pytest.raises(ValueError) as error:
        record(Tokens(), torch.randn(2, 3, 4, 4, 4), '')
    message = str(error.value)
    assert message.startswith('In the student (Tokens): Recorder "" recorded a tensor of shape '
                              '(2, 3, 4, 4, 4)')
    assert 'list_features.py' in message and '(N, L, C) tokens' in message


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match='grid must be'):
        ModuleRecorder('x', grid=(4, ))
    with pytest.raises(ValueError, match='grid must be'):
        ModuleRecorder('x', grid=(0, 4))
    with pytest.raises(ValueError, match='extra_tokens must be'):
        ModuleRecorder('x', extra_tokens=-1)


def test_mmseg_vit_class_token_on_a_non_square_crop():
    """mmseg's ViT says ``with_cls_token`` instead of ``num_extra_tokens``; segmentation crops
    are often not square (Cityscapes' 512 x 1024)."""
    from mmseg.models.backbones import VisionTransformer as SegViT
    model = SegViT(img_size=(32, 32), patch_size=8, embed_dims=16, num_layers=2, num_heads=2,
                   mlp_ratio=2, out_indices=(0, ), final_norm=False)
    model.eval()
    assert model.with_cls_token
    (expected, ), feat = record(model, torch.randn(1, 3, 32, 64), 'layers.0')
    assert feat.shape == (1, 16, 4, 8)
    torch.testing.assert_close(feat, expected, rtol=0, atol=0)


@pytest.mark.parametrize('length,layout', [(196, ((14, 14), 0)), (197, ((14, 14), 1)),
                                           (198, ((14, 14), 2)), (50, ((7, 7), 1)), (7, None)])
def test_tokens_without_a_patch_embedding_read_as_extra_tokens_before_a_square(length, layout):
    """What 'auto' writes on the recorder of a transformer whose grid no module says (TNT)."""
    from rkd.models.recorders.tokens import square_layout
    assert square_layout(length) == layout
