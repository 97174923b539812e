# COCO detection as the paper trains it (Detectron2's recipe): multi-scale training with the
# short side drawn from 640-800 (step 32) and the long side at most 1333, and a schedule of
# 180k iterations of 8 images, SGD lr 0.01, lr x0.1 at 120k and 160k.
# In mmdet's terms: mmdet's Detectron2-aligned multi-scale data and iteration-based runtime
# (common/ms-90k_coco.py: RandomChoiceResize over those six scales, InfiniteSampler,
# IterBasedTrainLoop), with 180k iterations at 4 GPUs x 2 images, a MultiStepLR by iteration
# and the 1000-iteration linear warm-up of Detectron2. 180k x 8 images is about 12 epochs of
# COCO train2017. Training on another number of GPUs: add --auto-scale-lr (base batch 8).
_base_ = 'mmdet::common/ms-90k_coco.py'

# mmdet's `max_iter = 90000` (a variable of its file, read by nothing after loading) would
# survive in the loaded config beside the 180k below.
_base_.pop('max_iter')
train_cfg = dict(type='IterBasedTrainLoop', max_iters=180000, val_interval=20000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=180000, by_epoch=False,
         milestones=[120000, 160000], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=8)
# rkd's runtime hooks: a kill while saving leaves the previous checkpoint whole, and
# checkpoints carry the random states that an exact resume restores.
default_hooks = dict(
    checkpoint=dict(type='rkd.AtomicCheckpointHook', by_epoch=False, interval=20000),
    random_state=dict(type='rkd.RandomStateHook'),
    val_random_state=dict(type='rkd.ValRandomStateHook'))
