"""Every command the documentation shows runs, in a short version, so the docs cannot drift.

The commands are the lines of the ```bash blocks of README.md, docs/*.md and configs/*/README.md
(a trailing backslash continues a line; `# ...` comments are dropped). Each one must be a key of
COMMANDS, which says how it is checked; a documented command missing there fails
test_every_documented_command_is_known, an entry no document shows any more fails too.

How a command is checked:
- Make: `make demo`, `make test`, `make install` install and run everything, so they are not run
  here (tests/test_demo runs the demo's quick mode); the Makefile must have the target.
- Run: the tool runs in this process (its own argument parser, through runpy) on the digits data
  with tiny overrides (1 epoch, 20 images); placeholders such as CONFIG and CHECKPOINT become the
  digits configs and the checkpoints of these short runs. Commands on the digits configs train.
  Output a page shows (docs/own_model.md's list_features.py table) must still be printed.
- Build: commands on data we do not have (CIFAR-100, ImageNet): the config loads as
  tools/train.py loads it and the Runner builds it, model included (the teacher without its
  checkpoint, which would be downloaded or trained first); the data are never read.
- Load: the COCO, Cityscapes and ADE20K configs load with all their mmdet/mmseg bases. Building
  their R101 teachers costs tens of seconds each here; tests/test_configs builds every one of
  them and trains it one step with light networks.
- Script: launcher lines for GPUs, nodes or Slurm: the script passes `bash -n` and reads every
  variable the line sets; the CPU line of docs/distributed.md runs, with 2 gloo processes.
- Environment: the set-up lines of a GPU machine (venv, the CUDA torch wheel): the test runs in
  a virtual environment whose torch and torchvision are the versions the line pins.
"""
import contextlib
import io
import os
import re
import runpy
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple
from unittest import mock

import pytest
from mmengine.config import Config

REPO = Path(__file__).parents[1]
DOCS = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md')),
        *sorted((REPO / 'configs').glob('*/README.md'))]
# A python block of the docs that starts with this comment is a config file the docs' commands
# use: the test writes it there, under its own directory.
CONFIG_FILE = re.compile(r'^# (my_configs/[\w.-]+\.py)$')

# 1 epoch on 20 images of digits (the demo's --quick sizes).
TINY = ('train_cfg.max_epochs=1 param_scheduler.end=1 train_dataloader.dataset.num_train=20 '
        'val_dataloader.dataset.indices=20 test_dataloader.dataset.indices=20')
DIGITS = 'configs/digits'
TEACHER_RUN = f'tools/train.py {DIGITS}/resnet32_digits.py --work-dir {{tmp}}/teacher ' \
              f'--cfg-options {TINY}'
TEACHER_CKPT = '{tmp}/teacher/epoch_1.pth'
DISTILL_RUN = (f'tools/train.py {DIGITS}/reviewkd_resnet32_resnet8_digits.py --work-dir '
               f'{{tmp}}/reviewkd --cfg-options {TINY} model.distiller.warmup.length=1 '
               f'model.teacher.checkpoint={TEACHER_CKPT}')
DDP_RUN = (f'tools/dist_train.sh {DIGITS}/resnet8_digits.py 2 --work-dir {{tmp}}/ddp '
           f'--cfg-options {TINY}')


class Check:
    """How one documented command is checked; ``{tmp}`` in its strings is the test's folder."""

    def check(self, tmp: Path) -> None:
        raise NotImplementedError


class Make(Check):

    def __init__(self, target: str):
        self.target = target

    def check(self, tmp):
        targets = re.findall(r'^([\w-]+):', (REPO / 'Makefile').read_text(), flags=re.MULTILINE)
        assert self.target in targets, f'the Makefile has no target {self.target}: {targets}'


class Run(Check):
    """A tool run in this process, after the runs it needs; each distinct run happens once.

    ``prints``: a document whose first ```text block is this run's output, shortened: each of
    its lines but ``...`` must be a line the run prints.
    """
    printed: Dict[str, List[str]] = {}

    def __init__(self, command: str, needs: Tuple[str, ...] = (), makes: Tuple[str, ...] = (),
                 prints: str = None):
        self.command, self.needs, self.makes, self.prints = command, needs, makes, prints

    def check(self, tmp):
        for command in self.needs:
            run_once(command, tmp)
        run_once(self.command, tmp, capture=bool(self.prints))
        for path in self.makes:
            assert Path(path.format(tmp=tmp)).is_file(), f'{self.command} wrote no {path}'
        if self.prints:
            shown = code_blocks(REPO / self.prints, 'text')[0].splitlines()
            printed = set(Run.printed[self.command])
            stale = [line for line in shown
                     if line.strip() != '...' and line.rstrip() not in printed]
            assert not stale, f'{self.prints} shows lines {self.command} no longer prints: {stale}'


class Load(Check):
    """The config and every base it names load (mmdet::, mmseg:: included)."""

    def __init__(self, config: str, script: str = None):
        self.config, self.script = config, script

    def check(self, tmp):
        if self.script:
            bash_syntax(self.script)
        cfg = Config.fromfile(str(REPO / self.config))
        assert cfg.model.type == 'rkd.SingleTeacherDistill' or 'student' not in cfg.model
        assert cfg.train_dataloader.dataset and cfg.train_cfg


class Build(Load):
    """The config loads and the Runner builds (model included), as tools/train.py would."""

    def check(self, tmp):
        from rkd.apis import build_runner, load_config
        from rkd.utils import register_all_modules
        if self.script:
            bash_syntax(self.script)
        register_all_modules(init_default_scope=False)
        cfg = load_config(self.config.format(tmp=tmp), None,
                          str(tmp / 'build' / Path(self.config).stem))
        if 'teacher' in cfg.model:
            cfg.model.teacher.checkpoint = None
        runner = build_runner(cfg)
        assert type(runner.model).__name__ in ('SingleTeacherDistill', 'ImageClassifier')


class Script(Check):
    """A launcher line we cannot run here (GPUs, nodes, Slurm): its script parses and reads every
    variable the line sets."""

    def __init__(self, command: str):
        self.command = command

    def check(self, tmp):
        words = shlex.split(self.command)
        assigned = [w.split('=')[0] for w in words if re.match(r'^[A-Z_]+=', w)]
        script = next(w for w in words if w.startswith('tools/'))
        bash_syntax(script)
        text = (REPO / script).read_text()
        assert assigned, self.command
        for name in assigned:
            assert '${' + name in text, f'{script} does not read {name}'


class ScriptRun(Check):
    """A launcher line that runs here (torchrun with gloo on CPU), in a subprocess."""
    done: Dict[str, None] = {}

    def __init__(self, command: str):
        self.command = command

    def check(self, tmp):
        if self.command in ScriptRun.done:
            return
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        env = dict(os.environ, PORT=str(port), OMP_NUM_THREADS='1')
        env['PATH'] = f'{Path(sys.executable).parent}:{env["PATH"]}'  # the venv's torchrun
        proc = subprocess.run(['bash', *shlex.split(self.command.format(tmp=tmp))], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        ScriptRun.done[self.command] = None


class Environment(Check):
    """The set-up lines of a GPU machine: this test runs in the environment they describe."""

    def __init__(self, pins: Dict[str, str] = None):
        self.pins = pins or {}

    def check(self, tmp):
        assert sys.prefix != sys.base_prefix, 'the tests run outside a virtual environment'
        for module, version in self.pins.items():
            installed = __import__(module).__version__.split('+')[0]
            assert installed == version, f'{module} {installed} installed, the docs pin {version}'


def bash_syntax(script: str) -> None:
    subprocess.run(['bash', '-n', str(REPO / script)], check=True)


def run_once(command: str, tmp: Path, capture: bool = False) -> None:
    """Run ``tools/<script> args`` in this process, as ``python tools/<script> args`` would;
    with ``capture``, keep the lines it prints (a tool that only prints: loggers created while
    stdout is redirected would keep writing there)."""
    if command in Run.printed:
        return
    argv = shlex.split(command.format(tmp=tmp))
    out = io.StringIO()
    with mock.patch.object(sys, 'argv', argv), mock.patch.dict(os.environ), \
            contextlib.redirect_stdout(out) if capture else contextlib.nullcontext():
        try:
            runpy.run_path(str(REPO / argv[0]), run_name='__main__')
        except SystemExit as exit_:
            assert exit_.code in (None, 0), f'{command} exited with {exit_.code}'
    Run.printed[command] = [line.rstrip() for line in out.getvalue().splitlines()]


PY = '.venv/bin/python '
MY = '{tmp}/my_configs'
OWN = 'my_configs/reviewkd_resnet50_mobilenetv2_in1k.py'
CIFAR_TEACHER = 'configs/cifar100/resnet32x4_cifar100.py'
CIFAR_PAIR = 'configs/cifar100/reviewkd_resnet32x4_resnet8x4_cifar100.py'
IN1K_PAIR = 'configs/imagenet/reviewkd_resnet34_resnet18_in1k.py'
COCO_PAIR = 'configs/coco/reviewkd_faster-rcnn_r101_r18_fpn_ms-180k_coco.py'
PSP_PAIR = ('configs/cityscapes/'
            'reviewkd_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
ADE_PAIR = 'configs/ade20k/reviewkd_segformer_mit-b4_segformer_mit-b0_8xb2-160k_ade20k-512x512.py'
DIGITS_TEACHER_CMD = PY + f'tools/train.py {DIGITS}/resnet32_digits.py'
DIGITS_PAIR_CMD = PY + f'tools/train.py {DIGITS}/reviewkd_resnet32_resnet8_digits.py'

# Every documented command (whitespace normalised) -> how it is checked.
COMMANDS: Dict[str, Check] = {
    # README.md, docs/get_started.md
    'make demo': Make('demo'),
    'make test': Make('test'),
    'make install': Make('install'),
    'python3 -m venv .venv': Environment(),
    '.venv/bin/pip install torch==2.14.1 torchvision==0.29.1 --index-url '
    'https://download.pytorch.org/whl/cu130': Environment(
        dict(torch='2.14.1', torchvision='0.29.1')),
    PY + f'tools/train.py {IN1K_PAIR}': Build(IN1K_PAIR),
    PY + 'tools/test.py CONFIG CHECKPOINT [--out preds.pkl] [--show-dir vis]': Run(
        f'tools/test.py {DIGITS}/reviewkd_resnet32_resnet8_digits.py {{tmp}}/reviewkd/epoch_1.pth '
        f'--work-dir {{tmp}}/test_any --out {{tmp}}/preds.pkl --show-dir {{tmp}}/vis '
        f'--cfg-options {TINY} model.teacher.checkpoint={TEACHER_CKPT}',
        needs=(TEACHER_RUN, DISTILL_RUN), makes=('{tmp}/preds.pkl', )),
    PY + 'tools/export_student.py work_dirs/.../epoch_100.pth student.pth': Run(
        'tools/export_student.py {tmp}/reviewkd/epoch_1.pth {tmp}/exported.pth',
        needs=(TEACHER_RUN, DISTILL_RUN), makes=('{tmp}/exported.pth', )),
    PY + f'tools/train.py {CIFAR_TEACHER}': Build(CIFAR_TEACHER),
    PY + f'tools/train.py {CIFAR_PAIR}': Build(CIFAR_PAIR),
    PY + 'tools/train.py configs/cifar100/resnet8x4_cifar100.py': Build(
        'configs/cifar100/resnet8x4_cifar100.py'),
    # docs/get_started.md, configs/digits/README.md
    DIGITS_TEACHER_CMD: Run(TEACHER_RUN, makes=(TEACHER_CKPT, )),
    DIGITS_PAIR_CMD: Run(DISTILL_RUN, needs=(TEACHER_RUN, ),
                         makes=('{tmp}/reviewkd/student.pth', )),
    PY + f'tools/test.py {DIGITS}/resnet8_digits.py '
    'work_dirs/reviewkd_resnet32_resnet8_digits/student.pth': Run(
        f'tools/test.py {DIGITS}/resnet8_digits.py {{tmp}}/reviewkd/student.pth --work-dir '
        f'{{tmp}}/test_student --cfg-options {TINY}', needs=(TEACHER_RUN, DISTILL_RUN)),
    PY + f'tools/test.py {DIGITS}/reviewkd_resnet32_resnet8_digits.py '
    'work_dirs/reviewkd_resnet32_resnet8_digits/epoch_60.pth': Run(
        f'tools/test.py {DIGITS}/reviewkd_resnet32_resnet8_digits.py {{tmp}}/reviewkd/epoch_1.pth '
        f'--work-dir {{tmp}}/test_pair --cfg-options {TINY} '
        f'model.teacher.checkpoint={TEACHER_CKPT}', needs=(TEACHER_RUN, DISTILL_RUN)),
    PY + 'tools/train.py my_configs/reviewkd_resnet32_resnet14_digits.py': Run(
        f'tools/train.py {MY}/reviewkd_resnet32_resnet14_digits.py --work-dir {{tmp}}/r14 '
        f'--cfg-options {TINY} model.teacher.checkpoint={TEACHER_CKPT}', needs=(TEACHER_RUN, ),
        makes=('{tmp}/r14/student.pth', )),
    PY + f'tools/analysis_tools/visualize_abf.py {DIGITS}/reviewkd_resnet32_resnet8_digits.py '
    'work_dirs/reviewkd_resnet32_resnet8_digits/epoch_60.pth IMAGE --out-dir work_dirs/abf_vis':
    Run(f'tools/analysis_tools/visualize_abf.py {DIGITS}/reviewkd_resnet32_resnet8_digits.py '
        '{tmp}/reviewkd/epoch_1.pth {tmp}/digit.png --out-dir {tmp}/abf_vis --cfg-options '
        f'model.teacher.checkpoint={TEACHER_CKPT}', needs=(TEACHER_RUN, DISTILL_RUN),
        makes=tuple(f'{{tmp}}/abf_vis/level_{i}.png' for i in range(4))),
    # docs/own_model.md
    PY + f'tools/analysis_tools/list_features.py {OWN} --input-size 64 64': Run(
        f'tools/analysis_tools/list_features.py {{tmp}}/{OWN} --input-size 64 64',
        prints='docs/own_model.md'),
    PY + f'tools/train.py {OWN}': Build('{tmp}/' + OWN),
    PY + f'tools/analysis_tools/list_features.py {COCO_PAIR} --input-size 128 128': Run(
        f'tools/analysis_tools/list_features.py {COCO_PAIR} --input-size 64 64'),
    PY + f'tools/analysis_tools/list_features.py {PSP_PAIR} --model student': Run(
        f'tools/analysis_tools/list_features.py {PSP_PAIR} --model student'),
    # docs/faq.md
    f'python tools/train.py {CIFAR_PAIR} --cfg-options model.teacher.bn_mode=eval': Build(
        CIFAR_PAIR),
    # docs/reproducing.md, configs/*/README.md
    f'tools/dist_train.sh {IN1K_PAIR} 8': Build(IN1K_PAIR, script='tools/dist_train.sh'),
    f'tools/dist_train.sh {COCO_PAIR} 4': Load(COCO_PAIR, script='tools/dist_train.sh'),
    'tools/dist_train.sh configs/coco/faster-rcnn_r18_fpn_ms-180k_coco.py 4': Load(
        'configs/coco/faster-rcnn_r18_fpn_ms-180k_coco.py', script='tools/dist_train.sh'),
    f'tools/dist_train.sh {PSP_PAIR} 4': Load(PSP_PAIR, script='tools/dist_train.sh'),
    f'tools/dist_train.sh {ADE_PAIR} 8': Load(ADE_PAIR, script='tools/dist_train.sh'),
    # docs/distributed.md
    'tools/dist_train.sh CONFIG 8 [train.py options]': ScriptRun(DDP_RUN),
    'NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_train.sh CONFIG 8': Script(
        'NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_train.sh CONFIG 8'),
    'GPUS=16 GPUS_PER_NODE=8 tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [options]':
    Script('GPUS=16 GPUS_PER_NODE=8 tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR'),
    f'tools/dist_train.sh {DIGITS}/resnet8_digits.py 2 --work-dir work_dirs/resnet8_digits_ddp':
    ScriptRun(DDP_RUN),
}


def code_blocks(path: Path, language: str) -> List[str]:
    # blocks may be indented (inside a list item)
    return re.findall(rf'^[ \t]*```{language}\n(.*?)^[ \t]*```', path.read_text(),
                      flags=re.M | re.S)


def commands(block: str) -> List[str]:
    """The command lines of a bash block: continuations joined, comments dropped."""
    lines, current = [], ''
    for line in block.splitlines():
        line = line.rstrip()
        if line.endswith('\\'):
            current += line[:-1] + ' '
            continue
        line = re.sub(r'\s+#.*$', '', current + line).strip()
        current = ''
        if line and not line.startswith('#'):
            lines.append(' '.join(line.split()))
    return lines


def documented() -> Dict[str, str]:
    """Every documented command -> the first file that shows it."""
    found = {}
    for path in DOCS:
        for block in code_blocks(path, 'bash'):
            for command in commands(block):
                found.setdefault(command, str(path.relative_to(REPO)))
    return found


DOCUMENTED = documented()


@pytest.fixture(scope='module')
def tmp(tmp_path_factory):
    """The test's folder: the docs' own config files under my_configs/, next to a link to the
    repository's configs/ (their `_base_` paths are relative), and an image (a digit)."""
    from PIL import Image
    from sklearn.datasets import load_digits
    root = tmp_path_factory.mktemp('docs')
    digit = (load_digits().images[0] * 255 / 16).astype('uint8')
    Image.fromarray(digit).convert('RGB').resize((32, 32)).save(root / 'digit.png')
    (root / 'configs').symlink_to(REPO / 'configs')
    (root / 'my_configs').mkdir()
    for path in DOCS:
        for block in code_blocks(path, 'python'):
            match = CONFIG_FILE.match(block.splitlines()[0])
            if match:
                (root / match.group(1)).write_text(block)
    return root


def test_every_documented_command_is_known():
    unknown = {c: f for c, f in DOCUMENTED.items() if c not in COMMANDS}
    assert not unknown, ('documented commands tests/test_docs.py does not check; add each to '
                         f'COMMANDS with its short form: {unknown}')
    stale = set(COMMANDS) - set(DOCUMENTED)
    assert not stale, f'COMMANDS entries no document shows any more: {stale}'


def test_documented_config_files_load(tmp, monkeypatch):
    monkeypatch.chdir(REPO)
    written = sorted((tmp / 'my_configs').glob('*.py'))
    assert [p.name for p in written] == ['reviewkd_resnet32_resnet14_digits.py',
                                         'reviewkd_resnet50_mobilenetv2_in1k.py']
    for path in written:
        assert Config.fromfile(str(path)).model.type == 'rkd.SingleTeacherDistill'
    # get_started.md's student override reaches the student that trains
    from rkd.apis import build_runner, load_config
    from rkd.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = load_config(str(written[0]), None, str(tmp / 'build' / 'r14'))
    cfg.model.teacher.checkpoint = None
    backbone = build_runner(cfg).model.student.backbone
    assert [len(getattr(backbone, f'layer{i}')) for i in (1, 2, 3)] == [2, 2, 2]  # (14 - 2) / 6


# The torchrun runs start two processes (half a minute here): slow, as tests/test_tools' DDP test.
@pytest.mark.parametrize('command', [
    pytest.param(command, marks=pytest.mark.slow, id=command[:70])
    if isinstance(check, ScriptRun) else pytest.param(command, id=command[:70])
    for command, check in COMMANDS.items()
])
def test_documented_command_runs(command, tmp, monkeypatch):
    monkeypatch.chdir(REPO)  # the docs run every command from the repository root
    COMMANDS[command].check(tmp)


def test_metafiles_list_every_distillation_config():
    """Each config folder's metafile.yml (OpenMMLab model-index) names every ReviewKD config of
    the folder, and says where its results come from."""
    from mmengine.fileio import load
    for folder in sorted(p.parent for p in (REPO / 'configs').glob('*/README.md')):
        meta = load(str(folder / 'metafile.yml'))
        names = [m['Name'] for m in meta['Models']]
        assert sorted(names) == sorted(p.stem for p in folder.glob('reviewkd_*.py')), folder
        for model in meta['Models']:
            assert (REPO / model['Config']).is_file(), model['Config']
            assert model['In Collection'] in [c['Name'] for c in meta['Collections']]
            assert 'Weights' not in model, 'rkd publishes no checkpoints'
            assert 'Results Source' in model['Metadata'], model['Name']
