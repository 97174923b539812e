"""Options of a distillation config: inline student/teacher overrides, trainability checks, a
distiller of one's own."""
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from rkd.models.algorithms.synthetic_batch import synthetic_samples
from rkd.models.distillers import BaseDistiller
from rkd.registry import MODELS

from helpers import reviewkd_algorithm

WARNING = 'rkd.models.algorithms.single_teacher_distill.print_log'


def test_student_and_teacher_fields_change_inline(mmpretrain_scope):
    cfg = reviewkd_algorithm()
    cfg['student_overrides'] = dict(head=dict(num_classes=7),
                                    data_preprocessor=dict(num_classes=7))
    cfg['teacher'] = dict(cfg['teacher'], overrides=dict(head=dict(num_classes=7)))
    algorithm = MODELS.build(cfg)
    assert algorithm.student.head.fc.out_features == 7
    assert algorithm.teacher.head.fc.out_features == 7
    assert algorithm.student.backbone.layer1[0].conv1.out_channels == 4  # the rest as it was


def test_overrides_replace_a_field_with_delete(mmpretrain_scope):
    cfg = reviewkd_algorithm()
    cfg['student_overrides'] = dict(
        head=dict(_delete_=True, type='LinearClsHead', num_classes=4, in_channels=32,
                  loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1)))
    head = MODELS.build(cfg).student.head
    assert type(head.loss_module).__name__ == 'LabelSmoothLoss'


def test_a_frozen_student_warns_and_nothing_trainable_is_refused(mmpretrain_scope):
    algorithm = MODELS.build(reviewkd_algorithm())
    with mock.patch(WARNING) as warn:
        algorithm._check_trainable()
    warn.assert_not_called()
    algorithm.student.requires_grad_(False)
    with mock.patch(WARNING) as warn:
        algorithm._check_trainable()
    assert 'The student has no trainable parameter' in warn.call_args.args[0]
    algorithm.requires_grad_(False)
    with pytest.raises(ValueError, match='Nothing in the distillation model is trainable'):
        algorithm._check_trainable()


@MODELS.register_module(name='ToyDistiller', force=True)
class ToyDistiller(BaseDistiller):
    """A distiller of one's own: a linear map of the pooled embeddings, MSE."""

    def prepare(self, student_feats, teacher_feats):
        self.proj = torch.nn.Linear(student_feats[0].shape[1], teacher_feats[0].shape[1])

    def forward(self, student_feats, teacher_feats):
        student, teacher = student_feats[0].flatten(1), teacher_feats[0].flatten(1)
        return dict(loss_toy=F.mse_loss(self.proj(student), teacher))


def test_a_registered_distiller_plugs_in_and_trains(mmpretrain_scope):
    cfg = reviewkd_algorithm()
    embedding = dict(source='neck', element=-1)
    cfg['distiller'] = dict(type='rkd.ToyDistiller', student_recorders=[embedding],
                            teacher_recorders=[embedding])
    algorithm = MODELS.build(cfg)
    before = algorithm.distiller.proj.weight.clone()
    optim = OptimWrapper(torch.optim.SGD(algorithm.parameters(), lr=0.1))
    data = dict(inputs=[torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8)] * 2,
                data_samples=synthetic_samples(algorithm.student, 2, (16, 16)))
    log = algorithm.train_step(data, optim)
    assert set(log) == {'loss', 'loss_student', 'loss_toy'}
    assert not torch.equal(algorithm.distiller.proj.weight, before)


@pytest.mark.parametrize('shape, message', [
    ((1, 16, 16), r'has 1 channels, but the student\'s data preprocessor normalises 3: set '
                  r'probe_input_shape=\(3, 16, 16\)'),
    ((16, 16), r'must be \(C, H, W\)'),
])
def test_a_probe_shape_that_does_not_fit_is_refused(mmpretrain_scope, shape, message):
    with pytest.raises(ValueError, match=message):
        MODELS.build(dict(reviewkd_algorithm(), probe_input_shape=shape))


def test_a_teacher_checkpoint_of_another_network_names_the_teacher(mmpretrain_scope, tmp_path):
    from mmengine.runner import save_checkpoint

    from rkd.checkpoint import CheckpointLoadError

    from helpers import tiny_classifier
    other = MODELS.build(tiny_classifier(base_channels=4))
    save_checkpoint(dict(state_dict=other.state_dict()), str(tmp_path / 'other.pth'))
    with pytest.raises(CheckpointLoadError, match=r'The teacher checkpoint ".*other.pth" does not '
                       r'fit the model: 101 of another shape \(e.g. backbone.layer1.0.conv1.weight '
                       r'\(file \(4, 64, 3, 3\), model \(8, 64, 3, 3\)\)'):
        MODELS.build(reviewkd_algorithm(teacher_checkpoint=str(tmp_path / 'other.pth')))


def test_a_distiller_loss_named_as_a_student_loss_is_refused(mmpretrain_scope):
    """mmpretrain's classifier returns `loss`, logged as `loss_student`: a distiller loss of that
    name would replace it in the trained total."""
    samples = synthetic_samples(MODELS.build(reviewkd_algorithm()).student, 2, (16, 16))
    inputs = torch.randn(2, 3, 16, 16)
    losses = MODELS.build(reviewkd_algorithm()).loss(inputs, samples)
    assert {'loss_student', 'loss_reviewkd'} <= set(losses)
    clashing = MODELS.build(reviewkd_algorithm(loss_name='loss_student'))
    with pytest.raises(KeyError, match=r"The student already returns \['loss_student'\]"):
        clashing.loss(inputs, samples)
