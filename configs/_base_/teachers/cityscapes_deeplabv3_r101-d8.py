# The Cityscapes DeepLabV3 R101-d8 teacher of the segmentation ReviewKD configs: mmseg's model
# zoo checkpoint deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024 (80.20 mIoU, single scale), as
# its metafile names it.
teacher = dict(
    config='mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/deeplabv3/deeplabv3_r101-d8_512x1024_80k_cityscapes/deeplabv3_r101-d8_512x1024_80k_cityscapes_20200606_113503-9e428899.pth')  # noqa: E501

# Five levels, pre-activation as ReviewKD takes its teachers' features: the four stage outputs
# before the stage's last ReLU (the input of the last bottleneck's relu, last of its three
# calls; 256, 512, 1024, 2048 channels at strides 4, 8, 8, 8: the d8 backbone dilates its last two
# stages) and the map the classifier reads, ASPPHead's bottleneck before its ReLU (512 channels,
# stride 8).
teacher_recorders = [
    dict(source=f'backbone.layer{i}.{block}.relu', io='input', call=-1)
    for i, block in zip((1, 2, 3, 4), (2, 3, 22, 2))
] + [dict(source='decode_head.bottleneck.activate', io='input')]
