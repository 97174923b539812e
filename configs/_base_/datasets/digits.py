# scikit-learn's handwritten digits (rkd.DigitsDataset): bundled with scikit-learn, so nothing is
# downloaded. 'train' for training, 'val' for choosing settings, 'test' for the numbers.
dataset_type = 'rkd.DigitsDataset'
# Pixel mean and std of the 957 training images. As in mmpretrain's configs the preprocessor is
# top-level: the Runner hands it to the model (a distillation hands it to its student).
data_preprocessor = dict(num_classes=10, mean=[78.0] * 3, std=[81.0] * 3, to_rgb=False)

# The 8x8 digits upsampled to 16x16 (`image_size` of each split): all they hold, at a quarter of
# 32x32's compute, so that the demo's teacher trains on every training image in a minute or two.
# No flip: a mirrored digit is another symbol (or none).
train_pipeline = [
    dict(type='RandomCrop', crop_size=16, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,  # images are in memory: worker processes would only add start-up time
    # every training image (957): a config caps them with `num_train`
    dataset=dict(
        type=dataset_type, split='train', image_size=16, pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    dataset=dict(type=dataset_type, split='val', image_size=16, test_mode=True,
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = dict(
    batch_size=100,
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', image_size=16, test_mode=True,
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
