"""scikit-learn's handwritten digits as a 32x32 image dataset: real data that ships with
scikit-learn, so the demo and the end-to-end tests train without a download."""
from typing import List, Optional, Tuple

import mmcv
import numpy as np
from mmpretrain.datasets import BaseDataset

from rkd.registry import DATASETS

SPLITS = ('train', 'val', 'test')
NUM_IMAGES, NUM_CLASSES = 1797, 10


def split_indices(labels: np.ndarray, test_ratio: float, num_val: int, seed: int
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, disjoint (train, val, test) indices into ``labels``, fixed by ``seed``.

    The test split is held out first, so changing ``num_val`` never changes it.
    """
    from sklearn.model_selection import train_test_split
    indices = np.arange(len(labels))
    trainval, test = train_test_split(
        indices, test_size=test_ratio, stratify=labels, random_state=seed)
    train, val = train_test_split(
        trainval, test_size=num_val, stratify=labels[trainval], random_state=seed)
    return np.sort(train), np.sort(val), np.sort(test)


def check_split_sizes(num_train: Optional[int], test_ratio: float, num_val: int) -> None:
    """Every split stratified over the 10 digits needs at least 10 images: refuse sizes that
    would leave one with fewer (or empty), naming the argument to change."""
    if not isinstance(test_ratio, (int, float)) or not 0 < test_ratio < 1:
        raise ValueError(f'test_ratio must be a fraction between 0 and 1, got {test_ratio!r}')
    num_test = int(np.ceil(test_ratio * NUM_IMAGES))
    sizes = dict(num_val=num_val, num_train=num_train, test_ratio=num_test,
                 remaining=NUM_IMAGES - num_test - (num_val if isinstance(num_val, int) else 0))
    for name, size in sizes.items():
        if size is None:
            continue
        if not isinstance(size, int) or size < NUM_CLASSES:
            what = dict(test_ratio=f'test_ratio={test_ratio} leaves {size} test images',
                        remaining=f'test_ratio={test_ratio} and num_val={num_val} leave {size} '
                        'training images')
            raise ValueError(
                f'DigitsDataset: {what.get(name, f"{name}={size!r}")}; each split is stratified '
                f'over the {NUM_CLASSES} digits and needs at least {NUM_CLASSES} of the '
                f'{NUM_IMAGES} images (an integer for num_train and num_val).')


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """The 1,797 8x8 digits of ``sklearn.datasets.load_digits``, upsampled (bilinear) to
    ``image_size`` and stretched from 0..16 to 0..255, as 3-channel uint8 images held in memory
    (``img`` in each data info: no ``LoadImageFromFile`` in the pipeline).

    Fixed stratified splits: ``test`` (``test_ratio`` of all images) is held out for the final
    numbers; ``val`` (``num_val`` images of the rest) is for choosing settings; ``train`` is the
    remainder, optionally capped to ``num_train`` images (stratified: digits is easy, and few
    images leave room between teacher and student).

    Args:
        split: 'train', 'val' or 'test'.
        num_train: keep this many training images (``split='train'`` only); None keeps all.
        test_ratio: fraction of all images in the test split.
        num_val: number of images in the validation split.
        image_size: side of the square images.
        split_seed: seed of the splits (not of training).
        **kwargs: passed to mmpretrain's ``BaseDataset`` (``pipeline``, ``test_mode``...).
    """

    METAINFO = {'classes': tuple(str(digit) for digit in range(10))}

    def __init__(self,
                 split: str = 'train',
                 num_train: Optional[int] = None,
                 test_ratio: float = 0.3,
                 num_val: int = 300,
                 image_size: int = 32,
                 split_seed: int = 0,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        if num_train is not None and split != 'train':
            raise ValueError(f'num_train caps the training split only, got split={split!r}')
        check_split_sizes(num_train, test_ratio, num_val)
        self.split = split
        self.num_train = num_train
        self.test_ratio = test_ratio
        self.num_val = num_val
        self.image_size = image_size
        self.split_seed = split_seed
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self) -> List[dict]:
        # scikit-learn is needed by this dataset only: importing rkd does not require it.
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        digits = load_digits()
        labels = digits.target
        train, val, test = split_indices(labels, self.test_ratio, self.num_val, self.split_seed)
        indices = dict(train=train, val=val, test=test)[self.split]
        if self.num_train is not None and self.num_train < len(indices):
            indices, _ = train_test_split(indices, train_size=self.num_train,
                                          stratify=labels[indices], random_state=self.split_seed)
            indices = np.sort(indices)
        return [dict(img=self._to_image(digits.images[i]), gt_label=int(labels[i]))
                for i in indices]

    def _to_image(self, pixels: np.ndarray) -> np.ndarray:
        """An 8x8 map of 0..16 -> an (S, S, 3) uint8 image."""
        gray = mmcv.imresize(pixels.astype(np.float32) * (255 / 16),
                             (self.image_size, self.image_size), interpolation='bilinear')
        gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split}', f'Image size: \t{self.image_size}']
