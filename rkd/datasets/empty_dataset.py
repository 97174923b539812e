"""An empty dataset, named. mmengine 0.10.7 fails on one while it builds the run's loops, with
numpy's "need at least one array to concatenate" from deep in ``BaseDataset._serialize_data``:
nothing says which dataset, or why it has no sample."""
import contextlib
from typing import Iterator, Optional

from mmengine.runner import BaseLoop, ValLoop
from mmengine.runner.loops import TestLoop

EMPTY_CONCATENATE = 'need at least one array to concatenate'


@contextlib.contextmanager
def explained_empty_dataset() -> Iterator[None]:
    """Re-raise mmengine's failure on an empty dataset as an error that names the dataloader,
    the dataset and what to check."""
    try:
        yield
    except ValueError as error:
        frames = [tb.tb_frame for tb in _walk(error.__traceback__)]
        serializing = [f for f in frames if f.f_code.co_name == '_serialize_data']
        if EMPTY_CONCATENATE not in str(error) or not serializing:
            raise
        dataset = serializing[-1].f_locals.get('self')
        loops = [f.f_locals['self'] for f in frames if isinstance(f.f_locals.get('self'), BaseLoop)]
        raise ValueError(
            f'The {_dataloader_of(loops[-1] if loops else None)} dataset is empty: '
            f'{type(dataset).__name__} found no sample (data_root '
            f'{getattr(dataset, "data_root", None)!r}, ann_file '
            f'{getattr(dataset, "ann_file", None)!r}). Check its paths, its annotation file and '
            'its filter_cfg / indices; to train without validation, set val_dataloader, val_cfg '
            'and val_evaluator to None.') from None


def _walk(tb) -> Iterator:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _dataloader_of(loop: Optional[BaseLoop]) -> str:
    if isinstance(loop, ValLoop):
        return 'val_dataloader\'s'
    if isinstance(loop, TestLoop):
        return 'test_dataloader\'s'
    return 'train_dataloader\'s' if loop is not None else 'a'
