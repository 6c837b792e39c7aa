"""Model inspection: parameter and MAC counts, layer tables, a printable summary, receptive fields, gradient norms.

Every function here leaves the model as it found it: training/eval flags of every sub-module,
BatchNorm running statistics and the registered forward hooks are all restored afterwards.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import pandas as pd
import torch
from torch import nn

from .shapes import layer_output_shape

InputSize = Sequence[int] | Sequence[Sequence[int]]
"""One input as ``(C, H, W)`` (no batch dimension), or a list of such sizes for several inputs."""

PROBE_BATCH = 2
"""Batch size of the random probe input for tables and summaries (BatchNorm in training mode needs 2)."""


class ParamCount(NamedTuple):
    """Number of parameters of a model, all and trainable (``requires_grad``)."""

    total: int
    trainable: int

    @property
    def frozen(self) -> int:
        return self.total - self.trainable

    def __str__(self) -> str:
        return f"{self.total:,} parameters ({self.trainable:,} trainable, {self.frozen:,} frozen)"


class SummaryText(str):
    """The text of :func:`summary`; ``path`` says how it was made (``"torchsummary"`` or ``"layer_table"``).

    It is a plain ``str``; in a notebook its echo is one line, because the table is printed already.
    """

    path: str

    def __new__(cls, text: str, path: str) -> SummaryText:
        self = super().__new__(cls, text)
        self.path = path
        return self

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"<model summary made by {self.path}, {len(self.splitlines())} lines: print() it to read>")


def count_params(model: nn.Module) -> ParamCount:
    """Count the parameters of ``model`` (shared parameters once), e.g. 61,100,840 for AlexNet."""
    parameters = list(model.parameters())
    return ParamCount(
        total=sum(p.numel() for p in parameters),
        trainable=sum(p.numel() for p in parameters if p.requires_grad),
    )


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without any)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def preserved_state(model: nn.Module, *, training: bool | None = None) -> Iterator[nn.Module]:
    """Run a block with ``model`` temporarily in ``training`` mode (``None``: as it is), then restore it.

    Restores each sub-module's own training flag (so a frozen BatchNorm in eval mode stays so) and
    every buffer, so a probe forward pass in training mode cannot change BatchNorm running statistics.
    """
    modes = [(module, module.training) for module in model.modules()]
    buffers = [(buffer, buffer.detach().clone()) for buffer in model.buffers()]
    try:
        if training is not None:
            model.train(training)
        yield model
    finally:
        for module, was_training in modes:
            module.training = was_training
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)


@contextlib.contextmanager
def no_new_hooks(model: nn.Module) -> Iterator[nn.Module]:
    """Remove, after the block, any forward hook added to ``model`` inside it (even after an error).

    torchsummary leaves its hooks on the model when the forward pass fails; this cleans them up.
    """
    before = {module: set(module._forward_hooks) for module in model.modules()}
    try:
        yield model
    finally:
        for module in model.modules():
            for hook_id in set(module._forward_hooks) - before.get(module, set()):
                module._forward_hooks.pop(hook_id, None)
                getattr(module, "_forward_hooks_with_kwargs", {}).pop(hook_id, None)
                getattr(module, "_forward_hooks_always_called", {}).pop(hook_id, None)


def find_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Return ``(dotted name, module)`` for a dotted name like ``"features.3"`` or a module of ``model``."""
    if isinstance(layer, str):
        try:
            return layer, model.get_submodule(layer)
        except AttributeError:
            names = [name for name, _ in model.named_modules() if name]
            hint = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise ValueError(f"model has no layer named {layer!r}; some names: {hint}") from None
    for name, module in model.named_modules():
        if module is layer:
            return name or type(model).__name__, module
    raise ValueError(f"{type(layer).__name__} is not a layer of this {type(model).__name__}")


def _input_sizes(input_size: InputSize) -> list[tuple[int, ...]]:
    """``(3, 224, 224)`` or ``[3, 224, 224]`` -> one input; ``[(3, 32, 32), (10,)]`` -> two inputs."""
    if all(isinstance(size, int) for size in input_size):
        return [tuple(input_size)]  # type: ignore[arg-type]
    return [tuple(size) for size in input_size]  # type: ignore[union-attr]


def _probe_inputs(input_size: InputSize, batch: int, device: torch.device) -> list[torch.Tensor]:
    return [torch.rand(batch, *size, device=device) for size in _input_sizes(input_size)]


def _module_macs(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> int:
    """Multiply-accumulates of one call of a convolution or linear layer (0 for other modules)."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return inputs[0].numel() * per_input
    if isinstance(module, nn.modules.conv._ConvNd):
        return output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_macs(
    model: nn.Module,
    input_size: InputSize,
    *,
    device: str | torch.device | None = None,
) -> int:
    """Multiply-accumulates of one forward pass of one image (batch 1, eval mode).

    Counts convolution and ``nn.Linear`` modules only, the way torchvision's published figures do
    (ResNet-50: 4.089 GMACs at 224x224); pooling, activations and functional matmuls are not counted.
    """
    device = torch.device(device) if device is not None else model_device(model)
    total = 0

    def add(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        nonlocal total
        total += _module_macs(module, inputs, output)

    counted = [m for m in model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
    handles = [module.register_forward_hook(add) for module in counted]
    try:
        with preserved_state(model, training=False), torch.no_grad():
            model(*_probe_inputs(input_size, 1, device))
    finally:
        for handle in handles:
            handle.remove()
    return total


def _shape(value: Any, batch_size: int) -> Any:
    """The shape of a layer's input or output, batch dimension shown as ``batch_size``; nested for tuples/dicts."""
    if isinstance(value, torch.Tensor):
        shape = list(value.shape)
        if shape and shape[0] == PROBE_BATCH:
            shape[0] = batch_size
        return tuple(shape)
    if isinstance(value, dict):
        return {key: _shape(item, batch_size) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_shape(item, batch_size) for item in value]
    return None if value is None else type(value).__name__


def _reported_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules, plus containers that hold parameters of their own (e.g. a ViT's class token)."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if not any(True for _ in module.children()) or any(True for _ in module.parameters(recurse=False))
    ]


def _attribute_params(model: nn.Module, called: set[str]) -> tuple[dict[str, int], int]:
    """Give each parameter to the deepest called layer that contains it; also return those left over.

    A layer may use a child's weights without calling the child (``nn.MultiheadAttention`` and its
    ``out_proj``): those count for the layer that ran. Left over: parameters of layers that did not run.
    """
    per_layer: dict[str, int] = {}
    left_over = 0
    seen: set[int] = set()
    for owner, module in model.named_modules():
        for parameter in module.parameters(recurse=False):
            if id(parameter) in seen:
                continue
            seen.add(id(parameter))
            parts = owner.split(".") if owner else []
            candidates = [".".join(parts[:depth]) for depth in range(len(parts), -1, -1)]
            layer = next((name for name in candidates if name in called), None)
            if layer is None:
                left_over += parameter.numel()
            else:
                per_layer[layer] = per_layer.get(layer, 0) + parameter.numel()
    return per_layer, left_over


def layer_table(
    model: nn.Module,
    input_size: InputSize,
    *,
    device: str | torch.device | None = None,
    batch_size: int = -1,
) -> pd.DataFrame:
    """One row per call of a leaf layer, in execution order: name, type, input/output shape, params.

    Runs one random batch through ``model`` in its current mode (no gradients, state restored).
    Shapes show the batch dimension as ``batch_size`` (-1: any); a layer called twice gets two rows,
    its parameters counted on the first. A last row ``(not run)`` holds parameters of layers the
    forward pass skipped (e.g. GoogLeNet's auxiliary classifiers in eval mode), so ``params`` sums
    to :func:`count_params`. Good for checking ``(W - F + 2P) / S + 1`` by hand.
    """
    device = torch.device(device) if device is not None else model_device(model)
    calls: list[dict[str, Any]] = []

    def record(name: str):
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            calls.append(
                {
                    "key": name,
                    "name": name or type(module).__name__,
                    "type": type(module).__name__,
                    "input_shape": _shape(inputs[0], batch_size) if len(inputs) == 1 else _shape(inputs, batch_size),
                    "output_shape": _shape(output, batch_size),
                }
            )

        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in _reported_modules(model)]
    try:
        with preserved_state(model), torch.no_grad():
            model(*_probe_inputs(input_size, PROBE_BATCH, device))
    finally:
        for handle in handles:
            handle.remove()
    per_layer, left_over = _attribute_params(model, {call["key"] for call in calls})
    for call in calls:
        call["params"] = per_layer.pop(call.pop("key"), 0)  # first call of a layer only
    if left_over:
        calls.append({"name": "(not run)", "type": "-", "input_shape": None, "output_shape": None, "params": left_over})
    return pd.DataFrame(calls, columns=["name", "type", "input_shape", "output_shape", "params"])


def _torchsummary_text(model: nn.Module, input_size: InputSize, device: torch.device, batch_size: int) -> str:
    """torchsummary's table as text (raises whatever torchsummary raises)."""
    from torchsummary import summary as torchsummary_summary

    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"torchsummary supports only cpu and cuda, not {device.type}")
    sizes = _input_sizes(input_size)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), torch.no_grad():
        torchsummary_summary(model, sizes if len(sizes) > 1 else sizes[0], batch_size=batch_size, device=device.type)
    return captured.getvalue()


def _fallback_text(model: nn.Module, input_size: InputSize, device: torch.device, batch_size: int) -> str:
    table = layer_table(model, input_size, device=device, batch_size=batch_size)
    columns = {
        "Layer": [str(name) for name in table["name"]],
        "Type": [str(kind) for kind in table["type"]],
        "Output shape": [str(shape) for shape in table["output_shape"]],
    }
    widths = {title: max([len(title), *map(len, cells)]) for title, cells in columns.items()}
    params = [f"{count:,}" for count in table["params"]]
    params_width = max([len("Param #"), *map(len, params)])

    def line(cells: list[str], count: str) -> str:
        left = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths.values()))
        return f"{left}  {count.rjust(params_width)}"

    header = line(list(columns), "Param #")
    body = [line([columns[title][row] for title in columns], params[row]) for row in range(len(table))]
    width = len(header)
    totals = count_params(model)
    return "\n".join(
        [
            "-" * width,
            header,
            "=" * width,
            *body,
            "=" * width,
            f"Total params: {totals.total:,}",
            f"Trainable params: {totals.trainable:,}",
            f"Non-trainable params: {totals.frozen:,}",
            "-" * width,
        ]
    )


def summary(
    model: nn.Module,
    input_size: InputSize,
    *,
    device: str | torch.device | None = None,
    batch_size: int = -1,
    verbose: bool = True,
) -> SummaryText:
    """Print and return a Keras-style table of ``model``'s layers, output shapes and parameter counts.

    Uses torchsummary; where torchsummary cannot handle the model (dict or nested outputs, attention
    layers returning ``None``, devices other than cpu/cuda) it falls back to :func:`layer_table`.
    The first line says which path made the table. ``device`` defaults to the model's own device.
    The model runs one random batch in its current mode; its modes, buffers and hooks are restored.
    """
    device = torch.device(device) if device is not None else model_device(model)
    name = type(model).__name__
    try:
        with preserved_state(model), no_new_hooks(model):
            table = _torchsummary_text(model, input_size, device, batch_size)
        text = SummaryText(f"{name} summary (made by torchsummary)\n{table.rstrip()}", "torchsummary")
    except Exception as error:  # torchsummary fails in many ways on models it does not understand
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:160]
        table = _fallback_text(model, input_size, device, batch_size)
        text = SummaryText(
            f"{name} summary (made by course_utils.inspection.layer_table: torchsummary failed with {reason})\n"
            f"{table}",
            "layer_table",
        )
    if verbose:
        print(text)
    return text


def shape_table(model: nn.Module, input_size: InputSize, *, device: str | torch.device | None = None) -> pd.DataFrame:
    """The output-size formula against a real forward pass, for every ``Conv2d``, ``MaxPool2d`` and ``AvgPool2d``.

    One row per call, indexed by layer name: type, kernel, stride, padding, input shape, the
    ``formula``'s output shape (:func:`course_utils.shapes.layer_output_shape`) and the ``measured``
    one (:func:`layer_table`); shapes are ``(C, H, W)``, without the batch dimension.
    """
    modules = dict(model.named_modules())
    rows = []
    for call in layer_table(model, input_size, device=device).itertuples():
        layer = modules.get(call.name, model)
        if not isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            continue
        rows.append(
            {
                "layer": call.name,
                "type": call.type,
                "kernel": layer.kernel_size,
                "stride": layer.stride,
                "padding": layer.padding,
                "input": call.input_shape[1:],
                "formula": layer_output_shape(layer, call.input_shape),
                "measured": call.output_shape[1:],
            }
        )
    columns = ["layer", "type", "kernel", "stride", "padding", "input", "formula", "measured"]
    return pd.DataFrame(rows, columns=columns).set_index("layer")


def measured_receptive_field(model: nn.Module, layer: str | nn.Module, image: torch.Tensor) -> int:
    """Width of the input patch that the centre pixel of ``layer``'s output depends on, by back-propagation.

    The gradient of that pixel (all channels) flows back to ``image`` ``(C, H, W)``; the input columns
    that receive any are counted. Max pooling passes gradient only to the winner of each window, so
    this can be narrower than the formula (:func:`course_utils.shapes.receptive_field`), never wider.
    Runs in eval mode; the model's modes, buffers, hooks and parameter gradients are left as they were.
    """
    name, module = find_layer(model, layer)
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
    x = image.detach().to(model_device(model)).unsqueeze(0).requires_grad_(True)
    try:
        with preserved_state(model, training=False), torch.enable_grad():  # backward before buffers are restored
            model(x)
            if not captured or not isinstance(captured[0], torch.Tensor) or captured[0].ndim != 4:
                raise ValueError(f"layer {name!r} gave no (N, C, H, W) output in the forward pass")
            out = captured[0]
            (gradient,) = torch.autograd.grad(out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum(), x)
    finally:
        handle.remove()
    columns = (gradient[0].abs().sum(dim=0) > 0).any(dim=0).nonzero()
    return int(columns.max() - columns.min() + 1)


def gradient_norms(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
    *,
    training: bool = True,
) -> pd.Series:
    """L2 norm of the loss gradient for the weight of every convolution and linear layer, for one batch.

    Indexed by layer name in the order the layers ran (input side first), so a plot of it shows how
    the gradient changes with depth. ``training``: the mode of the forward pass (batch norm with the
    batch's statistics, as when training). Layers with frozen weights are left out. The model's
    modes, buffers and the parameters' ``.grad`` are left as they were.
    """
    layers = {
        module: name
        for name, module in model.named_modules()
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and module.weight.requires_grad
    }
    ran: dict[str, torch.Tensor] = {}

    def record(module: nn.Module, _inputs: tuple[Any, ...], _output: Any) -> None:
        ran.setdefault(layers[module], module.weight)

    handles = [module.register_forward_hook(record) for module in layers]
    device = model_device(model)
    try:
        with preserved_state(model, training=training), torch.enable_grad():  # backward before buffers are restored
            loss = loss_fn(model(inputs.to(device)), targets.to(device))
            # autograd.grad instead of backward(): every parameter's .grad stays as it was
            gradients = torch.autograd.grad(loss, list(ran.values()), allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    norms = [0.0 if gradient is None else float(gradient.norm()) for gradient in gradients]
    return pd.Series(norms, index=list(ran), name="gradient norm", dtype=float)
