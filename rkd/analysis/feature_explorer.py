"""How ``tools/analysis_tools/list_features.py`` prints what a recorder can target.

:func:`format_table` lists every module a training step runs (found by
``rkd.models.algorithms.natural_levels.explore``) with its outputs, marking the natural levels;
:func:`recorder_lines` writes levels as a config's ``*_recorders`` list.
"""
from typing import List

from rkd.models.algorithms.natural_levels import Level, ModuleRecord
from rkd.models.algorithms.stride_pairing import as_config


def recorder_lines(name: str, levels: List[Level], pre_activation: bool = False) -> List[str]:
    """``name=[...]`` for a config, one recorder a line, with its shape as a comment."""
    lines = [f'{name}=[']
    for level in levels:
        recorder, activation = level.recorder, level.activation
        if pre_activation and level.pre_activation:
            recorder, activation = level.pre_activation, 'pre'
        lines.append(f'    {as_config(recorder)},  # {level.shape}, {activation}-activation')
    return lines + ['],']


def format_table(records: List[ModuleRecord], levels: List[Level]) -> List[str]:
    """One line a module: name, type, calls, output shapes, pre/post-activation, and a mark on
    the modules of :func:`natural_levels`."""
    marked = {level.recorder if isinstance(level.recorder, str) else level.recorder['source']
              for level in levels}
    width = max(len(r.name) for r in records)
    lines = [f'  {"module".ljust(width)}  {"type":<24} calls  activation  output']
    for r in records:
        shapes = ', '.join(str(s) for s in r.shapes) or '-'
        mark = '*' if r.name in marked else ' '
        lines.append(f'{mark} {r.name.ljust(width)}  {r.type:<24} {r.calls:>5}  '
                     f'{r.activation + "-act":<10}  {shapes}')
    return lines
