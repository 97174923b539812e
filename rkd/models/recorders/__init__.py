from .module_recorder import ModuleRecorder, RecorderGroup, as_feature_map, find_module

__all__ = ['ModuleRecorder', 'RecorderGroup', 'as_feature_map', 'find_module']
