import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample
from torch import nn

from rkd.models.connectors import BaseConnector
from rkd.registry import MODELS

from helpers import reviewkd_algorithm


@MODELS.register_module(name='ToyConnectorForTests', force=True)
class ToyConnector(BaseConnector):
    """A connector written to the contract alone: a 1x1 conv per level, then a bilinear
    resize to the teacher's size."""

    def __init__(self, student_channels, teacher_channels, init_cfg=None):
        super().__init__(student_channels, teacher_channels, init_cfg=init_cfg)
        self.convs = nn.ModuleList(
            nn.Conv2d(s, t, 1) for s, t in zip(self.student_channels, self.teacher_channels))

    def forward(self, student_feats, teacher_sizes):
        self.check_inputs(student_feats, teacher_sizes)
        return [F.interpolate(conv(f), size=tuple(size), mode='bilinear', align_corners=False)
                for conv, f, size in zip(self.convs, student_feats, teacher_sizes)]


def test_a_registered_connector_trains_from_a_config(mmpretrain_scope):
    torch.manual_seed(0)
    model = MODELS.build(reviewkd_algorithm(connector=dict(type='rkd.ToyConnectorForTests')))
    connector = model.distiller.connector
    assert isinstance(connector, ToyConnector)
    # channels read off the probe: 4 stages and the embedding, the teacher twice as wide
    assert connector.student_channels == (4, 8, 16, 32, 32)
    assert connector.teacher_channels == (8, 16, 32, 64, 64)
    model.train()
    before = copy.deepcopy(connector.state_dict())
    batch = dict(inputs=[torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8) for _ in range(4)],
                 data_samples=[DataSample().set_gt_label(i) for i in range(4)])
    log_vars = model.train_step(batch, OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1)))
    assert log_vars['loss_reviewkd'] > 0
    assert all(not torch.equal(v, before[k]) for k, v in connector.state_dict().items())


def test_the_contract_is_checked_for_every_connector():
    with pytest.raises(ValueError, match=r'ToyConnector needs as many student as teacher'):
        ToyConnector([4, 8], [8])
    with pytest.raises(ValueError, match='at least one level'):
        ToyConnector([], [])
    connector = ToyConnector([4, 8], [8, 16])
    with pytest.raises(ValueError, match=r'ToyConnector level 1: .*\(N, 8, H, W\), got '
                       r'\(2, 3, 4, 4\)'):
        connector([torch.randn(2, 4, 8, 8), torch.randn(2, 3, 4, 4)], [(8, 8), (4, 4)])
    with pytest.raises(TypeError, match='abstract'):
        BaseConnector([4], [8])
