"""A classification head with auxiliary classifiers on earlier stages, as
the paper authors train ShuffleNetV2.Large and .ExLarge."""
from typing import List, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmpretrain.structures import DataSample
from torch import nn

from mmshuffle.registry import MODELS

from ..utils import check_positive_int, check_positive_number
from .bias_free_cls_head import BiasFreeClsHead


class AuxClassifier(nn.Module):
    """3x3/2 max-pool -> 1x1 conv -> 3x3 conv (each BN, ReLU) -> global
    average -> fc (biased): the authors' ``ExtraLabelPredict``."""

    def __init__(self, in_channels: int, mid_channels: int, num_classes: int,
                 norm_cfg: dict):
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv = nn.Sequential(
            ConvModule(in_channels, mid_channels, 1, norm_cfg=norm_cfg),
            ConvModule(mid_channels, mid_channels, 3, padding=1,
                       norm_cfg=norm_cfg))
        self.fc = nn.Linear(mid_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(self.pool(x)).mean(dim=(2, 3)))


@MODELS.register_module()
class DeeplySupervisedClsHead(BiasFreeClsHead):
    """Global average pooling -> dropout -> fc, plus auxiliary classifiers
    that only training uses.

    It takes the backbone's feature maps directly (no neck): the last one
    is pooled and classified; with ``aux_channels`` the ones before it each
    get an :class:`AuxClassifier`, whose cross-entropy losses (the head's
    loss module) are added with ``aux_loss_weights``. Prediction uses the
    last map only. With ShuffleNetV2.Large's backbone returning
    ``out_indices=(0, 1, 2, 4)``, ``aux_channels=((256, 256), (512, 512),
    (1024, 1024))`` and ``aux_loss_weights=(0.3, 0.5, 0.7)`` it is the
    authors' training head (losses 1.0/0.7/0.5/0.3 for the main head and
    those at strides 16/8/4).

    Args:
        num_classes (int): number of classes.
        in_channels (int): channels of the last feature map.
        aux_channels (Sequence[tuple]): ``(in_channels, mid_channels)`` of
            each auxiliary classifier, one per feature map before the last,
            in order. Default: (), none.
        aux_loss_weights (Sequence[float]): their loss weights.
        dropout_rate (float): dropout before the classifier. Default: 0.2.
        bias (bool): a bias on the classifier. Default: True.
        norm_cfg (dict): the auxiliary classifiers' normalisation.
            Default: ``dict(type='BN')``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 aux_channels: Sequence[Tuple[int, int]] = (),
                 aux_loss_weights: Sequence[float] = (),
                 dropout_rate: float = 0.2,
                 bias: bool = True,
                 norm_cfg=dict(type='BN'),
                 **kwargs):
        if kwargs.get('mid_channels') is not None:
            raise ValueError(
                f'{type(self).__name__} has no hidden layer (mid_channels '
                f'must be None, but got {kwargs["mid_channels"]!r}): it '
                'classifies the pooled map directly')
        super().__init__(num_classes, in_channels, dropout_rate=dropout_rate,
                         bias=bias, **kwargs)
        if not isinstance(aux_channels, (list, tuple)) or any(
                not isinstance(c, (list, tuple)) or len(c) != 2
                for c in aux_channels):
            raise ValueError('aux_channels must be a list of (in_channels, '
                             f'mid_channels) pairs, but got {aux_channels!r}')
        if not isinstance(aux_loss_weights, (list, tuple)) or \
                len(aux_loss_weights) != len(aux_channels):
            raise ValueError(
                f'aux_loss_weights must hold one weight per auxiliary '
                f'classifier ({len(aux_channels)}), but got '
                f'{aux_loss_weights!r}')
        self.aux_loss_weights = tuple(
            check_positive_number('aux_loss_weights', w)
            for w in aux_loss_weights)
        self.aux = nn.ModuleList(
            AuxClassifier(check_positive_int('aux_channels', c),
                          check_positive_int('aux_channels', m),
                          num_classes, norm_cfg) for c, m in aux_channels)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The pooled last feature map."""
        x = feats[-1]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects a feature map of shape (N, '
                f'{self.in_channels}, H, W), but got {tuple(x.shape)}')
        return x.mean(dim=(2, 3))

    def loss(self, feats: Tuple[torch.Tensor],
             data_samples: List[DataSample], **kwargs) -> dict:
        losses = super().loss(feats, data_samples, **kwargs)
        if not self.aux:
            return losses
        if len(feats) != len(self.aux) + 1:
            raise ValueError(
                f'{type(self).__name__} has {len(self.aux)} auxiliary '
                f'classifiers and needs {len(self.aux) + 1} feature maps '
                f'(the backbone\'s out_indices), but got {len(feats)}')
        for i, (aux, weight) in enumerate(zip(self.aux,
                                              self.aux_loss_weights)):
            expected = aux.conv[0].conv.in_channels
            if feats[i].dim() != 4 or feats[i].shape[1] != expected:
                raise ValueError(
                    f'auxiliary classifier {i} takes {expected} channels '
                    f'(aux_channels) but feature map {i} has shape '
                    f'{tuple(feats[i].shape)}: set aux_channels to the '
                    'widths of the backbone\'s out_indices')
            aux_loss = self._get_loss(aux(feats[i]), data_samples,
                                      **kwargs)['loss']
            losses[f'loss_aux{i}'] = weight * aux_loss
        return losses
