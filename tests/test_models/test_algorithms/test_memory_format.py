"""``model.channels_last``: every network of the distillation in channels_last, the same losses
and gradients as the contiguous model, and a student that loads into the plain classifier."""
import pytest
import torch
from mmengine.registry import DefaultScope

from rkd.apis import load_student
from rkd.models.algorithms.memory_format import channels_last_batch
from rkd.models.algorithms.synthetic_batch import synthetic_batch
from rkd.registry import MODELS

from helpers import reviewkd_algorithm, tiny_classifier, write_config, write_image_folder
from tool_runs import run_tool

CHANNELS_LAST = torch.channels_last


def algorithm(**distiller) -> dict:
    """The tests' tiny pair with a 16-channel student: the 4-channel one's strided 1x1
    shortcut is one oneDNN's CPU kernel corrupts memory on in channels_last (refused below)."""
    cfg = reviewkd_algorithm(**distiller)
    cfg['student'] = tiny_classifier(base_channels=16)
    return cfg


def conv_weights(module: torch.nn.Module):
    return [p for name, p in module.named_parameters() if p.dim() == 4]


def test_every_network_and_the_batch_are_channels_last(mmpretrain_scope):
    model = MODELS.build(dict(algorithm(), channels_last=True))
    for network in (model.student, model.teacher, model.distiller):
        weights = conv_weights(network)
        assert weights and all(w.is_contiguous(memory_format=CHANNELS_LAST) for w in weights)
    seen = []
    model.student.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    model(torch.randn(2, 3, 16, 16), mode='tensor')
    assert seen[0].is_contiguous(memory_format=CHANNELS_LAST)


@pytest.mark.parametrize('impl', ['fast', 'reference'])
def test_losses_and_gradients_equal_the_contiguous_models(mmpretrain_scope, impl):
    cfg = algorithm(connector=dict(type='rkd.ABFConnector', impl=impl))
    cfg['distiller']['loss']['impl'] = impl
    torch.manual_seed(0)
    contiguous = MODELS.build(cfg)
    channels_last = MODELS.build(dict(cfg, channels_last=True))
    channels_last.load_state_dict(contiguous.state_dict())  # copies values, keeps the layout
    assert conv_weights(channels_last.student)[0].is_contiguous(memory_format=CHANNELS_LAST)
    inputs, samples = synthetic_batch(contiguous.student, 4, (16, 16))
    results = []
    for model in (contiguous, channels_last):
        losses = model(inputs.clone(), samples, mode='loss')
        loss, _ = model.parse_losses(losses)
        loss.backward()
        results.append((losses, {n: p.grad for n, p in model.named_parameters()
                                 if p.grad is not None}))
    (losses, grads), (cl_losses, cl_grads) = results
    assert set(losses) == set(cl_losses) and set(grads) == set(cl_grads)
    for name in losses:
        torch.testing.assert_close(cl_losses[name], losses[name], rtol=1e-5, atol=1e-6)
    for name in grads:
        torch.testing.assert_close(cl_grads[name], grads[name], rtol=1e-4, atol=1e-5)


def test_batches_other_than_4d_images_pass_unchanged():
    points = torch.randn(2, 5, 3)
    assert channels_last_batch(points) is points
    images = [torch.randn(3, 8, 8)]
    assert channels_last_batch(images) is images


@pytest.mark.skipif(torch.cuda.is_available(), reason='refused where only a CPU trains')
def test_a_student_that_onednn_would_corrupt_memory_on_is_refused(mmpretrain_scope):
    with pytest.raises(ValueError, match=r"model.channels_last=True cannot train this model on "
                       r"a CPU: its strided 1x1 convolution\(s\) \['student.backbone.layer2.0."
                       r"downsample.0'.*oneDNN#6035\). Set model.channels_last=False."):
        MODELS.build(dict(reviewkd_algorithm(), channels_last=True))  # a 4-channel student


class ContiguousViewNeck(torch.nn.Module):
    """Average pooling written with a ``.view`` that only a contiguous map allows."""

    def forward(self, inputs):
        x = inputs[-1]
        return (x.view(len(x), -1).view(len(x), x.shape[1], -1).mean(-1), )


def test_a_model_that_cannot_run_in_channels_last_is_refused_at_build(mmpretrain_scope):
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    MMPRETRAIN_MODELS.register_module(module=ContiguousViewNeck, force=True)
    cfg = algorithm()
    cfg['student']['neck'] = dict(type='ContiguousViewNeck')
    MODELS.build(cfg)  # contiguous, it runs
    with pytest.raises(RuntimeError, match=r'model.channels_last=True: this model does not run '
                       r'in channels_last: .*test_memory_format.py:\d+ needs a contiguous map '
                       r'\(view size is not compatible.*Set model.channels_last=False.'):
        MODELS.build(dict(cfg, channels_last=True))


@pytest.mark.parametrize('setting', ['channels_last', 'teacher.channels_last', 'teacher.fold_bn'])
def test_a_flag_that_is_not_a_bool_is_refused_at_build(mmpretrain_scope, setting):
    cfg = reviewkd_algorithm()
    if setting.startswith('teacher.'):
        cfg['teacher'] = dict(cfg['teacher'], **{setting.split('.')[1]: 'False'})
    else:
        cfg[setting] = 'False'
    with pytest.raises(TypeError, match=rf"model\.{setting} must be True or False, got 'False'"):
        MODELS.build(cfg)


@pytest.mark.slow
def test_train_py_with_channels_last_exports_a_student_for_the_plain_model(tmp_path):
    import mmpretrain.models  # noqa: F401
    from mmengine.runner import save_checkpoint
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

    write_image_folder(tmp_path / 'data')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MMPRETRAIN_MODELS.build(tiny_classifier(base_channels=8))
        student = MMPRETRAIN_MODELS.build(tiny_classifier(base_channels=16)).eval()
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(tmp_path / 'teacher.pth'))
    write_config(tmp_path / 'distill.py', tmp_path / 'data', str(tmp_path / 'teacher.pth'), 2)
    log = run_tool('train.py', str(tmp_path / 'distill.py'), '--work-dir', str(tmp_path / 'w'),
                   '--cfg-options', 'model.channels_last=True',
                   'model.student.backbone.base_channels=16', 'model.student.head.in_channels=128')
    assert 'model.channels_last=True' in log
    load_student(student, str(tmp_path / 'w' / 'student.pth'))
    assert student.backbone.conv1.weight.is_contiguous()  # the plain model's layout
    scores = student(torch.randn(2, 3, 16, 16), mode='tensor')
    assert scores.shape == (2, 4) and torch.isfinite(scores).all()
