"""The channels_last memory format for a whole distillation (``model.channels_last=True``).

A convolution whose weight is channels_last writes a channels_last map, and the element-wise
layers after it keep that layout, so converting the networks' 4-D weights once (and each batch,
which is only the first layer's input) is enough for every convolution of a step to run on
(N, H, W, C)-ordered maps, which oneDNN's CPU kernels and GPU tensor cores prefer. The values
are the same up to float rounding. Checkpoints need nothing either: ``load_state_dict`` copies
values into a model's own tensors whatever the strides of the saved ones, so a student saved
from a channels_last run loads into the plain, contiguous task model.
"""
import traceback
from contextlib import contextmanager
from typing import Any, Iterator, List

import torch
from torch import nn

LOGGED_CHANNELS_LAST = (
    'model.channels_last=True: the student, the teacher and the connector hold their 4-D '
    'weights in channels_last and each batch is converted to it (the same values up to float '
    'rounding; checkpoints load into contiguous models).')
# oneDNN's x64 CPU kernel for the weight gradient of a strided 1x1 convolution on channels_last
# maps writes past its workspace when the convolution has fewer input channels (per group) than
# its channel block, 8 with AVX2 and 16 with AVX-512: heap corruption, a hang or wrong gradients
# (uxlfoundation/oneDNN#6035, open; seen with torch 2.14.1 on AVX2 for 2 to 7 channels).
ONEDNN_CHANNEL_BLOCK = 16


def unsafe_strided_1x1_convs(model: nn.Module) -> List[str]:
    """The trained convolutions of ``model`` that oneDNN's CPU kernel mis-differentiates on
    channels_last maps (see :data:`ONEDNN_CHANNEL_BLOCK`)."""
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.weight.requires_grad
            and tuple(m.kernel_size) == (1, 1) and max(m.stride) > 1
            and m.in_channels // m.groups < ONEDNN_CHANNEL_BLOCK]


def check_channels_last(model: nn.Module) -> None:
    """Refuse ``model.channels_last`` for a distillation with a trained convolution that
    oneDNN's CPU kernels would corrupt memory on (:func:`unsafe_strided_1x1_convs`); GPUs do not
    run them, and the frozen teacher needs no weight gradient."""
    unsafe = unsafe_strided_1x1_convs(model)
    if unsafe and not torch.cuda.is_available():
        raise ValueError(
            f'model.channels_last=True cannot train this model on a CPU: its strided 1x1 '
            f'convolution(s) {unsafe[:3]} have fewer than {ONEDNN_CHANNEL_BLOCK} input '
            'channels, and oneDNN\'s CPU kernel for their weight gradient on channels_last maps '
            'corrupts memory (uxlfoundation/oneDNN#6035). Set model.channels_last=False.')


# What torch says of a ``.view`` of a channels_last map as a contiguous one, and what ops that
# take contiguous maps only say (mmcv's DeformConv2d: "input must be contiguous").
LAYOUT_ERRORS = ('view size is not compatible', 'must be contiguous')


@contextmanager
def explained_layout_errors() -> Iterator[None]:
    """Inside the block, an error of a layer that needs a contiguous map (:data:`LAYOUT_ERRORS`)
    is re-raised saying which line it came from and how to turn channels_last off. The error
    may be the cause of another (a build probe's report): the first one raised is read."""
    try:
        yield
    except RuntimeError as raised:
        error = raised
        while error.__cause__ is not None:
            error = error.__cause__
        if not any(text in str(error) for text in LAYOUT_ERRORS):
            raise
        where = traceback.extract_tb(error.__traceback__)[-1]
        source = where.filename.split('site-packages/')[-1]  # e.g. mmdet/models/...
        raise RuntimeError(
            f'model.channels_last=True: this model does not run in channels_last: '
            f'{source}:{where.lineno} needs a contiguous map ({error}). '
            'Set model.channels_last=False.') from error


def channels_last_batch(inputs: Any) -> Any:
    """``inputs`` in channels_last when it is a batch of images (N, C, H, W); anything else
    (a batch of point clouds, a list of images of different sizes) as it is."""
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs
