"""Registration of rkd's modules, mirroring ``mmpretrain.utils.register_all_modules``."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every rkd module so that it registers, and optionally make ``rkd`` the scope.

    Args:
        init_default_scope: set the global default scope to ``rkd``, so that registry
            look-ups without a ``scope.`` prefix start from rkd's nodes.
    """
    import rkd.datasets  # noqa: F401
    import rkd.engine  # noqa: F401
    import rkd.models  # noqa: F401

    if not init_default_scope:
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope is None:
        DefaultScope.get_instance('rkd', scope_name='rkd')
    elif current_scope.scope_name != 'rkd':
        warnings.warn(f'The current default scope "{current_scope.scope_name}" is not "rkd"; '
                      '`register_all_modules` forces it to "rkd". Pass '
                      '`init_default_scope=False` if this is not what you want.')
        DefaultScope.get_instance(f'rkd-{datetime.datetime.now()}', scope_name='rkd')
