"""List what a recorder can target in the networks of a config, and print recorder lists.

Runs one training step of the student and the teacher of a ReviewKD config (or of the one model
of a plain training config) on a synthetic batch and prints every module that ran: its type, how
often it ran, the shapes of its outputs and whether they are pre- or post-activation. Modules
marked ``*`` give the natural levels (stage outputs, FPN levels, pooled embedding); the recorder
lists at the end pair the deepest levels of both networks, ready to paste into the config.

    python tools/analysis_tools/list_features.py CONFIG [--model student|teacher]
        [--input-size H W] [--teacher-pre-activation]
"""
import argparse
from typing import Dict, List, Tuple

from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope
from torch import nn

from rkd.analysis import explore, format_table, natural_levels, paired_levels, recorder_lines
from rkd.apis import load_config
from rkd.models.algorithms.model_builder import build_task_model
from rkd.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='List the features a recorder can target')
    parser.add_argument('config', help='a ReviewKD config, or a plain training config')
    parser.add_argument('--model', choices=['student', 'teacher'],
                        help='list one network of a ReviewKD config (default: both)')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help='size of the synthetic images (default: the config\'s '
                        'probe_input_shape, else 224 224)')
    parser.add_argument('--teacher-pre-activation', action='store_true',
                        help='record the teacher\'s stages before their last activation')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    return parser.parse_args()


def networks(cfg: Config, which: str = None) -> Dict[str, nn.Module]:
    """The networks of ``cfg`` as the distillation builds them (with their ``overrides``), but
    without checkpoints: ``student`` and ``teacher`` of a distillation config, or ``model`` of a
    plain one."""
    model = cfg.model
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        if 'student' not in model or 'teacher' not in model:
            return dict(model=build_task_model(model, cfg.get('data_preprocessor')))
        built = {}
        if which in (None, 'student'):
            built['student'] = build_task_model(model.student, cfg.get('data_preprocessor'),
                                                model.get('student_overrides'))
        if which in (None, 'teacher'):
            built['teacher'] = build_task_model(model.teacher.config,
                                                overrides=model.teacher.get('overrides'))
        return built


def input_size(cfg: Config, size: List[int]) -> Tuple[int, int]:
    if size:
        return tuple(size)
    return tuple(cfg.model.get('probe_input_shape', (3, 224, 224))[1:])


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    size = input_size(cfg, args.input_size)
    levels = {}
    for name, network in networks(cfg, args.model).items():
        records = explore(network, size)
        levels[name] = natural_levels(network, records)
        print(f'{name}: {type(network).__name__}, one training step on 2 synthetic '
              f'{size[0]}x{size[1]} images ({len(records)} modules ran; * natural levels)')
        print('\n'.join(format_table(records, levels[name])), end='\n\n')
    if set(levels) == {'student', 'teacher'}:
        student, teacher = paired_levels(levels['student'], levels['teacher'])
        print('# model.distiller of a ReviewKD config: the deepest levels both networks have')
        print('\n'.join(recorder_lines('student_recorders', student) + recorder_lines(
            'teacher_recorders', teacher, pre_activation=args.teacher_pre_activation)))
    else:
        for name, found in levels.items():
            print('\n'.join(recorder_lines(f'{name}_recorders', found)))


if __name__ == '__main__':
    main()
