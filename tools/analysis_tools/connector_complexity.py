"""Parameters and FLOPs of a distillation's connector next to its student and teacher.

The connector exists only in training (it is dropped from the exported student); this says what
it adds to each training step. Counted with mmengine's complexity analysis at one input size.
"""
import argparse

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config

from rkd.apis import build_distillation
from rkd.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='a distillation config (rkd.SingleTeacherDistill)')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], help='input H W')
    return parser.parse_args()


def complexity(model: torch.nn.Module, inputs: tuple) -> tuple:
    info = get_model_complexity_info(model, inputs=inputs, show_table=False, show_arch=False)
    return info['params'], info['flops']


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    cfg.model.teacher.checkpoint = None  # weights do not change the counts
    # Count the literal form: the fast one calls some convs functionally, out of the module
    # hooks the counter attributes FLOPs with. Both compute the same function.
    cfg.model.distiller.connector.impl = 'reference'
    print('connector counted in its reference form (impl=\'reference\'): the counter hooks '
          'modules, and the fast form calls some convs functionally; both compute the same '
          'function')
    model = build_distillation(cfg).eval()
    images = torch.rand(1, 3, *args.shape)
    distiller = model.distiller
    student_feats, teacher_feats = model.probe_features(images)
    sizes = [tuple(t.shape[-2:]) for t in teacher_feats]
    rows = [('student', complexity(model.student, (images, ))),
            ('teacher', complexity(model.teacher, (images, ))),
            ('connector', complexity(distiller.connector, (student_feats, sizes)))]
    print(f'input 1x3x{args.shape[0]}x{args.shape[1]}, whole networks in tensor mode')
    print(f'{"part":<10} {"params (M)":>11} {"GFLOPs":>8}')
    for name, (params, flops) in rows:
        print(f'{name:<10} {params / 1e6:>11.3f} {flops / 1e9:>8.3f}')
    (_, (sp, sf)), _, (_, (cp, cf)) = rows
    print(f'connector / student: params {cp / sp:.1%}, FLOPs {cf / sf:.1%}')


if __name__ == '__main__':
    main()
