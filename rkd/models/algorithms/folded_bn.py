"""Batch norm folded into the convolution before it, in the frozen teacher's forward.

In eval mode a BN layer is an affine map per channel, so a convolution whose output goes only
into it equals one convolution with weight ``W * s`` and bias ``(b - mean) * s + beta``,
``s = gamma / sqrt(var + eps)``: one pass over the activations fewer per pair, the same
features up to float rounding. The teacher's modules and state dict stay as built (checkpoints
and ``teacher_state.py`` see the same keys): the folded weights live in a cache, remade when a
parameter or statistic changes (a checkpoint loaded, a cast, a move to another device), and are
swapped in only for the length of a forward (:meth:`BNFolding.applied`), as mmcv's ConvModule
swaps in its own ``efficient_conv_bn_eval`` forward.

torch.fx cannot trace every teacher, so pairs are found by module structure: only in parents
whose forward is known to feed the convolution's output to the BN and to nothing else
(:func:`pair_rules`). A pair is left unfolded when a recorder reads the convolution's output or
the BN's input, which folding changes.
"""
import sys
from contextlib import ExitStack, contextmanager
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

# How a pair is swapped in: 'modules' makes the BN an identity and the convolution the folded
# one; 'conv_module' sets mmcv ConvModule's own conv-BN forward, which skips the BN call (and
# follows the module's ``order`` and ``norm=False``).
MODULES, CONV_MODULE = 'modules', 'conv_module'


class Pair(NamedTuple):
    """A convolution and the BN after it, as attributes of one parent module."""
    parent: str
    conv: str
    norm: str
    kind: str

    def names(self) -> Tuple[str, str]:
        prefix = f'{self.parent}.' if self.parent else ''
        return prefix + self.conv, prefix + self.norm


def _consecutive(names: Sequence[str]) -> List[Tuple[str, str]]:
    """Each module of ``names`` with the next: children run in that order, each on the
    previous one's output."""
    return list(zip(names, names[1:]))


def _numbered(count: int) -> Callable[[nn.Module], List[Tuple[str, str]]]:
    """``conv{i}`` with ``norm{i}_name`` for i in 1..count: the ResNet blocks of mmpretrain,
    mmdet and mmseg, whose forward runs ``self.norm{i}(self.conv{i}(x))``."""
    return lambda block: [(f'conv{i}', getattr(block, f'norm{i}_name'))
                          for i in range(1, count + 1)]


def _resnet_stem(resnet: nn.Module) -> List[Tuple[str, str]]:
    """The stem of an OpenMMLab ResNet: ``norm1(conv1(x))``, unless a deep stem (a Sequential,
    folded as one) replaces it."""
    return [] if getattr(resnet, 'deep_stem', False) else [('conv1', resnet.norm1_name)]


def pair_rules() -> Dict[Callable, Callable[[nn.Module], List[Tuple[str, str]]]]:
    """For each known ``forward``, the (conv, BN) attribute pairs it runs as ``bn(conv(x))``
    with nothing else reading the convolution's output. A library's rules are given only when
    it is imported: a teacher built from it has imported it."""
    from rkd.models.backbones.base import StagedBackbone
    from rkd.models.backbones.cifar_resnet import CIFARBasicBlock
    rules = {
        nn.Sequential.forward: lambda seq: _consecutive(list(seq._modules)),
        CIFARBasicBlock.forward: lambda block: [('conv1', 'bn1'), ('conv2', 'bn2')],
        StagedBackbone.forward: lambda backbone: _consecutive(backbone.stem_names),
    }
    for library in ('mmpretrain.models.backbones.resnet', 'mmdet.models.backbones.resnet',
                    'mmseg.models.backbones.resnet'):
        resnet = sys.modules.get(library)
        if resnet is not None:
            rules[resnet.BasicBlock.forward] = _numbered(2)
            rules[resnet.Bottleneck.forward] = _numbered(3)
            rules[resnet.ResNet.forward] = _resnet_stem
    cifar = sys.modules.get('mmpretrain.models.backbones.resnet_cifar')
    if cifar is not None:
        rules[cifar.ResNet_CIFAR.forward] = lambda resnet: [('conv1', resnet.norm1_name)]
    return rules


def _conv_forwards() -> Tuple[Callable, ...]:
    """The forwards of plain 2-d convolutions: torch's and mmcv's wrapper of it."""
    forwards = [nn.Conv2d.forward]
    wrappers = sys.modules.get('mmcv.cnn.bricks.wrappers')
    if wrappers is not None:
        forwards.append(wrappers.Conv2d.forward)
    return tuple(forwards)


def _conv_module_type() -> Optional[type]:
    module = sys.modules.get('mmcv.cnn.bricks.conv_module')
    return None if module is None else module.ConvModule


def _foldable(conv: Optional[nn.Module], norm: Optional[nn.Module]) -> bool:
    """A plain convolution and a BN layer that normalises with stored statistics, of its
    channels."""
    return (conv is not None and norm is not None
            and type(conv).forward in _conv_forwards() and 'forward' not in vars(conv)
            and isinstance(norm, _BatchNorm) and type(norm).forward in (
                _BatchNorm.forward, nn.SyncBatchNorm.forward) and 'forward' not in vars(norm)
            and not norm.training and norm.running_mean is not None
            and norm.num_features == conv.out_channels)


def find_pairs(model: nn.Module, recorded: Iterable[Tuple[str, str]] = ()) -> List[Pair]:
    """The foldable (conv, BN) pairs of ``model`` (in eval mode), but those whose convolution
    output or BN input a recorder reads: ``recorded`` lists (module name, io) of the
    recorders, io ``'output'`` or ``'input'``."""
    recorded = set(recorded)
    rules = pair_rules()
    conv_module = _conv_module_type()
    pairs = []
    for name, module in model.named_modules():
        if conv_module is not None and isinstance(module, conv_module):
            candidates = [(module, 'conv', module.norm_name, CONV_MODULE)] \
                if module.with_norm and _conv_then_norm(module.order) else []
        else:
            rule = rules.get(type(module).forward)
            candidates = [(module, conv, norm, MODULES)
                          for conv, norm in (rule(module) if rule else [])]
        for parent, conv, norm, kind in candidates:
            pair = Pair(name, conv, norm, kind)
            conv_name, norm_name = pair.names()
            # a ConvModule's fused forward skips the BN call, and with it any recorder of it
            reads_norm = {(norm_name, 'input')} if kind == MODULES else \
                {(norm_name, 'input'), (norm_name, 'output')}
            if (_foldable(parent._modules.get(conv), parent._modules.get(norm))
                    and (conv_name, 'output') not in recorded and not reads_norm & recorded):
                pairs.append(pair)
    return pairs


def _conv_then_norm(order: Tuple[str, ...]) -> bool:
    return 'norm' in order and order.index('norm') == order.index('conv') + 1


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class BNFolding:
    """The folded pairs of one teacher and their folded weights, swapped in by :meth:`applied`.

    Args:
        pairs: from :func:`find_pairs`, by module name: modules are looked up at each forward,
            so a BN replaced since (e.g. by a SyncBatchNorm) is simply not folded.
    """

    def __init__(self, pairs: List[Pair]) -> None:
        self.pairs = pairs
        self._cache: Dict[Pair, Tuple[tuple, torch.Tensor, torch.Tensor]] = {}

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Inside the block, ``model``'s forward runs each pair as one folded convolution."""
        with ExitStack() as restore:
            for pair in self.pairs:
                parent = model.get_submodule(pair.parent)
                conv, norm = parent._modules.get(pair.conv), parent._modules.get(pair.norm)
                if not _foldable(conv, norm):
                    continue
                weight, bias = self._folded(pair, conv, norm)
                if pair.kind == CONV_MODULE:
                    previous = parent.efficient_conv_bn_eval_forward
                    parent.efficient_conv_bn_eval_forward = (
                        lambda _norm, _conv, x, w=weight, b=bias: _conv._conv_forward(x, w, b))
                    restore.callback(setattr, parent, 'efficient_conv_bn_eval_forward',
                                     previous)
                else:
                    conv.forward = lambda x, c=conv, w=weight, b=bias: c._conv_forward(x, w, b)
                    norm.forward = _identity
                    restore.callback(delattr, conv, 'forward')
                    restore.callback(delattr, norm, 'forward')
            yield

    def _folded(self, pair: Pair, conv: nn.Conv2d, norm: _BatchNorm
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The folded weight and bias of ``pair``, remade when any tensor they come from
        changed (in place: its version; replaced or moved: its storage)."""
        sources = (conv.weight, conv.bias, norm.weight, norm.bias, norm.running_mean,
                   norm.running_var)
        key = tuple(None if t is None else (t.data_ptr(), t._version, t.dtype, t.device)
                    for t in sources) + (norm.eps, )
        cached = self._cache.get(pair)
        if cached is None or cached[0] != key:
            self._cache[pair] = (key, *fold(conv, norm))
        return self._cache[pair][1:]


def fold(conv: nn.Conv2d, norm: _BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of ``conv`` followed by ``norm`` in eval mode, computed in float32
    and returned in the convolution's dtype."""
    with torch.no_grad():
        dtype = conv.weight.dtype
        scale = torch.rsqrt(norm.running_var.float() + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight.float()
        bias = -norm.running_mean.float() * scale
        if conv.bias is not None:
            bias = bias + conv.bias.float() * scale
        if norm.bias is not None:
            bias = bias + norm.bias.float()
        weight = conv.weight.float() * scale.view(-1, *[1] * (conv.weight.dim() - 1))
        return weight.to(dtype), bias.to(dtype)
