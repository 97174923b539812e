# CIFAR-100 as the paper trains on it: the 50k training images, randomly cropped to 32x32 from
# the image padded by 4 px and flipped horizontally; the 10k test images for validation and test
# (the paper and the CIFAR KD code bases report the test split; there is no held-out split).
# Batch 128 on one GPU; the learning rates of configs/_base_/schedules/cifar100_240e.py are for it.
dataset_type = 'CIFAR100'
data_root = 'data/cifar100'

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
