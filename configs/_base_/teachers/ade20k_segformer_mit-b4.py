# The ADE20K SegFormer MiT-B4 teacher of the segmentation ReviewKD configs: mmseg's model zoo
# checkpoint segformer_mit-b4_8xb2-160k_ade20k-512x512 (48.46 mIoU, single scale), as its
# metafile names it.
teacher = dict(
    config='mmseg::segformer/segformer_mit-b4_8xb2-160k_ade20k-512x512.py',
    checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/segformer/segformer_mit-b4_512x512_160k_ade20k/segformer_mit-b4_512x512_160k_ade20k_20210728_183055-7f509d7d.pth')  # noqa: E501

# The four stage outputs of the MiT backbone, after each stage's LayerNorm, as maps (64, 128,
# 320, 512 channels at strides 4, 8, 16, 32): the backbone returns them as a tuple.
teacher_recorders = ['backbone']
