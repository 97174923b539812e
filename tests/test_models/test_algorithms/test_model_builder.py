"""build_task_model: models of a config as the task's own tools build them."""
from rkd.models.algorithms.model_builder import build_task_model


def test_two_models_of_a_backbone_with_a_shared_default_list_keep_their_own(mmpretrain_scope):
    """mmpretrain's HiViT writes its last stage into the default ``out_indices`` list of its
    signature: a second HiViT built in the process (the teacher) rewrote the first's."""
    def hivit(arch: str) -> dict:
        return dict(type='ImageClassifier', backbone=dict(type='HiViT', arch=arch, img_size=64),
                    head=dict(type='LinearClsHead', num_classes=4, in_channels=384))

    student = build_task_model(hivit('tiny'))
    build_task_model(hivit('small'))
    assert student.backbone.out_indices == [student.backbone.depths[-1] - 1] == [9]
