# The ReviewKD distillation every COCO pair (configs/coco/reviewkd_*.py) shares: the five FPN
# levels of both necks (an FPN returns its levels as one tuple: each recorder yields all five,
# shallow -> deep), ABF mid channels 256, the paper's HCL pyramid, no warm-up. A pair inherits this
# file beside its student's config, sets its loss weight in `_base_.reviewkd` and makes it the
# model:
#     model = dict(_base_.pop('reviewkd'), _delete_=True, student=_base_.model, teacher=...)
# rkd's runtime (imports, hooks) comes with this file.
_base_ = ['../rkd_runtime.py']

reviewkd = dict(
    type='rkd.SingleTeacherDistill',
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        student_recorders=['neck'],
        teacher_recorders=['neck'],
        connector=dict(type='rkd.ABFConnector', mid_channels=256),
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0)))
