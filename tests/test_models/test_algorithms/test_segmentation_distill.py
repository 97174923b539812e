"""ReviewKD between mmseg segmentors: an auxiliary head runs only in a training step."""
import torch
from mmengine.optim import OptimWrapper

from rkd.models.algorithms.synthetic_batch import synthetic_samples
from rkd.registry import MODELS


def tiny_segmentor(width: int, num_classes: int = 3) -> dict:
    """mmseg's FCN layout (dilated ResNetV1c, decode and auxiliary FCN heads), thin."""
    norm = dict(type='BN', requires_grad=True)
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                               seg_pad_val=255, size=(48, 48)),
        backbone=dict(type='ResNetV1c', depth=18, base_channels=width, stem_channels=width,
                      dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm),
        decode_head=dict(type='FCNHead', in_channels=8 * width, in_index=3, channels=16,
                         num_convs=1, num_classes=num_classes, norm_cfg=norm,
                         loss_decode=dict(type='CrossEntropyLoss')),
        auxiliary_head=dict(type='FCNHead', in_channels=4 * width, in_index=2, channels=16,
                            num_convs=1, num_classes=num_classes, norm_cfg=norm,
                            loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))


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
