import pytest
import torch
from torch import nn

from rkd.models.recorders import ModuleRecorder, RecorderGroup


class Block(nn.Module):
    """Calls its in-place ``relu`` twice, like mmpretrain's BasicBlock."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.conv(x))
        return self.relu(out - 0.5)


class Net(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        y = self.block(x)
        return (y, self.pool(y).flatten(1))


def test_output_is_recorded_only_inside_the_context():
    net, x = Net(), torch.randn(2, 2, 4, 4)
    group = RecorderGroup(['block'])
    with group.bind(net).recording() as recorded:
        out = net(x)
        (feat, ) = recorded.features()
    torch.testing.assert_close(feat, out[0])
    assert not net.block._forward_hooks and not net.block._forward_pre_hooks
    with pytest.raises(RuntimeError, match='ran 0 time'):
        group.features()  # records are dropped on exit


def test_input_of_last_call_survives_inplace_relu():
    net, x = Net(), torch.randn(2, 2, 4, 4)
    pre = dict(source='block.relu', io='input', call=-1)
    first = dict(source='block.relu', io='input', call=0)
    with RecorderGroup([pre, first]).bind(net).recording() as recorded:
        out = net(x)
        pre_act, first_input = recorded.features()
    expected_pre = torch.relu(net.block.conv(x)) - 0.5
    torch.testing.assert_close(pre_act, expected_pre)
    assert (pre_act < 0).any(), 'the in-place relu overwrote the recorded input'
    torch.testing.assert_close(first_input, net.block.conv(x))
    torch.testing.assert_close(torch.relu(pre_act), out[0])


def test_tuple_element_and_expansion_and_embedding_as_map():
    net, x = Net(), torch.randn(3, 2, 4, 4)
    with RecorderGroup([dict(source='', element=1), '']).bind(net).recording() as recorded:
        net(x)
        feats = recorded.features()
    assert [tuple(f.shape) for f in feats] == [(3, 2, 1, 1), (3, 2, 4, 4), (3, 2, 1, 1)]


def test_inplace_change_of_an_uncloned_output_is_reported():
    net, x = Net(), torch.randn(2, 2, 4, 4)
    with RecorderGroup(['block.conv']).bind(net).recording() as recorded:
        net(x)
        with pytest.raises(RuntimeError, match='clone=True'):
            recorded.features()
    with RecorderGroup([dict(source='block.conv', clone=True)]).bind(net).recording() as recorded:
        net(x)
        torch.testing.assert_close(recorded.features()[0], net.block.conv(x))


def test_unknown_module_lists_close_matches():
    with pytest.raises(LookupError, match=r"Close matches: \[.block.relu., .block.\]"):
        RecorderGroup(['block.rellu']).bind(Net())


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match='io must be'):
        ModuleRecorder('block', io='outputs')
    net = Net()
    with RecorderGroup([dict(source='', element=5)]).bind(net).recording():
        with pytest.raises(IndexError, match='sequence of 2'):
            net(torch.randn(1, 2, 4, 4))
    with RecorderGroup([dict(source='block.relu', element=2)]).bind(net).recording():
        with pytest.raises(IndexError, match='single tensor, not a tuple or list: remove'):
            net(torch.randn(1, 2, 4, 4))
    with RecorderGroup([dict(source='block.relu', call=3)]).bind(net).recording() as recorded:
        net(torch.randn(1, 2, 4, 4))
        with pytest.raises(RuntimeError, match='ran 2 time'):
            recorded.features()
