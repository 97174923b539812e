# mmpretrain's runtime, with checkpoints every 10 epochs: a CIFAR epoch takes seconds, and the
# distillation configs read the teacher's last one, `work_dirs/<teacher config>/epoch_240.pth`.
default_scope = 'mmpretrain'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook, but a kill while saving leaves the previous checkpoint whole
    checkpoint=dict(
        type='rkd.AtomicCheckpointHook', interval=10, max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # random states in every checkpoint, for a resume that continues the run exactly, and
    # validation that leaves the training draws as they were
    random_state=dict(type='rkd.RandomStateHook'),
    val_random_state=dict(type='rkd.ValRandomStateHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

visualizer = dict(type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])

log_level = 'INFO'
load_from = None
resume = False
# No fixed seed, as in the paper's runs: pass `--cfg-options randomness.seed=0` to fix one.
randomness = dict(seed=None, deterministic=False)
