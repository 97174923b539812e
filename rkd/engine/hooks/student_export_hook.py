"""Write the student-only checkpoint when training ends."""
import os.path as osp

from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from rkd.checkpoint import save_student_checkpoint
from rkd.registry import HOOKS


@HOOKS.register_module()
class StudentExportHook(Hook):
    """After training, saves ``work_dir/<filename>``: the student's weights only, ready to load
    strictly into the plain mmpretrain/mmdet/mmseg model. A student with a NaN or infinite
    weight is refused (``NonFiniteError``) and nothing is written.

    Args:
        filename: name of the file in the work dir.
    """

    priority = 'VERY_LOW'  # after the CheckpointHook has saved the last training checkpoint

    def __init__(self, filename: str = 'student.pth') -> None:
        self.filename = filename

    @master_only
    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        out_file = osp.join(runner.work_dir, self.filename)
        meta = dict(epoch=runner.epoch, iter=runner.iter, experiment_name=runner.experiment_name)
        save_student_checkpoint(model.state_dict(), out_file, meta)
        runner.logger.info(f'The student-only checkpoint is saved to {out_file}')
