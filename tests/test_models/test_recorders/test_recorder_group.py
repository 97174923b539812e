import torch
from torch import nn

from rkd.models.recorders import RecordedFeatures, RecorderGroup


class Pair(nn.Module):
    """Returns a tuple of two maps, as a neck does."""

    def forward(self, x):
        return x, x * 2


class Net(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.pair = Pair()
        self.head = nn.Linear(2, 3)

    def forward(self, x):
        maps = self.pair(x)
        return maps, self.head(maps[1].mean((2, 3)))


def test_named_recorders_are_read_by_name_not_as_levels():
    net, x = Net(), torch.randn(2, 2, 4, 4)
    group = RecorderGroup(['pair'], 'the student', named=dict(loss_kd='head'))
    assert group.sources == ['pair', 'head']
    with group.bind(net).recording() as recorded:
        (_, doubled), logits = net(x)
        feats = recorded.features()
    assert isinstance(feats, RecordedFeatures)
    assert len(feats) == 2, 'the levels only: the tuple expanded, the named logits apart'
    torch.testing.assert_close(feats[1], doubled)
    (named, ) = feats.named['loss_kd']
    torch.testing.assert_close(named, logits[:, :, None, None])
    assert not net.head._forward_hooks, 'named recorders are unhooked on exit too'
