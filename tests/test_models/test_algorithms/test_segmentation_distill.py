"""ReviewKD between mmseg segmentors: an auxiliary head runs only in a training step."""
import torch
from mmengine.optim import OptimWrapper

from rkd.models.algorithms.synthetic_batch import synthetic_samples
from rkd.registry import MODELS

from tiny_segmentors import tiny_segmentor


def test_auxiliary_head_is_recorded_and_trained(mmseg_scope):
    torch.manual_seed(0)
    cfg = dict(
        type='rkd.SingleTeacherDistill', student=tiny_segmentor(8),
        teacher=dict(config=tiny_segmentor(16), checkpoint=None),
        distiller=dict(type='rkd.ReviewKDDistiller',
                       student_recorders=['auxiliary_head.convs', 'decode_head.convs'],
                       teacher_recorders=[dict(source='backbone', element=2),
                                          'decode_head.convs'],
                       loss=dict(type='rkd.HCLoss')),
        probe_input_shape=(3, 40, 40))
    model = MODELS.build(cfg).train()
    assert list(model.distiller.connector.student_channels) == [16, 16]
    assert list(model.distiller.connector.teacher_channels) == [64, 16]
    # raw images smaller than the preprocessor's size: both networks get the padded 48 x 48
    images = [torch.randint(0, 256, (3, 40, 36), dtype=torch.uint8) for _ in range(2)]
    samples = synthetic_samples(model.student, 2, (40, 36))
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), True)
    assert data['inputs'].shape[-2:] == (48, 48)
    student_feats, teacher_feats = model.probe_features(**data)
    assert [f.shape[-2:] for f in student_feats + teacher_feats] == [(6, 6)] * 4
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    log_vars = model.train_step(dict(inputs=images, data_samples=samples), optim)
    assert {'aux.loss_ce', 'decode.loss_ce', 'loss_reviewkd'} <= set(log_vars)
    assert log_vars['loss_reviewkd'] > 0
