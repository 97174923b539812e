"""A tiny COCO-format dataset for the detection tests: shapes on noise, boxes and masks."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ('square', 'disk')
IMAGE_SIZES = [(96, 128), (128, 96), (112, 112), (128, 128)]  # (h, w)


def write_coco(root: Path, seed: int = 0, classes: tuple = CLASSES) -> Path:
    """Images of coloured squares and disks on noise, with COCO boxes and polygon masks; the
    file's categories are named ``classes`` (all of COCO's 80, for a stock head), the squares
    and disks being of the first two."""
    rng = np.random.default_rng(seed)
    (root / 'images').mkdir(parents=True)
    images, annotations = [], []
    for image_id, (h, w) in enumerate(IMAGE_SIZES, start=1):
        pixels = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
        yy, xx = np.mgrid[:h, :w]
        for label, name in enumerate(CLASSES, start=1):
            size = int(rng.integers(24, 40))
            x0, y0 = int(rng.integers(0, w - size)), int(rng.integers(0, h - size))
            if name == 'square':
                inside = (xx >= x0) & (xx < x0 + size) & (yy >= y0) & (yy < y0 + size)
                polygon = [x0, y0, x0 + size, y0, x0 + size, y0 + size, x0, y0 + size]
            else:
                r, cx, cy = size / 2, x0 + size / 2, y0 + size / 2
                inside = (xx - cx)**2 + (yy - cy)**2 <= r * r
                angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
                polygon = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)
                polygon = polygon.ravel().round(1).tolist()
            pixels[inside] = (220, 40, 40) if name == 'square' else (40, 220, 40)
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=label, bbox=[x0, y0, size, size],
                                    area=float(inside.sum()), segmentation=[polygon],
                                    iscrowd=0))
        file_name = f'{image_id}.png'
        Image.fromarray(pixels).save(root / 'images' / file_name)
        images.append(dict(id=image_id, file_name=file_name, height=h, width=w))
    categories = [dict(id=i, name=name) for i, name in enumerate(classes, start=1)]
    ann_file = root / 'annotations.json'
    ann_file.write_text(json.dumps(dict(images=images, annotations=annotations,
                                        categories=categories)))
    return ann_file
