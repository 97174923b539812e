"""The teacher's own normalisation, computed from the student's normalised batch.

Both networks start from one raw batch, which the student's data preprocessor turns into
``x_s = (flip_s(raw) - mean_s) / std_s``, padded with ``pad_s``. A teacher trained with another
mean, std or channel order (mmdet's caffe-style ResNets: BGR, std 1) expects
``x_t = (flip_t(raw) - mean_t) / std_t``, padded with ``pad_t``. Per channel that is an affine
map of ``x_s`` after a channel flip when the two orders differ, so no second data pipeline is
needed; padded pixels (outside each sample's ``img_shape``, right and bottom as all OpenMMLab
preprocessors pad) are set to ``pad_t``, which the teacher's own preprocessor would write.
"""
from typing import NamedTuple, Optional, Sequence

import torch
from torch import nn


class Normalization(NamedTuple):
    """What a data preprocessor does to pixel values, in the channel order it outputs."""
    mean: torch.Tensor
    std: torch.Tensor
    flips_channels: bool
    pad_value: float

    def agrees_with(self, other: 'Normalization') -> bool:
        return (self.flips_channels == other.flips_channels and self.pad_value == other.pad_value
                and self.mean.shape == other.mean.shape and torch.equal(self.mean, other.mean)
                and torch.equal(self.std, other.std))


def normalization_of(preprocessor: nn.Module) -> Normalization:
    """Read the normalisation of an mmengine, mmpretrain, mmdet or mmseg data preprocessor
    (the attribute names differ slightly between them); none at all for a bare one."""
    if getattr(preprocessor, '_enable_normalize', False):
        mean = preprocessor.mean.detach().flatten().double().cpu()
        std = preprocessor.std.detach().flatten().double().cpu()
    else:
        mean, std = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    flips = any(getattr(preprocessor, name, False)
                for name in ('_channel_conversion', 'channel_conversion', 'to_rgb'))
    pad_value = getattr(preprocessor, 'pad_value', getattr(preprocessor, 'pad_val', 0))
    return Normalization(mean, std, bool(flips), float(pad_value))


class TeacherRenormalizer(nn.Module):
    """Maps the student's normalised, padded batch to the teacher's normalisation.

    Build it with :meth:`between`, which gives None when the two preprocessors agree (the
    teacher then takes the student's batch as it is, at no cost).
    """

    def __init__(self, student: Normalization, teacher: Normalization) -> None:
        super().__init__()
        channels = max(len(student.mean), len(teacher.mean))
        # Student channel feeding each teacher channel: reversed when exactly one side
        # converts BGR <-> RGB (both preprocessors do so for 3-channel images only).
        self.flip = student.flips_channels != teacher.flips_channels and channels == 3
        s_mean, s_std = (v.expand(channels) for v in (student.mean, student.std))
        t_mean, t_std = (v.expand(channels) for v in (teacher.mean, teacher.std))
        if self.flip:
            s_mean, s_std = s_mean.flip(0), s_std.flip(0)
        # x_t = (x_s * std_s + mean_s - mean_t) / std_t, in float64 then stored as float32
        self.register_buffer('scale', (s_std / t_std).float().view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer('shift', ((s_mean - t_mean) / t_std).float().view(1, -1, 1, 1),
                             persistent=False)
        self.pad_value = teacher.pad_value

    @classmethod
    def between(cls, student_preprocessor: nn.Module,
                teacher_preprocessor: nn.Module) -> Optional['TeacherRenormalizer']:
        student = normalization_of(student_preprocessor)
        teacher = normalization_of(teacher_preprocessor)
        return None if student.agrees_with(teacher) else cls(student, teacher)

    def extra_repr(self) -> str:
        return (f'flip={self.flip}, scale={self.scale.flatten().tolist()}, '
                f'shift={self.shift.flatten().tolist()}, pad_value={self.pad_value}')

    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[Sequence] = None) -> torch.Tensor:
        """The teacher's view of ``inputs``; ``data_samples`` give the unpadded ``img_shape``
        of each image (without them, or without that key, no pixel counts as padding)."""
        if self.flip:
            inputs = inputs.flip(1)
        out = torch.addcmul(self.shift.to(inputs.dtype), inputs, self.scale.to(inputs.dtype))
        height, width = out.shape[-2:]
        for image, sample in zip(out, data_samples or ()):
            img_shape = sample.metainfo.get('img_shape') if hasattr(sample, 'metainfo') else None
            if img_shape is None:
                continue
            h, w = img_shape[:2]
            if h < height:
                image[:, h:, :] = self.pad_value
            if w < width:
                image[:, :, w:] = self.pad_value
        return out
