from .module_recorder import ModuleRecorder, as_feature_map, find_module, recorder_list
from .recorder_group import RecordedFeatures, RecorderCfg, RecorderGroup
from .tokens import TokenLayout

__all__ = ['ModuleRecorder', 'RecordedFeatures', 'RecorderCfg', 'RecorderGroup', 'TokenLayout',
           'as_feature_map', 'find_module', 'recorder_list']
