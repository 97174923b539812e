"""The recorders of one network, bound once and hooked only for the steps that read them."""
from contextlib import contextmanager
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from rkd.registry import TASK_UTILS

from .module_recorder import ModuleRecorder, find_module, recorder_list

RecorderCfg = Union[str, dict, ModuleRecorder]


class RecordedFeatures(list):
    """One step's maps of a :class:`RecorderGroup`: the list of its levels, shallow -> deep,
    tuples expanded, and :attr:`named`, the maps of each named recorder under its name.

    It is the list tools and connectors read, and carries the named maps along with it, so
    that a loss reads the recorder it names rather than a position in the list.
    """

    def __init__(self, levels: List[torch.Tensor],
                 named: Dict[str, List[torch.Tensor]]) -> None:
        super().__init__(levels)
        self.named = named


class RecorderGroup:
    """The recorders of one model (see :meth:`bind`); hooks exist only inside :meth:`recording`.

    Attaching hooks only for the duration of a distillation step means validation, testing and
    inference run the bare model.

    Args:
        recorders: the levels: recorders or their configs (a string is the source of an output
            recorder).
        network: what errors call the recorded model, e.g. ``'the student'``.
        named: more recorders, each under the name of what reads it (an extra loss); their
            maps are :attr:`RecordedFeatures.named`, not levels.
    """

    def __init__(self, recorders: Sequence[RecorderCfg], network: str = 'the model',
                 named: Optional[Mapping[str, RecorderCfg]] = None) -> None:
        recorders = recorder_list(recorders, network)
        if not recorders:
            raise ValueError(f'At least one recorder is needed for {network}.')
        self.network = network
        self.recorders = [self._build(r) for r in recorders]
        self.named = {name: self._build(r) for name, r in (named or {}).items()}
        self._modules: Optional[List[nn.Module]] = None
        self._model_type = ''

    @staticmethod
    def _build(recorder: RecorderCfg) -> ModuleRecorder:
        if isinstance(recorder, ModuleRecorder):
            return recorder
        if isinstance(recorder, str):
            return ModuleRecorder(source=recorder)
        cfg = dict(recorder)
        cfg.setdefault('type', 'rkd.ModuleRecorder')
        return TASK_UTILS.build(cfg)

    @property
    def _all(self) -> List[ModuleRecorder]:
        return [*self.recorders, *self.named.values()]

    @property
    def sources(self) -> List[str]:
        """The modules recorded: the levels', then the named recorders'."""
        return [r.source for r in self._all]

    def bind(self, model: nn.Module) -> 'RecorderGroup':
        """Resolve the module names in ``model`` once, at build time: a wrong name fails
        early, and a step attaches its hooks without searching the module tree."""
        self._modules = [find_module(model, recorder.source, self.network)
                         for recorder in self._all]
        for recorder in self._all:
            recorder.tokens.bind(model)
        self._model_type = f' ({type(model).__name__})'
        return self

    @contextmanager
    def recording(self) -> Iterator['RecorderGroup']:
        """Hooks the bound modules for the body of the ``with``; read :meth:`features` inside it.

        On exit the hooks are removed and the records dropped, so no tensor (nor its autograd
        graph) outlives the step.
        """
        if self._modules is None:
            raise RuntimeError('bind(model) the recorders before recording.')
        for recorder, module in zip(self._all, self._modules):
            recorder.attach(module)
        try:
            yield self
        finally:
            for recorder in self._all:
                recorder.detach()
                recorder.reset()

    def features(self) -> RecordedFeatures:
        """The levels' maps in recorder order, tuples expanded (shallow -> deep as declared),
        with the named recorders' maps under their names."""
        levels = [feature for maps in self.features_by_recorder() for feature in maps]
        named = {name: self._read(recorder) for name, recorder in self.named.items()}
        return RecordedFeatures(levels, named)

    def features_by_recorder(self) -> List[List[torch.Tensor]]:
        """The recorded maps of each level recorder (several for a tuple output), in order."""
        return [self._read(recorder) for recorder in self.recorders]

    def _read(self, recorder: ModuleRecorder) -> List[torch.Tensor]:
        try:
            return recorder.features()
        except (RuntimeError, ValueError) as error:
            raise type(error)(f'In {self.network}{self._model_type}: {error}') from None
