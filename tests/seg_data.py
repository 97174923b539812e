"""A tiny semantic segmentation dataset of shapes, written where a test asks, in the layout
mmseg's ``BaseSegDataset`` reads (``img_dir/<split>/*.png`` with ``ann_dir/<split>/*.png``)."""
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ('background', 'square', 'disc')
PALETTE = [[0, 0, 0], [255, 0, 0], [0, 0, 255]]
# Mean colour of each class's pixels (RGB): a shape is recognisable by its colour and outline.
COLOURS = np.array([[90, 110, 90], [200, 60, 40], [40, 70, 200]], dtype=np.float32)


def shape_image(rng: np.random.Generator, size: int) -> tuple:
    """One ``(image, label map)`` pair: a noisy background with a square and a disc."""
    labels = np.zeros((size, size), dtype=np.uint8)
    side = int(rng.integers(size // 5, size // 2))
    y, x = rng.integers(0, size - side, 2)
    labels[y:y + side, x:x + side] = 1
    radius = int(rng.integers(size // 10, size // 4))
    cy, cx = rng.integers(radius, size - radius, 2)
    rows, cols = np.ogrid[:size, :size]
    labels[(rows - cy)**2 + (cols - cx)**2 <= radius**2] = 2
    noise = rng.normal(0, 20, (size, size, 3))
    image = np.clip(COLOURS[labels] + noise, 0, 255).astype(np.uint8)
    return image, labels


def write_shapes_dataset(root: Path, splits: dict = dict(train=8, val=4), size: int = 64,
                         seed: int = 0) -> None:
    """``splits`` maps each split to its number of images; PNG images (RGB) and label maps
    (class indices, as mmseg's ``LoadAnnotations`` reads them)."""
    rng = np.random.default_rng(seed)
    for split, count in splits.items():
        (root / 'img_dir' / split).mkdir(parents=True)
        (root / 'ann_dir' / split).mkdir(parents=True)
        for i in range(count):
            image, labels = shape_image(rng, size)
            Image.fromarray(image).save(root / 'img_dir' / split / f'{i}.png')
            Image.fromarray(labels).save(root / 'ann_dir' / split / f'{i}.png')


def dataset_cfg(root: Path, split: str, pipeline: list) -> dict:
    """The mmseg dataset config of one split of :func:`write_shapes_dataset`."""
    return dict(
        type='BaseSegDataset', data_root=str(root),
        data_prefix=dict(img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
        img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=False,
        metainfo=dict(classes=CLASSES, palette=PALETTE), pipeline=pipeline)
