# Schedule and runtime shared by the digits configs: the paper's CIFAR optimizer (SGD, nesterov,
# weight decay 5e-4) on a short cosine schedule that a 2-core CPU runs in minutes.
_base_ = ['mmpretrain::_base_/default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4))
# A dict, not a list, so that `--cfg-options param_scheduler.end=N` follows `max_epochs`.
param_scheduler = dict(
    type='CosineAnnealingLR', by_epoch=True, begin=0, end=30, convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=10)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    # the last epoch only; a kill while saving leaves the previous checkpoint whole
    checkpoint=dict(type='rkd.AtomicCheckpointHook', interval=-1, save_last=True),
    random_state=dict(type='rkd.RandomStateHook'),  # exact --resume
    val_random_state=dict(type='rkd.ValRandomStateHook'),
)
randomness = dict(seed=0)
