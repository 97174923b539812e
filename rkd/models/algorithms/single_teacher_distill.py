"""The model the runner sees: a trained student distilled from one frozen teacher."""
import traceback
from contextlib import nullcontext
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel

from rkd.checkpoint import load_weights
from rkd.registry import MODELS

from ..distillers import BaseDistiller
from .batch_of_one import explained_batch_of_one
from .feature_teacher import FeatureTeacher
from .folded_bn import BNFolding, find_pairs
from .memory_format import (LOGGED_CHANNELS_LAST, channels_last_batch, check_channels_last,
                            explained_layout_errors)
from .model_builder import build_task_model, initialise_for_probe
from .probe_state import probing, stops_at_features
from .stride_pairing import AUTO, pair_levels
from .synthetic_batch import synthetic_batch, synthetic_samples
from .teacher_bn import check_bn_mode, teacher_bn_mode
from .teacher_inputs import TeacherRenormalizer
from .teacher_model import NETWORK_KEYS, build_teacher_model, has_own_preprocessor
from .teacher_precision import cast_teacher, teacher_dtype, to_dtype
from .teacher_state import leave_teacher_out_of_state_dict

# The log name of a student loss called just ``loss``, the name of mmengine's total.
STUDENT_LOSS = 'loss_student'
# Keys of the teacher dict that say which weights it has.
WEIGHT_KEYS = ('checkpoint', 'strict')
# Keys of the teacher dict that say how it runs.
RUN_KEYS = ('bn_mode', 'dtype', 'fold_bn', 'channels_last')


@MODELS.register_module()
class SingleTeacherDistill(BaseModel):
    """Trains ``student`` with its own losses plus a distiller's loss against a frozen teacher.

    ``forward(mode='predict' | 'tensor')`` is the student alone, so each task's val/test loops,
    metrics and visualizers work unchanged; ``mode='loss'`` runs the teacher (no grad, eval mode,
    only as far as its recorded features), the student's ``loss`` and the distiller.

    Args:
        student: the student's model dict, or the path of a config file with a ``model``.
        teacher: ``dict(config=<model dict or config path>, checkpoint=<path or None>)``, and
            optionally ``bn_mode``: ``'eval'`` (default) normalises with the teacher's stored
            BN statistics; ``'batch_stats'`` with each batch's, as the official ReviewKD CIFAR
            code's teacher, its stored statistics untouched and every other layer in eval
            (``teacher_bn.py``). A teacher of another task may be its backbone (and neck)
            alone: ``headless=True`` keeps those of ``config``, or ``dict(backbone=...,
            neck=..., data_preprocessor=..., checkpoint=...)`` names them; its checkpoint is
            a run's (``backbone.*``, the head's entries left out) or a bare backbone's
            (:class:`FeatureTeacher`). Its forward is made cheaper by ``fold_bn`` (default
            True): with ``bn_mode='eval'``, each BN layer that only normalises a convolution's
            output is folded into that convolution for the teacher's forward, the same
            features up to float rounding, its modules and state dict unchanged
            (``folded_bn.py``); and, opt-in, ``dtype='bfloat16'`` or ``'float16'``: the
            teacher is cast to that dtype once and run in it, its features returned in the
            student's float32, with that dtype's rounding (about 1e-2 relative for bfloat16;
            for GPUs: a CPU without native bfloat16 emulates it, slower than float32;
            ``teacher_precision.py``); ``channels_last=True`` (opt-in) puts the teacher's
            weights, hence its activations, in that memory format (``channels_last`` below
            does it for every network).
        distiller: config of the distiller (``rkd.ReviewKDDistiller``, or any
            ``BaseDistiller``).
        data_preprocessor: the config's top-level preprocessor, which the Runner hands to the
            model it builds: the student's, unless the student dict has its own (as for a plain
            task model). Both networks get the batch it makes; when the teacher's own
            preprocessor (from its config file, or its model dict if that has one) normalises
            differently, the teacher's copy is re-normalised on the fly
            (:class:`TeacherRenormalizer`).
        student_overrides: merged into the student's model dict as a child config merges
            into its base, e.g. ``dict(head=dict(num_classes=10))`` for a student taken as
            ``{{_base_.model}}``; the teacher dict takes ``overrides`` likewise.
        probe_input_shape: (C, H, W) of the random batch (with data samples of the student's
            task) run through both networks at build time, as a training step runs them, to
            read the channels of the recorded features; any size the networks accept.
        channels_last: opt-in: the student, the teacher and the distiller hold their 4-D
            weights in the channels_last memory format and every batch is converted to it, so
            their convolutions read and write (N, H, W, C)-ordered maps, which oneDNN's CPU
            convolutions (and GPU tensor cores) run faster; the same values up to float
            rounding (``memory_format.py``). Off by default: a model that needs contiguous
            maps (a ``.view`` of one, some mmcv ops) cannot run in it and is refused at build.
    """

    def __init__(self,
                 student: Union[str, dict],
                 teacher: dict,
                 distiller: dict,
                 data_preprocessor: Optional[dict] = None,
                 probe_input_shape: Sequence[int] = (3, 64, 64),
                 student_overrides: Optional[dict] = None,
                 channels_last: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        if len(probe_input_shape) != 3:
            raise ValueError(f'probe_input_shape must be (C, H, W), got {probe_input_shape}')
        student_model = build_task_model(student, data_preprocessor, student_overrides)
        initialise_for_probe(student_model, runner_inits_again=True)
        # One preprocessor, one batch for both networks: same images, padding and size.
        super().__init__(data_preprocessor=student_model.data_preprocessor, init_cfg=init_cfg)
        self.student = student_model
        teacher = dict(teacher)
        self.teacher_bn_mode = check_bn_mode(teacher.pop('bn_mode', 'eval'))
        dtype = teacher.pop('dtype', None)
        cast_to = teacher_dtype(dtype)
        fold_bn = _check_flag(teacher.pop('fold_bn', True), 'model.teacher.fold_bn')
        teacher_channels_last = _check_flag(teacher.pop('channels_last', False),
                                            'model.teacher.channels_last')
        self.channels_last = _check_flag(channels_last, 'model.channels_last')
        # The build's probes run the teacher as built (stride pairing runs it directly).
        self.teacher_dtype: Optional[torch.dtype] = None
        self.teacher_folding: Optional[BNFolding] = None
        self.teacher = self._build_teacher(teacher)
        if teacher.get('checkpoint') is not None:  # else only the checkpoints can restore it
            leave_teacher_out_of_state_dict(self)
        # A teacher without a preprocessor of its own shares the student's.
        self.teacher_renormalizer = TeacherRenormalizer.between(
            self.data_preprocessor, self.teacher.data_preprocessor) \
            if has_own_preprocessor(teacher) else None
        self.distiller: BaseDistiller = MODELS.build(
            self._paired_automatically(distiller, tuple(probe_input_shape)))
        self.distiller.student_recorders.bind(self.student)
        self.distiller.teacher_recorders.bind(self.teacher)
        self._teacher_stops_at_features = stops_at_features(
            self.distiller.teacher_recorders.sources)
        self._prepare_distiller(tuple(probe_input_shape))
        self._check_trainable()
        # batch statistics change with every batch: nothing to fold
        if fold_bn and self.teacher_bn_mode == 'eval':
            self.teacher_folding = self._fold_teacher_bn()
        if cast_to is not None:
            cast_teacher(self.teacher, cast_to)
            self.teacher_dtype = cast_to
            print_log(f'model.teacher.dtype={dtype!r}: the '
                      'teacher runs in that dtype (cast once; its inputs at each forward) and '
                      'its features reach the connector and loss in float32, with that dtype\'s '
                      'rounding.', logger='current')
        if self.channels_last:
            check_channels_last(self)
            self.to(memory_format=torch.channels_last)
            self._probe_channels_last(tuple(probe_input_shape))
            print_log(LOGGED_CHANNELS_LAST, logger='current')
        elif teacher_channels_last:
            self.teacher.to(memory_format=torch.channels_last)

    @staticmethod
    def _build_teacher(spec: dict) -> BaseModel:
        unknown = set(spec) - {*NETWORK_KEYS, *WEIGHT_KEYS}
        if unknown:
            raise ValueError(f'Unknown key(s) {sorted(unknown)} in model.teacher: it takes '
                             f'{", ".join((*NETWORK_KEYS, *WEIGHT_KEYS, *RUN_KEYS))}.')
        teacher = build_teacher_model(spec)
        checkpoint = spec.get('checkpoint')
        if checkpoint is None:
            # initialised as its config says, minus pretrained parts (nothing downloaded): a
            # random teacher is for smoke tests
            initialise_for_probe(teacher, runner_inits_again=False)
            print_log('The teacher has no checkpoint (model.teacher.checkpoint=None): it is '
                      'randomly initialised and teaches nothing. Fine for smoke tests; to '
                      'distil, set the checkpoint of a trained teacher.', logger='current',
                      level=30)
        elif isinstance(teacher, FeatureTeacher):
            load_weights(teacher, checkpoint, 'teacher checkpoint', spec.get('strict', True),
                         entries=teacher.checkpoint_entries, hint=FeatureTeacher.CHECKPOINT_HINT)
        else:
            load_weights(teacher, checkpoint, 'teacher checkpoint', spec.get('strict', True))
        # The runner calls init_weights() on the whole model after building it; the teacher
        # is already what it will be.
        teacher.is_init = True
        teacher.requires_grad_(False)
        return teacher.eval()

    def _fold_teacher_bn(self) -> Optional[BNFolding]:
        """The teacher's foldable conv-BN pairs, those a recorder reads inside left out."""
        group = self.distiller.teacher_recorders
        recorded = [(r.source, r.io) for r in (*group.recorders, *group.named.values())]
        pairs = find_pairs(self.teacher, recorded)
        if not pairs:
            return None
        print_log(f'The teacher\'s forward folds {len(pairs)} BN layers into the convolutions '
                  'before them (model.teacher.fold_bn; the same features up to float '
                  'rounding, its state dict unchanged).', logger='current')
        return BNFolding(pairs)

    def _paired_automatically(self, distiller: dict, probe_input_shape: tuple) -> dict:
        """``distiller`` with its ``'auto'`` recorders replaced by the levels paired by stride
        (``stride_pairing.py``), the pairing logged as a table and as config lines."""
        student, teacher = (distiller.get(key) for key in ('student_recorders',
                                                           'teacher_recorders'))
        if AUTO not in (student, teacher):
            return distiller
        pairing = pair_levels(self.student, self.teacher, probe_input_shape, student, teacher)
        print_log('\n'.join([
            f'ReviewKD levels paired by stride (\'auto\', {pairing.input_size[0]}x'
            f'{pairing.input_size[1]} probe input):', *pairing.table(),
            'To freeze this pairing, set in model.distiller:', *pairing.config_lines()]),
            logger='current')
        if len(pairing.student) == 1 and (pairing.dropped_student or pairing.dropped_teacher):
            print_log(f'\'auto\' paired one level only, the student\'s '
                      f'{pairing.student[0].describe()} with the teacher\'s '
                      f'{pairing.teacher[0].describe()}: the other levels have no level of '
                      'their stride on the other side (a vision transformer\'s are all at its '
                      'patch stride), and ReviewKD reviews several. To distil them, list the '
                      'recorders of both networks: listed levels pair in order, and ABF '
                      'resizes each student map to its teacher\'s.', logger='current', level=30)
        return dict(distiller, student_recorders=pairing.student_recorders,
                    teacher_recorders=pairing.teacher_recorders)

    def _prepare_distiller(self, probe_input_shape: tuple) -> None:
        channels, *size = probe_input_shape
        mean = getattr(self.data_preprocessor, 'mean', None)
        if mean is not None and mean.numel() not in (1, channels):
            raise ValueError(
                f'probe_input_shape {probe_input_shape} has {channels} channels, but the '
                f'student\'s data preprocessor normalises {mean.numel()}: set probe_input_shape='
                f'({mean.numel()}, {size[0]}, {size[1]}).')
        inputs, data_samples = synthetic_batch(self.student, 2, size, channels)
        student_feats, teacher_feats = self.probe_features(inputs, data_samples)
        self.distiller.prepare(student_feats, teacher_feats)

    def _probe_channels_last(self, probe_input_shape: tuple) -> None:
        """The teacher's forward, the student's training step and its prediction on synthetic
        channels_last batches: a model that cannot run in that layout fails at build, not at
        its first validation with a run's work behind it."""
        channels, *size = probe_input_shape
        with explained_layout_errors():
            inputs, samples = synthetic_batch(self.student, 2, size, channels)
            self.probe_features(channels_last_batch(inputs), samples)
            # heads may convert the samples of a training step in place: fresh ones
            inputs, samples = synthetic_batch(self.student, 2, size, channels)
            with probing(self.student, training=False):
                self.student(channels_last_batch(inputs), samples, mode='predict')

    def _check_trainable(self) -> None:
        """Refuse a model with nothing to train (the optimizer would get no parameter) and warn
        of a student without trainable parameters (only the connector would learn)."""
        trainable = [name for name, p in self.named_parameters() if p.requires_grad]
        # what the first optimizer step must change (rkd.StudentUpdateCheckHook)
        self.student_trainable = tuple(name[len('student.'):] for name in trainable
                                       if name.startswith('student.'))
        if not trainable:
            raise ValueError('Nothing in the distillation model is trainable: the student and '
                             'the distiller have no parameter with requires_grad=True. Check '
                             'the student\'s frozen_stages / requires_grad settings.')
        if not any(name.startswith('student.') for name in trainable):
            print_log('The student has no trainable parameter (frozen_stages or requires_grad '
                      'in its config?): only the distiller trains, and the exported student '
                      'will be the one you started from.', logger='current', level=30)

    def probe_features(self, inputs: torch.Tensor, data_samples: Optional[list] = None
                       ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """The recorded (student, teacher) features of a training step on ``inputs``, without
        touching any state.

        The student runs ``loss`` in train mode, so a recorder sees every module training
        runs (a two-stage detector's heads need data samples, an auxiliary head runs only
        there), under no gradients, with the random state restored afterwards and its
        BatchNorm layers in eval mode: they would update their running statistics, and a
        SyncBatchNorm would try to synchronise before the model is on its device.

        Args:
            inputs: a normalised batch ``(N, C, H, W)``.
            data_samples: its data samples; random ones of the student's task by default.
        """
        if data_samples is None:
            data_samples = synthetic_samples(self.student, len(inputs), inputs.shape[-2:])
        batch = (f'{len(inputs)} synthetic {tuple(inputs.shape[1:])} images with '
                 f'{type(data_samples[0]).__name__}s')
        with probing(self.student):
            teacher_feats = _probed('the teacher', batch, self.distiller.teacher_recorders,
                                    lambda: self.teacher_features(inputs, data_samples))
            student_feats = _probed('the student', batch, self.distiller.student_recorders,
                                    lambda: self.student_loss(inputs, data_samples)[1])
        return student_feats, teacher_feats

    def train(self, mode: bool = True) -> 'SingleTeacherDistill':
        """Switch the student and the distiller; the teacher stays in eval mode (BN, dropout and
        drop-path frozen) whatever is asked."""
        super().train(mode)
        self.teacher.eval()
        return self

    def teacher_features(self, inputs: torch.Tensor, data_samples: Optional[list]
                         ) -> List[torch.Tensor]:
        """The teacher's recorded features, run without gradients, only as far as needed, on
        ``inputs`` in the teacher's own normalisation, returned in the dtype of ``inputs``.

        ``no_grad``, not ``inference_mode``: the loss saves the teacher's features for its
        backward, which inference tensors refuse, and the recorders read their version
        counters, which inference tensors lack.
        """
        dtype = inputs.dtype
        # only built with bn_mode='eval'
        folded = self.teacher_folding.applied(self.teacher) \
            if self.teacher_folding is not None else nullcontext()
        with torch.no_grad(), teacher_bn_mode(self.teacher, self.teacher_bn_mode), folded, \
                self.distiller.teacher_recorders.recording() as recorded:
            if self.teacher_renormalizer is not None:
                inputs = self.teacher_renormalizer(inputs, data_samples)
            if self.teacher_dtype is not None:
                inputs = inputs.to(self.teacher_dtype)
            if self._teacher_stops_at_features:
                self.teacher.extract_feat(inputs)
            else:
                self.teacher(inputs, data_samples, mode='tensor')
            features = recorded.features()
        return features if self.teacher_dtype is None else to_dtype(features, dtype)

    def loss(self, inputs: torch.Tensor, data_samples: list) -> Dict[str, torch.Tensor]:
        """The student's own losses plus the distillation losses.

        mmengine logs the total under ``loss``; a student loss of that very name (mmpretrain's
        classifiers return one) would overwrite it in the log, so it is renamed
        ``STUDENT_LOSS``.
        """
        teacher_feats = self.teacher_features(inputs, data_samples)
        losses, student_feats = self.student_loss(inputs, data_samples)
        if 'loss' in losses:
            losses[STUDENT_LOSS] = losses.pop('loss')
        distill_losses = self.distiller(student_feats, teacher_feats)
        clash = set(losses) & set(distill_losses)
        if clash:
            raise KeyError(f'The student already returns {sorted(clash)}; set the distiller\'s '
                           '`loss_name` to another name.')
        losses.update(distill_losses)
        return losses

    def student_loss(self, inputs: torch.Tensor, data_samples: list
                     ) -> Tuple[Dict[str, torch.Tensor], List[torch.Tensor]]:
        """The student's own losses and its recorded features."""
        with self.distiller.student_recorders.recording() as recorded:
            losses = self.student.loss(inputs, data_samples)
            return losses, recorded.features()

    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        if self.channels_last:
            inputs = channels_last_batch(inputs)
        if mode == 'loss':
            with explained_batch_of_one(len(inputs)):
                return self.loss(inputs, data_samples)
        if mode in ('predict', 'tensor'):
            return self.student(inputs, data_samples, mode=mode)
        raise RuntimeError(f'Invalid mode "{mode}": use "loss", "predict" or "tensor".')


def _check_flag(value: Any, name: str) -> bool:
    """``value`` if it is a bool, else a TypeError naming the setting ``name``: a string such
    as ``'False'`` would otherwise count as true."""
    if not isinstance(value, bool):
        raise TypeError(f'{name} must be True or False, got {value!r}')
    return value


def _probed(network: str, batch: str, recorders, run: Callable[[], List[torch.Tensor]]
            ) -> List[torch.Tensor]:
    """``run()``, with any failure reported as the probe of ``network`` and its recorders."""
    try:
        return run()
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        raise RuntimeError(
            f'Building the distillation, {network} failed the probe that reads the recorded '
            f'features (a training step on {batch}, recording {recorders.sources}): '
            f'{type(error).__name__}: {error} (at {where.filename}:{where.lineno})') from error
