# The ImageNet-pretrained MobileNetV2 (the checkpoint mmdet's MobileNetV2 detectors start from)
# under an FPN, for the COCO student baselines of the ReviewKD R50 -> MobileNetV2 pairs. FPN
# inputs: the last block of each stride, 4 to 32 (24, 32, 96 and 320 channels). As the ResNets
# of mmdet's detectors, BN keeps its ImageNet statistics (norm_eval): 2 images per GPU are too
# few to estimate them. A detector config inherits this file beside mmdet's R50 FPN model of its
# detector and swaps the backbone in:
#     model = dict(_base_.pop('mobilenetv2_fpn'))
mobilenetv2_fpn = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        out_indices=(1, 2, 4, 6),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://mmdet/mobilenet_v2')),
    neck=dict(in_channels=[24, 32, 96, 320]))
