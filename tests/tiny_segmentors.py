"""An mmseg segmentor at test cost, built in the mmseg scope."""


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
