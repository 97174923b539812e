# CIFAR-100 as the paper trains on it: the 50k training images, randomly cropped to 32x32 from
# the image padded by 4 px and flipped horizontally; the 10k test images for validation and test
# (the paper and the CIFAR KD code bases report the test split; there is no held-out split).
# Batch 128 on one GPU; the learning rates of configs/_base_/schedules/cifar100_240e.py are for it.
dataset_type = 'CIFAR100'
data_root = 'data/cifar100'

# CIFAR-100 training-set pixel mean and std (RGB, 0-255), for the models' ClsDataPreprocessor.
# The official ReviewKD code normalises with CIFAR-10's statistics; the difference is small.
# Not named `data_preprocessor`: the Runner would push a top-level one into every model, the
# distillation algorithm included, so each model carries it instead.
cifar100_preprocessor = dict(
    num_classes=100,
    mean=[129.304, 124.070, 112.434],
    std=[68.170, 65.392, 70.418],
    to_rgb=False)  # mmpretrain's CIFAR100 already yields RGB

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='test', test_mode=True,
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
