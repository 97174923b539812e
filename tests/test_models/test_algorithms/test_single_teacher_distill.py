import copy

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from rkd.registry import MODELS

from helpers import reviewkd_algorithm


def batch(n: int = 4, size: int = 16) -> dict:
    return dict(inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8)
                        for _ in range(n)],
                data_samples=[DataSample().set_gt_label(i % 4) for i in range(n)])


def test_train_steps_change_the_student_and_never_the_teacher(mmpretrain_scope):
    torch.manual_seed(0)
    model = MODELS.build(reviewkd_algorithm())
    model.train()
    assert model.student.training and not model.teacher.training
    assert not any(m.training for m in model.teacher.modules())
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    # What the optimizer trains: BN running statistics move in any forward, so they do not count.
    trained = {'student': model.student, 'connector': model.distiller.connector}
    before = {part: {name: p.detach().clone() for name, p in module.named_parameters()
                     if p.requires_grad} for part, module in trained.items()}
    assert all(before.values())
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    for _ in range(3):
        log_vars = model.train_step(batch(), optim)
    assert {'loss', 'loss_reviewkd'} <= set(log_vars)
    assert log_vars['loss_reviewkd'] > 0
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), f'teacher {key} changed'
    for part, module in trained.items():
        changed = [name for name, p in module.named_parameters()
                   if name in before[part] and not torch.equal(p, before[part][name])]
        assert changed, f'no trainable parameter of the {part} changed'
    assert all(p.grad is None for p in model.teacher.parameters())


def test_connector_channels_are_inferred_from_the_probe(mmpretrain_scope):
    model = MODELS.build(reviewkd_algorithm())
    abfs = model.distiller.connector.abfs
    assert len(abfs) == 5
    # student stages 4, 8, 16, 32 channels + 32-d embedding; teacher twice as wide
    assert [abf.conv1.conv.in_channels for abf in abfs] == [4, 8, 16, 32, 32]
    assert [abf.conv2.conv.out_channels for abf in abfs] == [8, 16, 32, 64, 64]


def test_predict_and_tensor_modes_are_the_student_alone(mmpretrain_scope):
    torch.manual_seed(0)
    model = MODELS.build(reviewkd_algorithm()).eval()
    data = model.data_preprocessor(batch(2), False)
    torch.testing.assert_close(model(data['inputs'], mode='tensor'),
                               model.student(data['inputs'], mode='tensor'))
    predictions = model.val_step(batch(2))
    assert len(predictions) == 2 and predictions[0].pred_score.shape == (4, )
    # hooks exist only inside a distillation step
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_warmup_factor_follows_the_epoch(mmpretrain_scope):
    torch.manual_seed(0)
    model = MODELS.build(reviewkd_algorithm(warmup=dict(length=4, by_epoch=True)))
    data = model.data_preprocessor(batch(), True)
    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', 1)
    losses = model(**data, mode='loss')
    assert losses['reviewkd_warmup'].item() == pytest.approx(0.25)
    hub.update_info('epoch', 0)
    assert model(**data, mode='loss')['loss_reviewkd'].item() == 0
    hub.update_info('epoch', 9)
    assert model(**data, mode='loss')['reviewkd_warmup'].item() == 1


def test_teacher_checkpoint_is_loaded_and_survives_init_weights(mmpretrain_scope, tmp_path):
    from mmengine.runner import save_checkpoint
    cfg = reviewkd_algorithm()
    teacher = MODELS.build(cfg['teacher']['config'])
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(tmp_path / 't.pth'))
    model = MODELS.build(reviewkd_algorithm(teacher_checkpoint=str(tmp_path / 't.pth')))
    model.init_weights()
    for key, value in teacher.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[key], value), key


def test_both_networks_are_initialised_before_the_probe_and_nothing_is_fetched(
        mmpretrain_scope):
    # layers whose weights only init_weights() sets (SSD's L2Norm, Deformable DETR's level
    # embeddings) would otherwise feed uninitialised memory to the build-time probe
    cfg = reviewkd_algorithm()
    init_cfg = [dict(type='Pretrained', checkpoint='/nonexistent/resnet.pth'),  # not fetched
                dict(type='Constant', val=0.5, layer='Conv2d')]
    cfg['teacher']['config']['backbone']['init_cfg'] = init_cfg
    cfg['student']['backbone']['init_cfg'] = [dict(init_cfg[1], val=0.25)]
    model = MODELS.build(cfg)
    assert torch.all(model.teacher.backbone.conv1.weight == 0.5)
    assert torch.all(model.student.backbone.conv1.weight == 0.25)
    # the runner initialises the student once more, as its config says; the teacher stays
    assert not model.student.is_init and model.teacher.is_init
    with torch.no_grad():
        model.student.backbone.conv1.weight.zero_()
        model.teacher.backbone.conv1.weight.zero_()
    model.init_weights()
    assert torch.all(model.student.backbone.conv1.weight == 0.25)
    assert torch.all(model.teacher.backbone.conv1.weight == 0)


def test_mismatched_levels_are_a_clear_error(mmpretrain_scope):
    cfg = reviewkd_algorithm()
    cfg['distiller']['teacher_recorders'] = ['neck']  # 4 pooled maps
    with pytest.raises(ValueError,
                       match=r'student recorders yield 5 features.*teacher recorders 4'):
        MODELS.build(cfg)


def test_top_level_preprocessor_is_the_students_unless_it_has_one(mmpretrain_scope):
    """What the Runner does with a config's top-level ``data_preprocessor`` for a plain model."""
    given = dict(type='ClsDataPreprocessor', num_classes=4, mean=[1., 2., 3.], std=[4., 5., 6.])
    cfg = reviewkd_algorithm()
    cfg['student'].pop('data_preprocessor')
    model = MODELS.build(dict(cfg, data_preprocessor=given))
    assert model.data_preprocessor is model.student.data_preprocessor
    assert model.student.data_preprocessor.mean.flatten().tolist() == [1., 2., 3.]
    own = MODELS.build(dict(reviewkd_algorithm(), data_preprocessor=given))
    assert own.student.data_preprocessor.mean.flatten().tolist() == [127.5] * 3


def test_a_deep_copy_records_its_own_modules(mmpretrain_scope):
    """EMA hooks and model averaging deep-copy the model: the copy must hook its own modules."""
    model = copy.deepcopy(MODELS.build(reviewkd_algorithm()))
    with model.distiller.student_recorders.recording():
        assert model.student.backbone._forward_hooks
    assert not model.student.backbone._forward_hooks
    data = model.data_preprocessor(batch(), True)
    assert torch.isfinite(model(**data, mode='loss')['loss_reviewkd'])
