"""ReviewKDDistiller: the ReviewKD loss, each level's share, extra named losses."""
import pytest
import torch

from rkd.models.algorithms.synthetic_batch import synthetic_samples
from rkd.models.losses import KDLoss
from rkd.registry import MODELS

from helpers import reviewkd_algorithm


def kd_algorithm(**extra):
    return reviewkd_algorithm(extra_losses=dict(
        loss_kd=dict(type='rkd.KDLoss', temperature=2.0, student='head.fc',
                     teacher='head.fc', **extra)))


def test_levels_add_up_to_the_reviewkd_loss(mmpretrain_scope):
    algorithm = MODELS.build(reviewkd_algorithm(warmup=dict(length=4, by_epoch=False)))
    inputs, samples = torch.randn(2, 3, 16, 16), synthetic_samples(algorithm.student, 2, (16, 16))
    losses = algorithm.loss(inputs, samples)
    levels = [losses[f'reviewkd_level{i}'] for i in range(5)]
    torch.testing.assert_close(torch.stack(levels).sum(), losses['loss_reviewkd'].detach())
    assert not any(level.requires_grad for level in levels)
    assert 'loss_student' in losses and 'loss' not in losses


def test_an_extra_logit_loss_reads_both_heads(mmpretrain_scope):
    algorithm = MODELS.build(kd_algorithm())
    inputs, samples = torch.randn(2, 3, 16, 16), synthetic_samples(algorithm.student, 2, (16, 16))
    losses = algorithm.loss(inputs, samples)
    with torch.no_grad():
        expected = KDLoss(temperature=2.0)(algorithm.student(inputs, mode='tensor'),
                                           algorithm.teacher(inputs, mode='tensor'))
    torch.testing.assert_close(losses['loss_kd'].detach(), expected)
    assert len(algorithm.distiller.connector.student_channels) == 5  # the logits are no level
    losses['loss_kd'].backward()
    assert algorithm.student.head.fc.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('extra_losses, message', [
    (dict(kd=dict(type='rkd.KDLoss', student='head.fc', teacher='head.fc')), 'must contain'),
    (dict(loss_kd=dict(type='rkd.KDLoss', student='head.fc')),
     r"extra_losses\['loss_kd'\] needs the recorder of each network it reads: \['teacher'\] "
     r"missing"),
    # the neck pools each stage: a tuple of 4, which once became 4 more ReviewKD levels
    (dict(loss_kd=dict(type='rkd.KDLoss', student='neck', teacher='head.fc')),
     r'extra_losses\[\'loss_kd\'\] reads recorder "neck" of the student, which yields 4 '
     r'feature maps .* element=, e\.g\. dict\(source=\'neck\', element=-1\)'),
])
def test_bad_extra_losses_are_refused(mmpretrain_scope, extra_losses, message):
    with pytest.raises(ValueError, match=message):
        MODELS.build(reviewkd_algorithm(extra_losses=extra_losses))


def test_the_name_of_the_total_is_reserved(mmpretrain_scope):
    # once: the logged `loss` showed the distillation loss (0.0000 in warm-up), not the total
    with pytest.raises(ValueError, match='Loss name "loss" is mmengine\'s'):
        MODELS.build(reviewkd_algorithm(loss_name='loss'))


def test_the_log_shows_the_true_total(mmpretrain_scope):
    """mmengine logs the trained total under ``loss``; the student's own ``loss`` is renamed."""
    from mmengine.optim import OptimWrapper
    algorithm = MODELS.build(kd_algorithm())
    optim = OptimWrapper(torch.optim.SGD(algorithm.parameters(), lr=0.0))
    samples = synthetic_samples(algorithm.student, 2, (16, 16))
    log = algorithm.train_step(dict(inputs=[torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8)
                                            for _ in range(2)], data_samples=samples), optim)
    trained = log['loss_student'] + log['loss_reviewkd'] + log['loss_kd']
    torch.testing.assert_close(log['loss'], trained)
    assert log['loss'] > log['loss_student']


def test_each_branch_of_a_multi_branch_student_is_taught_by_the_teacher():
    # TridentNet trains 3 branches on each image, stacked along the batch branch after branch;
    # the teacher (eval mode) runs one
    from rkd.models.recorders import RecordedFeatures
    distiller = MODELS.build(dict(type='rkd.ReviewKDDistiller', student_recorders=['a', 'b'],
                                  teacher_recorders=['a', 'b'], loss=dict(type='rkd.HCLoss')))
    student = RecordedFeatures([torch.randn(6, 4, 8, 8), torch.randn(6, 8, 4, 4)], {})
    teacher = RecordedFeatures([torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)], {})
    distiller.prepare(student, teacher)
    repeated = RecordedFeatures([t.repeat(3, 1, 1, 1) for t in teacher], {})
    torch.testing.assert_close(distiller(student, teacher)['loss_reviewkd'],
                               distiller(student, repeated)['loss_reviewkd'])
    with pytest.raises(ValueError, match=r'student feature of shape \(5, 4, 8, 8\) vs teacher '
                       r'feature of shape \(2, 4, 8, 8\)'):
        distiller(RecordedFeatures([s[:5] for s in student], {}), teacher)
