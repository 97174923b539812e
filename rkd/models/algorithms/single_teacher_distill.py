"""The model the runner sees: a trained student distilled from one frozen teacher."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from mmengine.runner import load_checkpoint
from mmengine.logging import print_log

from rkd.registry import MODELS
from ..distillers import ReviewKDDistiller
from .model_builder import build_task_model
from .teacher_bn import check_bn_mode, teacher_bn_mode

# Modules the task models run in ``extract_feat`` (mmpretrain, mmdet and mmseg alike): a teacher
# recorded only there stops before its head.
FEATURE_MODULES = ('backbone', 'neck')


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
            (``teacher_bn.py``).
        distiller: config of the distiller (``rkd.ReviewKDDistiller``).
        data_preprocessor: the config's top-level preprocessor, which the Runner hands to the
            model it builds: the student's, unless the student dict has its own (as for a plain
            task model). It serves both networks.
        probe_input_shape: (C, H, W) of the random batch run through both networks at build
            time to read the channels of the recorded features; any size the networks accept.
    """

    def __init__(self,
                 student: Union[str, dict],
                 teacher: dict,
                 distiller: dict,
                 data_preprocessor: Optional[dict] = None,
                 probe_input_shape: Sequence[int] = (3, 64, 64),
                 init_cfg: Optional[dict] = None) -> None:
        student_model = build_task_model(student, data_preprocessor)
        # One preprocessor for both networks: the teacher sees exactly the student's inputs.
        super().__init__(data_preprocessor=student_model.data_preprocessor, init_cfg=init_cfg)
        self.student = student_model
        teacher = dict(teacher)
        self.teacher_bn_mode = check_bn_mode(teacher.pop('bn_mode', 'eval'))
        self.teacher = self._build_teacher(**teacher)
        self.distiller: ReviewKDDistiller = MODELS.build(distiller)
        self.distiller.student_recorders.bind(self.student)
        self.distiller.teacher_recorders.bind(self.teacher)
        self._teacher_stops_at_features = all(
            source.split('.')[0] in FEATURE_MODULES
            for source in self.distiller.teacher_recorders.sources)
        self._build_connector(tuple(probe_input_shape))

    @staticmethod
    def _build_teacher(config: Union[str, dict], checkpoint: Optional[str] = None,
                       strict: bool = True) -> BaseModel:
        teacher = build_task_model(config)
        if checkpoint is None:
            print_log('The teacher has no checkpoint: it keeps its random initial weights. '
                      'This is only useful for tests.', logger='current', level=30)
        else:
            load_checkpoint(teacher, checkpoint, map_location='cpu', strict=strict)
        # The runner calls init_weights() on the whole model after building it; a loaded
        # teacher must not be re-initialised.
        teacher.is_init = True
        teacher.requires_grad_(False)
        return teacher.eval()

    def _build_connector(self, probe_input_shape: tuple) -> None:
        student_feats, teacher_feats = self.probe_features(torch.rand(2, *probe_input_shape))
        self.distiller.build_connector(student_feats, teacher_feats)

    def probe_features(self, inputs: torch.Tensor
                       ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """The recorded (student, teacher) features of ``inputs``, without touching any state:
        no gradients, and the student in eval mode so that BN statistics stay as they are."""
        student_was_training = self.student.training
        self.student.eval()
        try:
            with torch.no_grad():
                teacher_feats = self.teacher_features(inputs, None)
                with self.distiller.student_recorders.recording() as recorded:
                    self.student(inputs, mode='tensor')
                    student_feats = recorded.features()
        finally:
            self.student.train(student_was_training)
        return student_feats, teacher_feats

    def train(self, mode: bool = True) -> 'SingleTeacherDistill':
        """Switch the student and the distiller; the teacher stays in eval mode (BN, dropout and
        drop-path frozen) whatever is asked."""
        super().train(mode)
        self.teacher.eval()
        return self

    def teacher_features(self, inputs: torch.Tensor, data_samples: Optional[list]
                         ) -> List[torch.Tensor]:
        """The teacher's recorded features, run without gradients and only as far as needed."""
        with torch.no_grad(), teacher_bn_mode(self.teacher, self.teacher_bn_mode), \
                self.distiller.teacher_recorders.recording() as recorded:
            if self._teacher_stops_at_features:
                self.teacher.extract_feat(inputs)
            else:
                self.teacher(inputs, data_samples, mode='tensor')
            return recorded.features()

    def loss(self, inputs: torch.Tensor, data_samples: list) -> Dict[str, torch.Tensor]:
        """The student's own losses plus the distillation loss."""
        teacher_feats = self.teacher_features(inputs, data_samples)
        with self.distiller.student_recorders.recording() as recorded:
            losses = self.student.loss(inputs, data_samples)
            student_feats = recorded.features()
        distill_losses = self.distiller(student_feats, teacher_feats)
        clash = set(losses) & set(distill_losses)
        if clash:
            raise KeyError(f'The student already returns {sorted(clash)}; set the distiller\'s '
                           '`loss_name` to another name.')
        losses.update(distill_losses)
        return losses

    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode in ('predict', 'tensor'):
            return self.student(inputs, data_samples, mode=mode)
        raise RuntimeError(f'Invalid mode "{mode}": use "loss", "predict" or "tensor".')
