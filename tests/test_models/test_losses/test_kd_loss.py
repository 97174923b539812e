"""KDLoss: Hinton's softened KL divergence, refused settings."""
import pytest
import torch
import torch.nn.functional as F

from rkd.models.losses import KDLoss


def test_kd_is_the_softened_kl_times_t_squared():
    student, teacher = torch.randn(4, 10), torch.randn(4, 10)
    t = 4.0
    q = F.softmax(teacher / t, dim=1)
    expected = (q * (q.log() - F.log_softmax(student / t, dim=1))).sum(1).mean() * t * t
    torch.testing.assert_close(KDLoss(temperature=t, loss_weight=0.5)(student, teacher),
                               0.5 * expected)
    assert KDLoss()(teacher, teacher).abs() < 1e-6


def test_kd_reads_1x1_maps_and_refuses_other_shapes():
    logits = torch.randn(2, 5)
    torch.testing.assert_close(KDLoss()(logits[..., None, None], logits), torch.tensor(0.0))
    with pytest.raises(ValueError, match=r'\(2, 5\) vs teacher logits of shape \(2, 6\)'):
        KDLoss()(logits, torch.randn(2, 6))


@pytest.mark.parametrize('kwargs', [dict(temperature=0), dict(loss_weight=-1.0),
                                    dict(loss_weight=float('nan'))])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match='KDLoss'):
        KDLoss(**kwargs)
