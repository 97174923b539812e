"""rkd.DigitsDataset: fixed, disjoint, stratified splits of real images that mmpretrain reads."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from sklearn.datasets import load_digits

from rkd.datasets import DigitsDataset
from rkd.datasets.digits import split_indices


def labels_of(dataset: DigitsDataset) -> np.ndarray:
    return np.asarray(dataset.get_gt_labels())


def images_of(dataset: DigitsDataset) -> np.ndarray:
    return np.stack([dataset.get_data_info(i)['img'] for i in range(len(dataset))])


def test_split_lengths_and_metainfo():
    lengths = {split: len(DigitsDataset(split=split)) for split in ('train', 'val', 'test')}
    assert lengths == dict(train=957, val=300, test=540)
    assert sum(lengths.values()) == 1797
    assert DigitsDataset(split='val').metainfo['classes'] == tuple('0123456789')


def test_splits_are_disjoint_stratified_and_fixed():
    labels = load_digits().target
    train, val, test = split_indices(labels, test_ratio=0.3, num_val=300, seed=0)
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    assert len(train) + len(val) + len(test) == len(labels)
    overall = np.bincount(labels) / len(labels)
    for part in (train, val, test):
        np.testing.assert_allclose(np.bincount(labels[part]) / len(part), overall, atol=0.01)
    again = split_indices(labels, test_ratio=0.3, num_val=300, seed=0)
    for a, b in zip((train, val, test), again):
        np.testing.assert_array_equal(a, b)
    # the held-out test split does not depend on how much validation is carved out
    np.testing.assert_array_equal(test, split_indices(labels, 0.3, 100, 0)[2])


def test_num_train_caps_the_training_split_stratified():
    full = DigitsDataset(split='train')
    capped = DigitsDataset(split='train', num_train=300)
    assert len(capped) == 300
    assert np.bincount(labels_of(capped), minlength=10).min() >= 29
    # the capped images are a subset of the training images, chosen the same way every time
    full_images = {img.tobytes() for img in images_of(full)}
    assert all(img.tobytes() in full_images for img in images_of(capped))
    np.testing.assert_array_equal(images_of(capped),
                                  images_of(DigitsDataset(split='train', num_train=300)))
    with pytest.raises(ValueError, match='training split only'):
        DigitsDataset(split='test', num_train=10)
    with pytest.raises(ValueError, match='split must be'):
        DigitsDataset(split='trainval')


def test_images_are_upsampled_uint8_rgb():
    dataset = DigitsDataset(split='val')
    info = dataset.get_data_info(0)
    img = info['img']
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 0] == img[..., 2]).all()
    images = images_of(dataset)
    assert images.min() == 0 and images.max() > 240  # 0..16 stretched to 0..255
    assert isinstance(info['gt_label'], int) and 0 <= info['gt_label'] < 10
    assert DigitsDataset(split='val', image_size=16).get_data_info(0)['img'].shape == (16, 16, 3)


def test_mmpretrain_pipeline_and_dataloader():
    import mmpretrain.datasets  # noqa: F401  (registers the transforms)
    from mmengine.runner import Runner
    from mmpretrain.structures import DataSample

    pipeline = [dict(type='RandomCrop', crop_size=32, padding=4), dict(type='PackInputs')]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(dict(
            batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(type='rkd.DigitsDataset', split='train', num_train=40,
                         pipeline=pipeline)), seed=0)
        batch = next(iter(loader))
    assert len(batch['inputs']) == 8
    assert batch['inputs'][0].shape == (3, 32, 32) and batch['inputs'][0].dtype == torch.uint8
    sample = batch['data_samples'][0]
    assert isinstance(sample, DataSample) and 0 <= int(sample.gt_label) < 10


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_train=0), 'num_train=0'),
    (dict(num_train=5), 'num_train=5'),
    (dict(num_val=0), 'num_val=0'),
    (dict(num_val=2.5), 'num_val=2.5'),
    (dict(test_ratio=0.0), 'test_ratio must be a fraction'),
    (dict(test_ratio=0.001), 'leaves 2 test images'),
    (dict(test_ratio=0.5, num_val=890), 'leave 8 training images'),
])
def test_split_sizes_that_would_leave_a_split_empty_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DigitsDataset(**kwargs)
