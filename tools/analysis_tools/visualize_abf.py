"""Draw what the ABF chain of a trained ReviewKD checkpoint does to one image.

Writes ``level_<i>.png`` per level into ``--out-dir``: the two attention maps of the level's ABF
(how much of the student's own map and of the deeper level's residual it keeps), and the energy
(channel mean of squares) of the student feature, the connector's output and the teacher feature.

    python tools/analysis_tools/visualize_abf.py CONFIG CHECKPOINT IMAGE --out-dir DIR
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction

from rkd.analysis.abf_visualizer import abf_maps, image_batch, save_level_figure
from rkd.apis import build_distillation, exit_on_checkpoint_error, load_config
from rkd.checkpoint import load_weights
from rkd.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Draw the ABF maps of a ReviewKD checkpoint')
    parser.add_argument('config', help='the ReviewKD config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='a training checkpoint of that config')
    parser.add_argument('image', help='an image file')
    parser.add_argument('--out-dir', required=True, help='where to write the PNGs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    with exit_on_checkpoint_error():
        model = build_distillation(cfg).eval()
        load_weights(model, args.checkpoint, 'checkpoint to visualize')
    os.makedirs(args.out_dir, exist_ok=True)
    for level, maps in enumerate(abf_maps(model, image_batch(cfg, model, args.image))):
        out_file = osp.join(args.out_dir, f'level_{level}.png')
        save_level_figure(maps, level, out_file)
        print(f'level {level}: {out_file}')


if __name__ == '__main__':
    main()
