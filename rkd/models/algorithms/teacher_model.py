"""The network a distillation config's ``teacher`` dict names, weights aside.

A teacher is a task model, from its config (a file or a model dict), or, since ReviewKD reads
only features, a backbone (and neck) alone: the backbone of a run's config (``headless=True``)
or a backbone dict. Both headless forms build an :class:`rkd.FeatureTeacher`.
"""
from mmengine.model import BaseModel

from .model_builder import build_task_model

# Keys of the teacher dict that name the network; the others say how it teaches (its weights,
# BN mode), and SingleTeacherDistill reads them.
NETWORK_KEYS = ('config', 'overrides', 'headless', 'backbone', 'neck', 'data_preprocessor')
HEADLESS_KEYS = ('backbone', 'neck', 'data_preprocessor')


def build_teacher_model(teacher: dict) -> BaseModel:
    """The teacher network of ``teacher`` (its other keys ignored), built without weights."""
    config = teacher.get('config')
    backbone = teacher.get('backbone')
    if backbone is not None:
        if config is not None or teacher.get('headless'):
            raise ValueError('The teacher names its network twice: give either `config` (with '
                             '`headless=True` to keep its backbone only) or `backbone`.')
        config = dict(type='rkd.FeatureTeacher',
                      **{key: teacher[key] for key in HEADLESS_KEYS if key in teacher})
    elif config is None:
        raise ValueError('The teacher needs a `config` (a config file or a model dict, e.g. '
                         'its training run\'s) or, for a backbone alone, a `backbone` dict.')
    elif 'neck' in teacher or 'data_preprocessor' in teacher:
        raise ValueError('`neck` and `data_preprocessor` go with a teacher given by its '
                         '`backbone`; a teacher given by `config` takes them from there (or '
                         'from `overrides`).')
    return build_task_model(config, overrides=teacher.get('overrides'),
                            headless=bool(teacher.get('headless', False)))


def has_own_preprocessor(teacher: dict) -> bool:
    """Whether ``teacher`` says how its inputs were normalised: a config file always does (its
    task's default if it names none); a model or backbone dict only with a
    ``data_preprocessor`` (without one, the teacher normalises as the student)."""
    if 'backbone' in teacher:
        return 'data_preprocessor' in teacher
    config = teacher.get('config')
    return not isinstance(config, dict) or 'data_preprocessor' in config
