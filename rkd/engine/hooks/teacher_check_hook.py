"""Evaluate the frozen teacher once before training: a teacher that is not better than the
student (a wrong checkpoint, another label order, its own normalisation lost) teaches nothing,
and that shows here before hours of training."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from rkd.registry import HOOKS


@HOOKS.register_module()
class TeacherCheckHook(Hook):
    """Before training, runs the teacher over the run's validation data with the run's own
    evaluator and logs its metrics as ``teacher/<metric>``, to read beside the student's first
    validation. The teacher predicts through its own data preprocessor, as it was trained.

    The loop is run here, not through ``runner.val_loop.run()``: that would call the val hooks,
    and a ``save_best`` checkpoint hook would take the teacher's figure for the student's.
    A run without validation data or evaluator, or with a teacher that has no head
    (``rkd.FeatureTeacher``), logs a warning and skips the check.
    """

    priority = 'LOW'

    def before_train(self, runner) -> None:
        loop = runner.val_loop
        if loop is None or getattr(loop, 'evaluator', None) is None:
            runner.logger.warning('TeacherCheckHook: the run has no validation loop '
                                  '(val_dataloader, val_evaluator, val_cfg): no teacher check.')
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        teacher = model.teacher
        if not callable(getattr(teacher, 'predict', None)):
            runner.logger.warning(f'TeacherCheckHook: the teacher ({type(teacher).__name__}, a '
                                  'backbone without a head) predicts nothing the validation '
                                  'metrics could score: no teacher check.')
            return
        teacher.eval()
        with torch.no_grad():
            for data in loop.dataloader:
                loop.evaluator.process(teacher.val_step(data), data)
        metrics = loop.evaluator.evaluate(len(loop.dataloader.dataset))
        figures = '  '.join(f'teacher/{key}: {value:.4f}' if isinstance(value, float)
                            else f'teacher/{key}: {value}' for key, value in metrics.items())
        runner.logger.info(f'Teacher check before training, on the validation data: {figures}')
        runner.message_hub.update_info('teacher_metrics', metrics)
