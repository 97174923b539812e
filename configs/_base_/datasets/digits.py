# scikit-learn's handwritten digits at 32x32 (rkd.DigitsDataset): bundled with scikit-learn, so
# nothing is downloaded. 'train' for training, 'val' for choosing settings, 'test' for the numbers.
dataset_type = 'rkd.DigitsDataset'
# Pixel mean and std of the training images. As in mmpretrain's configs the preprocessor is
# top-level: the Runner hands it to the model (a distillation hands it to its student).
data_preprocessor = dict(num_classes=10, mean=[78.0] * 3, std=[83.0] * 3, to_rgb=False)

# No flip: a mirrored digit is another symbol (or none).
train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,  # images are in memory: worker processes would only add start-up time
    dataset=dict(type=dataset_type, split='train', num_train=300, pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    dataset=dict(type=dataset_type, split='val', test_mode=True, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = dict(
    batch_size=100,
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', test_mode=True, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
