"""load_weights: a checkpoint that does not fit is refused with what does not fit."""
import pytest
import torch
from mmengine.runner import save_checkpoint
from torch import nn

import rkd  # noqa: F401  (registers rkd's checkpoint loaders)
from rkd.checkpoint import CheckpointLoadError, load_weights


def net(width: int = 4) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.BatchNorm2d(width))


def test_a_fitting_checkpoint_loads_with_or_without_wrapper_prefix(tmp_path):
    source = net()
    state = {f'module.{key}': value for key, value in source.state_dict().items()}
    save_checkpoint(dict(state_dict=state, meta=dict(epoch=3)), str(tmp_path / 'ok.pth'))
    target = net()
    checkpoint = load_weights(target, str(tmp_path / 'ok.pth'), 'teacher checkpoint')
    assert checkpoint['meta']['epoch'] == 3
    torch.testing.assert_close(target[0].weight, source[0].weight, rtol=0, atol=0)


def test_a_bare_state_dict_loads(tmp_path):
    source, target = net(), net()
    source[1].running_mean.fill_(0.5)
    torch.save(source.state_dict(), tmp_path / 'bare.pth')
    load_weights(target, str(tmp_path / 'bare.pth'), 'checkpoint to test')
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value, rtol=0, atol=0)


def test_a_module_listed_twice_loads_its_own_checkpoint(tmp_path):
    # DETR-family heads without box refinement list one branch module once per decoder layer:
    # state_dict() names its tensors once per entry, named_parameters() once
    def shared_branches() -> nn.Module:
        branch = nn.Linear(4, 2)
        return nn.ModuleDict(dict(stem=nn.Linear(4, 4), branches=nn.ModuleList([branch] * 3)))

    source, target = shared_branches(), shared_branches()
    save_checkpoint(dict(state_dict=source.state_dict()), str(tmp_path / 'shared.pth'))
    assert len(source.state_dict()) == 8
    load_weights(target, str(tmp_path / 'shared.pth'), 'checkpoint to test')
    torch.testing.assert_close(target.branches[2].weight, source.branches[0].weight, rtol=0,
                               atol=0)


def test_a_module_attached_to_another_in_training_loads_its_own_checkpoint(tmp_path):
    # DDQ-DETR's decoder takes its head's aux_reg_branches at the first training step: the
    # checkpoint names them twice, a new model once; a copy of other values is still refused
    def detector() -> nn.Module:
        return nn.ModuleDict(dict(decoder=nn.Module(), head=nn.Linear(4, 2)))

    trained = detector()
    trained['decoder'].branches = trained['head']
    save_checkpoint(dict(state_dict=trained.state_dict()), str(tmp_path / 'aliased.pth'))
    target = detector()
    load_weights(target, str(tmp_path / 'aliased.pth'), 'checkpoint to test')
    torch.testing.assert_close(target['head'].weight, trained['head'].weight, rtol=0, atol=0)
    state = trained.state_dict()
    state['decoder.branches.weight'] = state['decoder.branches.weight'].clone()
    save_checkpoint(dict(state_dict=state), str(tmp_path / 'copied.pth'))
    with pytest.raises(CheckpointLoadError, match=r'1 unexpected in the file \(e.g. '
                       r'decoder.branches.weight\)'):
        load_weights(detector(), str(tmp_path / 'copied.pth'), 'checkpoint to test')


def test_misfits_are_counted_and_named_and_nothing_is_loaded(tmp_path):
    state = net(width=8).state_dict()
    del state['1.running_var']
    state['extra.weight'] = torch.zeros(1)
    torch.save(dict(state_dict=state), tmp_path / 'other.pth')
    target = net()
    before = target[0].weight.clone()
    with pytest.raises(CheckpointLoadError) as error:
        load_weights(target, str(tmp_path / 'other.pth'), 'teacher checkpoint')
    message = str(error.value)
    assert f'The teacher checkpoint "{tmp_path / "other.pth"}" does not fit the model' in message
    assert '5 of another shape (e.g. 0.weight (file (8, 3, 3, 3), model (4, 3, 3, 3))' in message
    assert '1 missing from the file (e.g. 1.running_var)' in message
    assert '1 unexpected in the file (e.g. extra.weight)' in message
    torch.testing.assert_close(target[0].weight, before, rtol=0, atol=0)


def test_non_strict_loads_what_fits_and_warns(tmp_path):
    source = net()
    state = source.state_dict()
    state['extra.weight'] = torch.zeros(1)
    torch.save(dict(state_dict=state), tmp_path / 'extra.pth')
    target = net()
    load_weights(target, str(tmp_path / 'extra.pth'), 'checkpoint', strict=False)
    torch.testing.assert_close(target[0].weight, source[0].weight, rtol=0, atol=0)


def test_a_file_without_state_dict_is_refused(tmp_path):
    torch.save([1, 2], tmp_path / 'list.pth')
    with pytest.raises(CheckpointLoadError, match='holds no state dict'):
        load_weights(net(), str(tmp_path / 'list.pth'), 'student checkpoint')
