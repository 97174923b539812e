"""Logit distillation (Hinton et al., "Distilling the Knowledge in a Neural Network", 2015)."""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rkd.registry import MODELS


@MODELS.register_module()
class KDLoss(nn.Module):
    """KL divergence of the teacher's from the student's class distribution, both softened by
    ``temperature``, times ``temperature ** 2`` (the gradients keep their scale as it changes).

    It reads a recorded head output: ``(N, num_classes)`` logits, or an ``(N, C, 1, 1)`` map.

    Args:
        temperature: Softening temperature, > 0.
        loss_weight: Factor of the loss: finite, not negative.
    """

    def __init__(self, temperature: float = 4.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f'KDLoss temperature must be > 0, got {temperature!r}')
        if not (math.isfinite(loss_weight) and loss_weight >= 0):
            raise ValueError(f'KDLoss loss_weight must be finite and >= 0, got {loss_weight!r}')
        self.temperature = float(temperature)
        self.loss_weight = float(loss_weight)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        student_logits, teacher_logits = student_logits.flatten(1), teacher_logits.flatten(1)
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                f'KDLoss: student logits of shape {tuple(student_logits.shape)} vs teacher logits '
                f'of shape {tuple(teacher_logits.shape)}. It compares the two class '
                'distributions, so both heads must predict the same classes: give them the same '
                'num_classes, or distil the classes they share with a loss of your own.')
        t = self.temperature
        with torch.autocast(device_type=student_logits.device.type, enabled=False):
            log_p = F.log_softmax(student_logits.float() / t, dim=1)
            q = F.softmax(teacher_logits.detach().float() / t, dim=1)
            loss = F.kl_div(log_p, q, reduction='batchmean') * t * t
        return self.loss_weight * loss
