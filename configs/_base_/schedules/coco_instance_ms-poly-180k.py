# COCO instance segmentation with the paper's recipe: the data, schedule and runtime of
# coco_detection_ms-180k.py, with polygon masks loaded next to the boxes and both bbox and segm
# evaluated, the only changes of mmdet's common/ms-poly-90k_coco-instance.py over
# common/ms-90k_coco.py. (Those two cannot both be bases of one file: mmengine refuses a key
# that two bases set, and each of them sets the whole schedule.)
_base_ = './coco_detection_ms-180k.py'


def with_polygon_masks(pipeline):
    """The pipeline with its LoadAnnotations loading the instance masks too, as polygons."""
    return [
        dict(step, with_mask=True, poly2mask=False) if step['type'] == 'LoadAnnotations' else step
        for step in pipeline
    ]


# Each list is rewritten where it stands: the dataloaders hold their own copies of the pipelines.
train_pipeline = with_polygon_masks(_base_.train_pipeline)
test_pipeline = with_polygon_masks(_base_.test_pipeline)
train_dataloader = dict(
    dataset=dict(pipeline=with_polygon_masks(_base_.train_dataloader.dataset.pipeline)))
val_dataloader = dict(
    dataset=dict(pipeline=with_polygon_masks(_base_.val_dataloader.dataset.pipeline)))
test_dataloader = val_dataloader
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator
