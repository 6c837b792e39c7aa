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

from torch import nn

STRATEGIES = ("feature extraction", "partial fine-tuning", "full fine-tuning", "from scratch")
HEAD = "fc"
"""The attribute that holds the classifier in the course's ResNets (and torchvision's)."""


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


def trainable_modules(model: nn.Module, strategy: str, *, head: str = HEAD) -> list[str]:
    """The top-level modules that learn under ``strategy`` (``[]`` stands for "all of them")."""
    if strategy == "feature extraction":
        return [head]
    if strategy == "partial fine-tuning":
        return [last_stage(model), head]
    if strategy in ("full fine-tuning", "from scratch"):
        return []
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")


def set_strategy(model: nn.Module, strategy: str, *, head: str = HEAD) -> nn.Module:
    """Freeze (``requires_grad=False``) every parameter that ``strategy`` does not train; returns ``model``."""
    learning = trainable_modules(model, strategy, head=head)
    for name, parameter in model.named_parameters():
        parameter.requires_grad = not learning or name.split(".")[0] in learning
    return model


def parameter_groups(model: nn.Module, lr: float, backbone_lr: float | None = None, *, head: str = HEAD) -> list[dict]:
    """Optimizer parameter groups: the head at ``lr``, the rest of the trainable parameters at ``backbone_lr``.

    Frozen parameters are left out. ``backbone_lr`` defaults to ``lr`` (from scratch: one rate for all);
    for fine-tuning a tenth of it is usual, so the pretrained features change slowly while the new
    head, which starts from random weights, learns fast. Groups are named ``"head"`` and ``"backbone"``.
    """
    head_parameters, backbone_parameters = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (head_parameters if name.split(".")[0] == head else backbone_parameters).append(parameter)
    groups = [{"name": "head", "params": head_parameters, "lr": lr}]
    if backbone_parameters:
        groups.append({"name": "backbone", "params": backbone_parameters, "lr": lr if backbone_lr is None else backbone_lr})
    return groups
