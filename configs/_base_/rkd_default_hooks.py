# rkd's checkpoint and random-state hooks for a distillation config whose student's base sets
# `default_hooks` (mmengine refuses a key that two bases both set): the config inherits this file
# and merges them into its base's with
#     default_hooks = _base_.pop('rkd_default_hooks')
# The base's checkpoint interval stays; a kill while saving leaves the previous checkpoint whole,
# and checkpoints carry the random states that an exact resume restores.
rkd_default_hooks = dict(checkpoint=dict(type='rkd.AtomicCheckpointHook'),
                         random_state=dict(type='rkd.RandomStateHook'),
                         val_random_state=dict(type='rkd.ValRandomStateHook'))
