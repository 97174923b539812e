"""Image folders as users bring them: a damaged file names its path when it is read; grayscale
files in an RGB dataset load as three channels."""
import numpy as np
import pytest
from PIL import Image

from helpers import write_image_folder


def image_folder_dataset(root):
    import mmpretrain.datasets  # noqa: F401
    from mmpretrain.registry import DATASETS
    return DATASETS.build(dict(type='mmpretrain.CustomDataset', data_root=str(root),
                               pipeline=[dict(type='mmpretrain.LoadImageFromFile'),
                                         dict(type='mmpretrain.PackInputs')]))


@pytest.mark.parametrize('damage', ['garbage after a PNG signature', 'truncated'])
def test_a_damaged_image_file_names_its_path_when_read(tmp_path, damage):
    write_image_folder(tmp_path)
    broken = tmp_path / 'class1' / '2.png'
    broken.write_bytes(b'\x89PNG\r\n\x1a\n not an image' if damage.startswith('garbage')
                       else broken.read_bytes()[:100])
    dataset = image_folder_dataset(tmp_path)
    index = next(i for i in range(len(dataset)) if dataset.get_data_info(i)['img_path'] ==
                 str(broken))
    assert dataset[index - 1]['inputs'].shape == (3, 16, 16)  # the others load
    with pytest.raises(AssertionError, match=f'failed to load image: {broken}'):
        dataset[index]


def test_grayscale_files_in_an_rgb_dataset_load_as_three_channels(tmp_path):
    write_image_folder(tmp_path)
    gray = tmp_path / 'class0' / '0.png'
    Image.fromarray(np.full((16, 16), 200, dtype=np.uint8), mode='L').save(gray)
    dataset = image_folder_dataset(tmp_path)
    index = next(i for i in range(len(dataset)) if dataset.get_data_info(i)['img_path'] ==
                 str(gray))
    inputs = dataset[index]['inputs']
    assert inputs.shape == (3, 16, 16) and (inputs == 200).all()
