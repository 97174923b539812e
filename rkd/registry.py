"""rkd's registry nodes: children of mmengine's root registries under scope ``rkd``.

Configs address them as ``type='rkd.ABFConnector'`` from any default scope (mmpretrain, mmdet,
mmseg), so a distillation config can stay in its student's scope.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

__all__ = [
    'MODELS', 'MODEL_WRAPPERS', 'TASK_UTILS', 'HOOKS', 'LOOPS', 'PARAM_SCHEDULERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS'
]

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='rkd', locations=['rkd.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope='rkd', locations=['rkd.models'])
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, scope='rkd', locations=['rkd.models'])

HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='rkd', locations=['rkd.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='rkd', locations=['rkd.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, scope='rkd',
    locations=['rkd.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='rkd',
    locations=['rkd.engine'])

DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='rkd', locations=['rkd.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope='rkd', locations=['rkd.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='rkd', locations=['rkd.datasets'])
