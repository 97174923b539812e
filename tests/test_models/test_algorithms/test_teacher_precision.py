"""The opt-in low-precision teacher: run in bfloat16, its features back in float32 within
bfloat16's rounding, its checkpoints and BN modes as with a float32 teacher."""
import pytest
import torch

from rkd.models.algorithms.synthetic_batch import synthetic_samples
from rkd.models.algorithms.teacher_precision import teacher_dtype
from rkd.registry import MODELS

from helpers import randomise_bn_scales, reviewkd_algorithm


def algorithm(checkpoint=None, **teacher) -> dict:
    cfg = reviewkd_algorithm(teacher_checkpoint=checkpoint)
    cfg['teacher'].update(teacher)
    return cfg


def relative_errors(got, want):
    return [float((g - w).abs().max() / w.abs().max()) for g, w in zip(got, want)]


@pytest.fixture
def teacher_checkpoint(tmp_path, mmpretrain_scope):
    """A teacher with trained-looking BN, saved as a classifier checkpoint."""
    torch.manual_seed(0)
    teacher = MODELS.build(reviewkd_algorithm()['teacher']['config'])
    randomise_bn_scales(teacher)
    path = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return str(path)


@pytest.mark.parametrize('name', ['bf16', 'float32', 'half'])
def test_unknown_dtypes_are_refused_with_the_accepted_ones(name, mmpretrain_scope):
    with pytest.raises(ValueError, match=r"\['bfloat16', 'float16'\] or None"):
        MODELS.build(algorithm(dtype=name))


def test_dtype_names():
    assert teacher_dtype(None) is None
    assert teacher_dtype('bfloat16') is torch.bfloat16
    assert teacher_dtype('float16') is torch.float16


# measured: at most 1.1e-2 (eval) and 4.5e-2 (batch statistics, of 4 images, in bfloat16)
@pytest.mark.parametrize('bn_mode, bound', [('eval', 0.03), ('batch_stats', 0.1)])
def test_bf16_features_are_float32_within_bf16_rounding(bn_mode, bound, teacher_checkpoint):
    fp32 = MODELS.build(algorithm(teacher_checkpoint, bn_mode=bn_mode))
    bf16 = MODELS.build(algorithm(teacher_checkpoint, bn_mode=bn_mode, dtype='bfloat16'))
    assert {p.dtype for p in bf16.teacher.backbone.parameters()} == {torch.bfloat16}
    assert bf16.teacher.data_preprocessor.mean.dtype == torch.float32
    torch.manual_seed(1)
    inputs = torch.randn(4, 3, 16, 16)
    want = fp32.teacher_features(inputs, None)
    got = bf16.teacher_features(inputs, None)
    assert [f.dtype for f in got] == [torch.float32] * len(want) == [f.dtype for f in want]
    errors = relative_errors(got, want)
    # bfloat16 keeps 8 significant bits (2**-8 = 0.004 a rounding); the tiny ResNet-18's
    # features end up within a few per cent, and not exactly equal: the teacher did run in it
    assert max(errors) < bound, errors
    assert min(errors) > 1e-4, errors


def test_a_bf16_teacher_trains_the_student(teacher_checkpoint):
    model = MODELS.build(algorithm(teacher_checkpoint, dtype='bfloat16')).train()
    torch.manual_seed(0)
    inputs = torch.randn(4, 3, 16, 16)
    losses = model.loss(inputs, synthetic_samples(model.student, 4, (16, 16)))
    assert losses['loss_reviewkd'].dtype == torch.float32
    total, _ = model.parse_losses(losses)
    total.backward()
    grads = [p.grad for p in model.student.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert all(p.grad is None for p in model.teacher.parameters())


def test_checkpoints_stay_strict_and_the_student_unaffected(teacher_checkpoint):
    model = MODELS.build(algorithm(teacher_checkpoint, dtype='bfloat16'))
    state = model.state_dict()
    assert not any(key.startswith('teacher.') for key in state), 'the teacher is left out'
    assert all(value.dtype != torch.bfloat16 for value in state.values())
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    resumed = MODELS.build(algorithm(teacher_checkpoint, dtype='bfloat16'))
    resumed.load_state_dict(state, strict=True)
    for key, value in resumed.teacher.state_dict().items():
        assert value.dtype == teacher_before[key].dtype
        assert torch.equal(value, teacher_before[key]), key
    for key, value in resumed.student.state_dict().items():
        assert torch.equal(value, model.student.state_dict()[key]), key
    # a float32 run's checkpoint loads into a bfloat16 run, and the other way round
    fp32 = MODELS.build(algorithm(teacher_checkpoint))
    fp32.load_state_dict(state, strict=True)
    resumed.load_state_dict(fp32.state_dict(), strict=True)


def test_the_whole_teacher_predicts_from_its_float32_preprocessor(teacher_checkpoint):
    """rkd.TeacherCheckHook runs the teacher's val_step on the preprocessor's float32 batch."""
    model = MODELS.build(algorithm(teacher_checkpoint, dtype='bfloat16'))
    images = [torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8) for _ in range(2)]
    samples = synthetic_samples(model.student, 2, (16, 16))
    predictions = model.teacher.val_step(dict(inputs=images, data_samples=samples))
    assert len(predictions) == 2 and predictions[0].pred_score.isfinite().all()
