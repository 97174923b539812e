"""List what a recorder can target in the networks of a config, and print recorder lists.

Runs the student and the teacher of a ReviewKD config as a distillation step does (the student's
training step, the teacher in eval mode, a detector's or segmentor's as far as its neck; a plain
config's model trains) on a synthetic batch and prints every module that ran: its type, how often
it ran, the shapes of its outputs and whether they are pre- or post-activation. Modules marked
``*`` give the natural levels (stage outputs, FPN levels, pooled embedding). For a ReviewKD config
it ends with the pairing ``'auto'`` recorders make (levels of equal stride, as a table) and the
recorder lists that freeze it, ready to paste into the config.

    python tools/analysis_tools/list_features.py CONFIG [--model student|teacher]
        [--input-size H W] [--teacher-pre-activation]
"""
import argparse
from typing import Dict, List, Tuple

from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope
from torch import nn

from rkd.analysis import format_table, recorder_lines
from rkd.apis import load_config
from rkd.models.algorithms.model_builder import build_task_model
from rkd.models.algorithms.natural_levels import explore, natural_levels
from rkd.models.algorithms.stride_pairing import pair_levels
from rkd.models.algorithms.teacher_model import build_teacher_model
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
            built['teacher'] = build_teacher_model(model.teacher)
        return built


def input_shape(cfg: Config, size: List[int]) -> Tuple[int, int, int]:
    """(C, H, W) of the synthetic images: ``--input-size``, else the config's probe's."""
    channels, *probe_size = cfg.model.get('probe_input_shape', (3, 224, 224))
    return (channels, *size) if size else (channels, *probe_size)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    channels, *size = input_shape(cfg, args.input_size)
    built = networks(cfg, args.model)
    for name, network in built.items():
        training = name != 'teacher'  # as the distillation runs it: a teacher in eval mode
        records = explore(network, size, channels, training=training)
        levels = natural_levels(network, records)
        run = 'one training step' if training else 'its forward in eval mode'
        print(f'{name}: {type(network).__name__}, {run} on 2 synthetic {size[0]}x{size[1]} '
              f'images ({len(records)} modules ran; * natural levels)')
        print('\n'.join(format_table(records, levels)), end='\n\n')
        if set(built) != {'student', 'teacher'}:
            print('\n'.join(recorder_lines(f'{name}_recorders', levels)))
    if set(built) == {'student', 'teacher'}:
        pairing = pair_levels(built['student'], built['teacher'], (channels, *size),
                              teacher_pre_activation=args.teacher_pre_activation)
        print(f"# student_recorders='auto', teacher_recorders='auto' pair these levels by "
              f'stride at {size[0]}x{size[1]}:')
        print('\n'.join(pairing.table()), end='\n\n')
        print('# model.distiller of a ReviewKD config: these lines freeze that pairing')
        print('\n'.join(pairing.config_lines()))


if __name__ == '__main__':
    main()
