"""A training batch of one image, which BatchNorm in training mode cannot normalise, explained."""
import contextlib
from typing import Iterator

# What torch's batch norm says when it meets one value per channel in training mode.
ONE_VALUE_PER_CHANNEL = 'Expected more than 1 value per channel when training'


@contextlib.contextmanager
def explained_batch_of_one(batch_size: int) -> Iterator[None]:
    """Say what happened and what to set when BatchNorm refuses a batch of ``batch_size`` 1.

    BatchNorm in training mode normalises each channel over the batch and the map: at a 1x1
    level (the pooled embedding that ReviewKD records, a BatchNorm1d in a head) one image leaves
    one value. The batch usually is an epoch's last, ``len(dataset) % batch_size`` images, met
    after a whole epoch of training.
    """
    try:
        yield
    except ValueError as error:
        if batch_size != 1 or ONE_VALUE_PER_CHANNEL not in str(error):
            raise
        raise ValueError(
            f'A training batch of 1 image reached BatchNorm in training mode ({error}), which '
            'cannot normalise one value per channel. The last batch of an epoch holds '
            'len(dataset) % batch_size images: set drop_last=True in train_dataloader, or a '
            'batch size that leaves none or at least 2.') from None
