from .module_recorder import (ModuleRecorder, RecorderGroup, as_feature_map, find_module,
                              recorder_list)
from .tokens import TokenLayout

__all__ = ['ModuleRecorder', 'RecorderGroup', 'TokenLayout', 'as_feature_map', 'find_module',
           'recorder_list']
