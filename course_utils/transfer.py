"""Transfer learning: the lecture's new head, what to freeze for each strategy, and learning rates per group.

    model = backbone.fresh()                                   # a copy of the pretrained network
    cu.transfer.replace_head(model, num_classes=2)             # fc: 2048 -> 512 -> 2, LogSoftmax
    cu.transfer.set_strategy(model, "feature extraction")      # only the head learns
    optimizer = torch.optim.Adam(cu.transfer.parameter_groups(model, lr=1e-3, backbone_lr=1e-4))
    cu.fit(model, ..., loss_fn=nn.NLLLoss(), optimizer=optimizer, ...)

The strategies (:data:`STRATEGIES`): *feature extraction* trains the head only (the backbone is a
fixed feature extractor, and :func:`course_utils.training.train_mode` keeps its BatchNorm layers in
eval mode, so their statistics stay ImageNet's); *partial fine-tuning* also trains the last stage;
*full fine-tuning* trains every layer, the backbone with a smaller learning rate than the new head;
*from scratch* is the same network with random weights, every layer at the head's learning rate.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

STRATEGIES = ("feature extraction", "partial fine-tuning", "full fine-tuning", "from scratch")
HEAD = "fc"
"""The attribute that holds the classifier in the course's ResNets (and torchvision's)."""
NewLayers = str | tuple[str, ...]
"""The top-level module(s) that are new, not pretrained: the head, and the stem when it was replaced."""


def _top_level(name: str) -> str:
    return name.split(".")[0]


def _names(new: NewLayers) -> tuple[str, ...]:
    return (new,) if isinstance(new, str) else tuple(new)


def classifier_head(in_features: int, num_classes: int = 2, hidden: int = 512, dropout: float = 0.2) -> nn.Sequential:
    """The lecture's head: Linear(in_features, 512) -> ReLU -> Dropout(0.2) -> Linear(512, classes) -> LogSoftmax.

    It returns log-probabilities, so it is trained with ``nn.NLLLoss``; together they compute exactly
    ``nn.CrossEntropyLoss`` on the scores before the LogSoftmax. ``in_features`` is the backbone's
    feature width (2048 for ResNet-50, 64 for the CIFAR ResNet-20).
    """
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
        nn.LogSoftmax(dim=1),
    )


def head_width(model: nn.Module, head: str = HEAD) -> int:
    """The feature width the head reads: ``in_features`` of the (first) linear layer of ``model.<head>``."""
    module = getattr(model, head)
    for layer in [module, *module.modules()]:
        if isinstance(layer, nn.Linear):
            return layer.in_features
    raise ValueError(f"model.{head} has no nn.Linear layer")


def replace_head(model: nn.Module, num_classes: int = 2, *, head: str = HEAD, **options) -> nn.Module:
    """Put :func:`classifier_head` (sized to the backbone's feature width) in place of ``model.<head>``; returns ``model``."""
    setattr(model, head, classifier_head(head_width(model, head), num_classes, **options))
    return model


def stages(model: nn.Module) -> list[str]:
    """The residual stages of a ResNet in order: ``layer1`` ... ``layer4`` (``layer3`` for CIFAR ResNets)."""
    names = [name for name, _ in model.named_children() if name.startswith("layer") and name[5:].isdigit()]
    if not names:
        raise ValueError(f"{type(model).__name__} has no stages named layer1, layer2, ...")
    return sorted(names, key=lambda name: int(name[5:]))


def last_stage(model: nn.Module) -> str:
    """The last residual stage: the most task-specific features, fine-tuned in partial fine-tuning."""
    return stages(model)[-1]


def trainable_modules(model: nn.Module, strategy: str, *, head: NewLayers = HEAD) -> list[str]:
    """The top-level modules that learn under ``strategy`` (``[]`` stands for "all of them")."""
    if strategy == "feature extraction":
        return list(_names(head))
    if strategy == "partial fine-tuning":
        return [last_stage(model), *_names(head)]
    if strategy in ("full fine-tuning", "from scratch"):
        return []
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")


def set_strategy(model: nn.Module, strategy: str, *, head: NewLayers = HEAD) -> nn.Module:
    """Freeze (``requires_grad=False``) every parameter that ``strategy`` does not train; returns ``model``.

    ``head``: the new top-level module(s), e.g. ``("conv1", "fc")`` after :func:`small_image_stem`.
    """
    learning = trainable_modules(model, strategy, head=head)
    for name, parameter in model.named_parameters():
        parameter.requires_grad = not learning or _top_level(name) in learning
    return model


def parameter_groups(model: nn.Module, lr: float, backbone_lr: float | None = None, *, head: NewLayers = HEAD) -> list[dict]:
    """Optimizer parameter groups: the new layers (``head``) at ``lr``, the other trainable parameters at ``backbone_lr``.

    Frozen parameters (and empty groups) are left out. ``backbone_lr`` defaults to ``lr`` (from scratch: one rate for all);
    for fine-tuning a tenth of it is usual, so the pretrained features change slowly while the new
    head, which starts from random weights, learns fast. Groups are named ``"head"`` and ``"backbone"``.
    """
    new = _names(head)
    head_parameters, backbone_parameters = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (head_parameters if _top_level(name) in new else backbone_parameters).append(parameter)
    groups = [{"name": "head", "params": head_parameters, "lr": lr},
              {"name": "backbone", "params": backbone_parameters, "lr": lr if backbone_lr is None else backbone_lr}]
    return [group for group in groups if group["params"]]


def small_image_stem(model: nn.Module) -> nn.Module:
    """Adapt an ImageNet ResNet to 32x32 images: a new 3x3 stride-1 ``conv1`` and no max pooling; returns ``model``.

    ImageNet's stem (7x7 stride 2, then 3x3 max pooling stride 2) shrinks 224 to 56; on a 32x32 photo it
    would leave 8x8 maps after the stem and 1x1 in the last stage. Without the two reductions the stages see
    32 -> 4 maps, as a CIFAR network would. The new ``conv1`` starts from random weights (give it the
    head's learning rate: ``head=("conv1", "fc")``); every later layer keeps its pretrained weights.
    """
    old = model.conv1
    model.conv1 = nn.Conv2d(old.in_channels, old.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


class Upsampled(nn.Module):
    """``model`` applied to its input resized to ``size`` x ``size`` (bilinear): small photos at a
    pretrained network's own resolution (32 -> 224 costs (224/32)^2 = 49 times the computation)."""

    def __init__(self, model: nn.Module, size: int) -> None:
        super().__init__()
        self.size = size
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False))
