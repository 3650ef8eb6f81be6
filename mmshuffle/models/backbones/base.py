"""The backbone contract shared by every mmshuffle network, and the pieces
its building blocks share.

A subclass builds a *stem* and an ordered list of *output layers* (the
modules whose outputs ``out_indices`` select) and describes each layer's
output channels and stride. This class then provides, identically for all
networks:

* ``forward`` returning a tuple of the selected feature maps, with a clear
  error for a malformed input;
* ``out_indices`` / ``frozen_stages`` validation, freezing (parameters *and*
  BN statistics, stem included) and ``norm_eval`` over every BatchNorm
  flavour, re-applied by ``train()``; layers after the last requested
  output are not run and their parameters are frozen;
* ``feature_info``: the channels and stride of every returned output, so a
  neck's ``in_channels`` can be checked by code;
* default weight initialisation, used only when ``init_cfg`` is ``None``.

The units of every network derive from :class:`CheckpointedUnit` (gradient
checkpointing) and build their convolutions with :func:`conv_norm_act`.
"""
import warnings
from typing import Dict, List, Sequence, Tuple

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import nn

from ..fuse import DeployAware, switch_to_deploy
from ..utils import (check_bool, check_frozen_stages, check_out_indices,
                     check_positive_int, is_batch_norm)


def conv_norm_act(in_channels: int,
                  out_channels: int,
                  kernel_size: int = 1,
                  stride: int = 1,
                  groups: int = 1,
                  conv_cfg=None,
                  norm_cfg=dict(type='BN'),
                  act_cfg=None,
                  bias='auto') -> ConvModule:
    """A ``ConvModule`` (conv -> norm -> optional activation) whose padding,
    ``kernel_size // 2``, keeps the spatial size at stride 1.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int): odd kernel size. Default: 1.
        stride (int): stride of the convolution. Default: 1.
        groups (int): groups of the convolution (``in_channels`` for a
            depthwise one). Default: 1.
        conv_cfg (dict, optional): convolution config. Default: None.
        norm_cfg (dict): normalisation config. Default: ``dict(type='BN')``.
        act_cfg (dict, optional): activation config, or None for none.
            Default: None.
        bias (bool | str): a bias on the convolution; 'auto' for none
            before a norm layer. Default: 'auto'.
    """
    with warnings.catch_warnings():
        # a bias before BatchNorm is what the authors' DetNAS has
        warnings.filterwarnings('ignore', 'Unnecessary conv bias')
        return ConvModule(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=groups,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            bias=bias)


class CheckpointedUnit(BaseModule):
    """A building block with optional gradient checkpointing.

    Subclasses implement ``_inner_forward``. With ``with_cp`` and an input
    that requires a gradient, ``forward`` keeps no intermediate activations
    and recomputes them in the backward pass, trading compute for memory;
    otherwise it calls ``_inner_forward`` directly.

    Args:
        with_cp (bool): gradient checkpointing. Default: False.
        init_cfg (dict | list[dict], optional): initialisation config.
            Default: None.
    """

    def __init__(self, with_cp: bool = False, init_cfg=None):
        super().__init__(init_cfg)
        self.with_cp = with_cp

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


class MobileBackbone(BaseModule, DeployAware):
    """Base class of the mmshuffle backbones (see module docstring).

    Subclasses call ``super().__init__`` first, build their modules, then
    call :meth:`_register_layers` with the attribute names of the output
    layers in order and each one's ``(channels, stride)``; it validates
    ``out_indices`` and ``frozen_stages`` and applies the freezing.

    Every backbone takes the arguments below besides its own; this class
    handles all but ``conv_cfg``, ``norm_cfg`` and ``act_cfg``, which the
    subclasses pass to the layers they build. A backbone's docstring gives
    its outputs (what each ``out_indices`` index selects), its default
    ``out_indices`` and ``act_cfg``, and its initialisation.

    Args:
        in_channels (int): input image channels. Default: 3.
        out_indices (Sequence[int]): which outputs to return: indices of
            the output layers, in increasing order.
        frozen_stages (int): -1 freezes nothing, 0 the stem, k the stem and
            the first k outputs' layers (parameters and BN statistics).
            Default: -1.
        conv_cfg (dict, optional): convolution config. Default: None.
        norm_cfg (dict): normalisation config. Default: ``dict(type='BN')``.
        act_cfg (dict): activation config.
        norm_eval (bool): keep every BatchNorm in eval mode while training.
            Default: False.
        with_cp (bool): gradient checkpointing of each unit. Default: False.
        init_cfg (dict | list[dict], optional): initialisation config; when
            None the backbone's own initialisation is used. Default: None.
        channels_last (bool): keep weights and activations in the NHWC
            memory format (the input is converted in ``forward``); outputs
            are the same, CPU training and inference are faster (see
            docs/benchmarks.md). Default: False.
    """

    def __init__(self,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None,
                 channels_last: bool = False):
        super().__init__(init_cfg)
        self.in_channels = check_positive_int('in_channels', in_channels)
        self.norm_eval = check_bool('norm_eval', norm_eval)
        self.with_cp = check_bool('with_cp', with_cp)
        self._requested_out_indices = out_indices
        self._requested_frozen_stages = frozen_stages
        # inference form (see switch_to_deploy)
        self.deploy = False
        # NHWC weights and activations (set up in _register_layers)
        self.channels_last = check_bool('channels_last', channels_last)

    # ------------------------------------------------------------------
    # what subclasses provide
    # ------------------------------------------------------------------
    stem_names: Tuple[str, ...] = ('conv1', )

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _default_init(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------
    def _register_layers(self, names: List[str],
                         specs: List[Tuple[int, int]]) -> None:
        self.layer_names = tuple(names)
        self._layer_specs = tuple(specs)
        num = len(self.layer_names)
        self.out_indices = check_out_indices(self._requested_out_indices, num)
        self.frozen_stages = check_frozen_stages(
            self._requested_frozen_stages, num)
        self._freeze_stages()
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    @property
    def all_feature_info(self) -> List[Dict]:
        """``channels``/``stride``/``module`` of every selectable layer."""
        return [
            dict(index=i, module=name, channels=c, stride=s)
            for i, (name, (c, s)) in enumerate(
                zip(self.layer_names, self._layer_specs))
        ]

    @property
    def feature_info(self) -> List[Dict]:
        """``channels``/``stride``/``module`` of each returned output."""
        info = self.all_feature_info
        return [info[i] for i in self.out_indices]

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned output (a neck's ``in_channels``)."""
        return tuple(f['channels'] for f in self.feature_info)

    @property
    def out_strides(self) -> Tuple[int, ...]:
        """Stride of each returned output w.r.t. the input image."""
        return tuple(f['stride'] for f in self.feature_info)

    # ------------------------------------------------------------------
    def _check_input(self, x) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f'{type(self).__name__} expects a torch.Tensor '
                            f'input, but got {type(x).__name__}')
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects an input of shape (N, '
                f'{self.in_channels}, H, W), but got {tuple(x.shape)}')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self._check_input(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.forward_stem(x)
        outs = []
        last = self.out_indices[-1]
        for i, name in enumerate(self.layer_names[:last + 1]):
            x = self.get_submodule(name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    # ------------------------------------------------------------------
    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        names = list(self.stem_names) + \
            list(self.layer_names[:self.frozen_stages])
        return [self.get_submodule(n) for n in names]

    def _unused_modules(self) -> List[nn.Module]:
        """Layers after the last requested output: built (so checkpoints
        keep their keys) but never run."""
        last = self.out_indices[-1]
        return [self.get_submodule(n) for n in self.layer_names[last + 1:]]

    def _freeze_stages(self) -> None:
        # Unused layers get no gradient; marking them frozen keeps
        # optimizers and DistributedDataParallel from waiting for one.
        for module in self._frozen_modules() + self._unused_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def switch_to_deploy(self, channels_last: bool = False):
        """Switch to the inference form in place: BatchNorm folded into
        the convolutions, optionally ``channels_last``; see
        :func:`mmshuffle.models.fuse.switch_to_deploy` (re-exported as
        :func:`mmshuffle.deploy.switch_to_deploy`). Returns ``self``."""
        return switch_to_deploy(self, channels_last=channels_last)

    def train(self, mode: bool = True):
        if mode and self.deploy:
            raise RuntimeError(
                f'this {type(self).__name__} was switched to deploy mode '
                '(BatchNorm folded into the convolutions) and can only run '
                'inference; build the model again (or load its training '
                'checkpoint) to train it')
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if is_batch_norm(m):
                    m.eval()
        return self

    def init_weights(self) -> None:
        first_time = not self._is_init
        super().init_weights()
        if self.init_cfg is None and first_time:
            self._default_init()
