"""fit(): learning, sample-weighted epoch losses, top-5, output hooks, early stopping, schedulers, progress."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import session
from course_utils.evaluation import evaluate
from course_utils.history import EPOCH_KEYS, TOP5_KEYS
from course_utils.training import EarlyStopping, History, fit, googlenet_aux_loss


@pytest.fixture(autouse=True)
def no_course_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass devices and retrain explicitly: no setup() from another test (or COURSE_RETRAIN) leaks in."""
    monkeypatch.setattr(session, "_current", None)


def blobs(per_class: int = 60, classes: int = 2, seed: int = 0, spread: float = 4.0) -> TensorDataset:
    """Gaussian blobs in 2-D, one per class, centred on a circle of radius ``spread``."""
    generator = torch.Generator().manual_seed(seed)
    angles = torch.arange(classes) * (2 * math.pi / classes)
    centres = spread * torch.stack([angles.cos(), angles.sin()], dim=1)
    inputs = torch.cat([centre + torch.randn(per_class, 2, generator=generator) for centre in centres])
    targets = torch.arange(classes).repeat_interleave(per_class)
    return TensorDataset(inputs, targets)


def loaders(dataset: TensorDataset, batch_size: int = 16, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    train = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    return train, DataLoader(dataset, batch_size=64)


def mlp(classes: int = 2, log_softmax: bool = False, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, classes)]
    if log_softmax:
        layers.append(nn.LogSoftmax(dim=1))
    return nn.Sequential(*layers)


def sgd(model: nn.Module, lr: float = 0.1, momentum: float = 0.9) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)


@pytest.mark.parametrize(
    ("log_softmax", "loss_fn"),
    [(False, nn.CrossEntropyLoss()), (True, nn.NLLLoss())],
    ids=["cross-entropy-on-logits", "nll-on-log-softmax"],
)
def test_tiny_model_learns_separable_blobs(log_softmax: bool, loss_fn: nn.Module) -> None:
    train, val = loaders(blobs())
    model = mlp(log_softmax=log_softmax)
    history = fit(model, train, val, loss_fn=loss_fn, optimizer=sgd(model), epochs=4, device="cpu", progress=False)

    assert isinstance(history, History) and isinstance(history, list) and len(history) == 4
    assert [record["epoch"] for record in history] == [1, 2, 3, 4]
    assert all(tuple(record) == EPOCH_KEYS for record in history)  # no top-5 with two classes
    assert history.last is history[-1]
    assert history.last["val_acc"] >= 0.9 and history.last["train_acc"] >= 0.9
    assert history.last["val_loss"] < history[0]["train_loss"]
    assert not model.training  # ready for evaluation
    frame = history.to_frame()
    assert list(frame.columns) == list(EPOCH_KEYS) and len(frame) == 4
    pd.testing.assert_frame_equal(frame, pd.DataFrame(history))
    assert json.loads(json.dumps(history)) == history.records()
    best = history.best("val_loss")
    assert best["val_loss"] == frame["val_loss"].min()
    assert history.best("val_acc")["val_acc"] == frame["val_acc"].max()


def test_epoch_loss_is_sample_weighted_when_the_last_batch_is_short() -> None:
    dataset = blobs(per_class=35)  # 70 samples: batches of 32, 32 and 6
    inputs, targets = dataset.tensors
    targets = targets.clone()
    targets[-6:] = 1 - targets[-6:]  # the short last batch is all wrong, so its mean loss is large
    dataset = TensorDataset(inputs, targets)
    model = nn.Linear(2, 2)  # confident on the blobs (centres at x=+4 and x=-4)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        model.bias.zero_()
        logits = model(inputs)
        expected_loss = F.cross_entropy(logits, targets, reduction="sum").item() / len(targets)
        expected_acc = (logits.argmax(1) == targets).float().mean().item()
        batch_means = [F.cross_entropy(logits[i : i + 32], targets[i : i + 32]).item() for i in range(0, 70, 32)]
    unweighted = sum(batch_means) / len(batch_means)
    assert abs(unweighted - expected_loss) > 0.5  # the two means really differ here

    loader = DataLoader(dataset, batch_size=32, shuffle=False)
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # weights stay as measured above
    history = fit(model, loader, loader, loss_fn=nn.CrossEntropyLoss(), optimizer=frozen, epochs=1, progress=False)

    for split in ("train", "val"):
        assert history[0][f"{split}_loss"] == pytest.approx(expected_loss, rel=1e-6)
        assert history[0][f"{split}_acc"] == pytest.approx(expected_acc)

    summed = nn.CrossEntropyLoss(reduction="sum")  # a 'sum' loss is divided by the batch size instead
    history = fit(model, loader, loader, loss_fn=summed, optimizer=frozen, epochs=1, progress=False)
    assert history[0]["train_loss"] == pytest.approx(expected_loss, rel=1e-6)


def test_top5_is_reported_with_more_than_five_classes() -> None:
    dataset = blobs(per_class=12, classes=7, spread=3.0)
    inputs, targets = dataset.tensors
    model = mlp(classes=7)
    with torch.no_grad():
        top5 = model(inputs).topk(5, dim=1).indices
        expected_top5 = (top5 == targets[:, None]).any(1).float().mean().item()
    loader = DataLoader(dataset, batch_size=20)
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)
    history = fit(model, loader, loader, loss_fn=nn.CrossEntropyLoss(), optimizer=frozen, epochs=1, progress=False)

    assert tuple(history[0]) == EPOCH_KEYS + TOP5_KEYS
    assert history[0]["val_top5"] == pytest.approx(expected_top5)
    assert history[0]["train_top5"] == pytest.approx(expected_top5)
    assert history[0]["val_top5"] >= history[0]["val_acc"]


class AuxiliaryHeads(nn.Module):
    """A GoogLeNet-like toy: in training mode it returns (logits, aux2, aux1), in eval mode logits."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(2, 16), nn.ReLU())
        self.head, self.aux1, self.aux2 = nn.Linear(16, classes), nn.Linear(2, classes), nn.Linear(16, classes)

    def forward(self, inputs: torch.Tensor):
        features = self.body(inputs)
        logits = self.head(features)
        if self.training:
            return logits, self.aux2(features), self.aux1(inputs)
        return logits


def test_tuple_outputs_train_through_the_googlenet_hook() -> None:
    train, val = loaders(blobs())
    model = AuxiliaryHeads()
    with pytest.raises(TypeError, match="googlenet_aux_loss"):
        fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=1, progress=False)

    model = AuxiliaryHeads()
    history = fit(
        model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=3,
        output_hook=googlenet_aux_loss(), progress=False,
    )  # fmt: skip
    assert history.last["val_acc"] >= 0.9

    model.train()
    inputs, targets = blobs(per_class=5).tensors
    outputs = model(inputs)
    loss, logits = googlenet_aux_loss(aux_weight=0.3)(outputs, targets, F.cross_entropy)
    expected = F.cross_entropy(outputs[0], targets) + 0.3 * (
        F.cross_entropy(outputs[1], targets) + F.cross_entropy(outputs[2], targets)
    )
    assert logits is outputs[0]
    assert loss.item() == pytest.approx(expected.item())


def test_googlenet_hook_reads_torchvision_googlenet_outputs() -> None:
    from torchvision.models import GoogLeNet

    torch.manual_seed(0)
    model = GoogLeNet(num_classes=3, aux_logits=True, init_weights=False).train()
    inputs, targets = torch.randn(2, 3, 64, 64), torch.tensor([0, 2])
    outputs = model(inputs)
    loss, logits = googlenet_aux_loss(aux_weight=0.3)(outputs, targets, F.cross_entropy)
    expected = F.cross_entropy(outputs.logits, targets) + 0.3 * (
        F.cross_entropy(outputs.aux_logits1, targets) + F.cross_entropy(outputs.aux_logits2, targets)
    )
    assert logits is outputs.logits
    assert loss.item() == pytest.approx(expected.item())


def test_early_stopping_stops_after_patience_epochs_without_improvement() -> None:
    train, val = loaders(blobs())
    model = mlp()
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # val_loss never improves after epoch 1
    history = fit(
        model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=frozen, epochs=10,
        early_stopping=EarlyStopping(patience=2, monitor="val_loss"), progress=False,
    )  # fmt: skip
    assert len(history) == 3 and history.stopped_early

    model = mlp()
    history = fit(  # a plain integer is a patience on the default monitor
        model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=4,
        early_stopping=2, progress=False,
    )  # fmt: skip
    assert len(history) == 4 and not history.stopped_early  # it keeps improving


def test_monitor_must_be_measurable() -> None:
    train, _ = loaders(blobs())
    model = mlp()
    with pytest.raises(ValueError, match="needs a val_loader"):
        fit(model, train, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=1, monitor="val_acc")
    with pytest.raises(ValueError, match="give it once"):
        fit(
            model, train, train, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=1,
            monitor="val_acc", early_stopping=EarlyStopping(monitor="val_loss"),
        )  # fmt: skip


def test_monitor_and_scheduler_mismatches_are_refused_before_training() -> None:
    dataset = blobs()  # two classes: no top-5
    dataset.classes = ["left", "right"]
    train, val = loaders(dataset)
    model = mlp()
    before = [p.detach().clone() for p in model.parameters()]
    options = dict(loss_fn=nn.CrossEntropyLoss(), epochs=1, progress=False)
    with pytest.raises(ValueError, match="more than 5 classes"):
        fit(model, train, val, optimizer=sgd(model), monitor="val_top5", **options)
    optimizer = sgd(model)
    wrong_mode = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min")
    with pytest.raises(ValueError, match="mode='max'"):
        fit(model, train, val, optimizer=optimizer, scheduler=wrong_mode, monitor="val_acc", **options)
    with pytest.raises(TypeError, match="not a bool"):
        fit(model, train, val, optimizer=sgd(model), early_stopping=True, **options)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing was trained


def test_epoch_seeds_of_nearby_runs_do_not_overlap() -> None:
    from course_utils.checkpoints import epoch_seed

    seeds = {epoch_seed(data_seed, epoch) for data_seed in range(20) for epoch in range(1, 21)}
    assert len(seeds) == 400  # data_seed + epoch would give only 39 distinct orders
    assert epoch_seed(7, 3) == epoch_seed(7, 3)
    assert epoch_seed(7, 1) == 7  # the first epoch shuffles with the loader's own seed


def flipped_validation() -> tuple[DataLoader, DataLoader]:
    """Validation labels are the opposite of training labels: the better training gets, the worse val_loss."""
    dataset = blobs()
    inputs, targets = dataset.tensors
    train, _ = loaders(dataset)
    return train, DataLoader(TensorDataset(inputs, 1 - targets), batch_size=64)


def test_restore_best_ends_with_the_best_epochs_weights() -> None:
    train, val = flipped_validation()
    model = mlp()
    history = fit(
        model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model, lr=0.05), epochs=4,
        restore_best=True, progress=False,
    )  # fmt: skip
    best = history.best("val_loss")
    assert best["epoch"] != history.last["epoch"]
    measured = evaluate(model, val, loss_fn=nn.CrossEntropyLoss())
    assert measured.loss == pytest.approx(best["val_loss"], rel=1e-6)
    assert measured.loss != pytest.approx(history.last["val_loss"], rel=1e-3)


def test_reduce_on_plateau_receives_the_monitored_metric() -> None:
    train, val = flipped_validation()
    model = mlp()
    optimizer = sgd(model, lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=0)
    history = fit(
        model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=4, scheduler=plateau,
        progress=False,
    )  # fmt: skip
    val_losses = [record["val_loss"] for record in history]
    assert val_losses == sorted(val_losses)  # val_loss only gets worse ...
    assert [record["lr"] for record in history] == pytest.approx([0.1, 0.1, 0.05, 0.025])  # ... so lr is cut


def test_step_scheduler_is_stepped_once_per_epoch() -> None:
    train, val = loaders(blobs())
    model = mlp()
    optimizer = sgd(model, lr=0.1)
    step = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
    history = fit(
        model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=3, scheduler=step, progress=False
    )
    assert [record["lr"] for record in history] == pytest.approx([0.1, 0.01, 0.001])


def test_gradient_clipping_bounds_each_update() -> None:
    train, _ = loaders(blobs(), batch_size=30)  # 4 steps
    model = mlp()
    before = nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    plain_sgd = torch.optim.SGD(model.parameters(), lr=1.0)
    fit(model, train, loss_fn=nn.CrossEntropyLoss(), optimizer=plain_sgd, epochs=1, grad_clip=1e-3, progress=False)
    moved = (nn.utils.parameters_to_vector(model.parameters()) - before).norm().item()
    assert 0 < moved <= 4 * 1e-3 + 1e-7

    model = mlp()
    fit(model, train, loss_fn=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=1.0), epochs=1,
        progress=False)  # fmt: skip
    unclipped = (nn.utils.parameters_to_vector(model.parameters()) - before).norm().item()
    assert unclipped > 10 * moved


def test_amp_request_on_cpu_warns_and_trains_in_full_precision() -> None:
    train, val = loaders(blobs())
    model = mlp()
    dtypes = record_linear_output_dtypes(model)
    with pytest.warns(UserWarning, match="amp=True needs a CUDA device"):
        history = fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=2, amp=True,
                      device="cpu", progress=False)  # fmt: skip
    assert dtypes == {torch.float32}  # no CPU autocast (it would compute these layers in bfloat16)
    assert history.last["val_acc"] >= 0.9


def record_linear_output_dtypes(model: nn.Module) -> set[torch.dtype]:
    """The dtypes the model's Linear layers actually compute in (autocast changes them, not the weights)."""
    seen: set[torch.dtype] = set()
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.register_forward_hook(lambda _module, _inputs, output: seen.add(output.dtype))
    return seen


def test_progress_prints_one_line_per_epoch_in_logs_and_nothing_when_off(capsys: pytest.CaptureFixture) -> None:
    train, val = loaders(blobs())
    model = mlp()
    fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=3, progress=True)
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split(" |")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "val loss" in lines[0] and "\r" not in captured.out + captured.err

    fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=1, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_forced_bars_show_batch_progress(capsys: pytest.CaptureFixture) -> None:
    train, val = loaders(blobs())
    model = mlp()
    fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=2, progress="bars")
    captured = capsys.readouterr()
    assert "epochs" in captured.err and "batch" in captured.err  # tqdm bars on stderr
    assert [line.split(" |")[0] for line in captured.out.splitlines()] == ["epoch 1/2", "epoch 2/2"]


def test_history_best_and_frame_handle_missing_validation() -> None:
    train, _ = loaders(blobs())
    model = mlp()
    history = fit(model, train, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=2, progress=False)
    assert all(math.isnan(record["val_loss"]) for record in history)
    assert history.to_frame()["val_acc"].isna().all()
    with pytest.raises(ValueError, match="no epoch has a value"):
        history.best("val_loss")
    assert history.best("train_loss")["epoch"] == 2
    assert History().last is None and list(History().to_frame().columns) == list(EPOCH_KEYS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mixed_precision_on_cuda(tmp_path) -> None:
    from course_utils.checkpoints import load_checkpoint

    train, val = loaders(blobs())
    model = mlp()
    dtypes = record_linear_output_dtypes(model)
    history = fit(
        model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=3, device="cuda",
        checkpoint=tmp_path / "amp.pt", progress=False,
    )  # fmt: skip
    assert torch.float16 in dtypes  # autocast really ran
    assert history.last["val_acc"] >= 0.9
    scaler = load_checkpoint(tmp_path / "amp.pt")["scaler"]
    assert scaler["scale"] > 0 and "_growth_tracker" in scaler


# --------------------------------------------------------------------------- frozen layers and the lecture's loop


def test_frozen_backbone_keeps_its_weights_and_batch_norm_statistics() -> None:
    """Feature extraction: a frozen torchvision ResNet with a new head. model.train() would put the
    backbone's BatchNorm layers back into training mode and move their running statistics."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(weights=None)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, 2)
    backbone = {name: value.clone() for name, value in model.state_dict().items() if not name.startswith("fc.")}
    head = {name: value.clone() for name, value in model.fc.state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    images, labels = torch.randn(8, 3, 32, 32, generator=generator), torch.tensor([0, 1] * 4)
    loader = DataLoader(TensorDataset(images, labels), batch_size=4)
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.1)
    fit(model, loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, device="cpu", progress=False)

    after = model.state_dict()
    statistics = [name for name in backbone if name.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert len(statistics) == 3 * 20  # every BatchNorm of ResNet-18 is checked
    for name, before in backbone.items():
        assert torch.equal(after[name], before), name
    assert all(not torch.equal(model.fc.state_dict()[name], before) for name, before in head.items())


def test_train_mode_keeps_fully_frozen_modules_in_eval_mode() -> None:
    from course_utils.training import train_mode

    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    partly_frozen = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    model = nn.Sequential(backbone, partly_frozen, nn.Dropout(0.5), nn.Linear(4, 2))
    backbone.requires_grad_(False)
    partly_frozen[1].requires_grad_(False)
    model.eval()

    assert train_mode(model) is model
    assert model.training and not backbone.training
    assert not any(module.training for module in backbone.modules())  # its Dropout too
    assert partly_frozen.training and partly_frozen[0].training and not partly_frozen[1].training
    assert model[2].training and model[3].training  # parameter-free Dropout and the head train


def lecture_train_model(model: nn.Module, loader: DataLoader, criterion: nn.Module, optimizer) -> tuple[float, float]:
    """One epoch of the lecture's ``train_model`` loop, as written on the slides."""
    model.train()
    epoch_loss, corrects = 0.0, 0
    for inputs, labels in loader:
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        _, preds = torch.max(outputs, 1)
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item() * inputs.size(0)
        corrects += torch.sum(preds == labels.data).item()
    return epoch_loss / len(loader.dataset), corrects / len(loader.dataset)


def dropout_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


def test_one_fit_epoch_equals_the_lecture_loop() -> None:
    """Same fresh model, same seeded loader: fit's first epoch shuffles like the loader itself and
    draws the same dropout masks, so the epoch loss, accuracy and weights are the lecture loop's."""
    dataset = blobs(per_class=50, spread=1.5)  # overlapping blobs: accuracy below 100 %

    def seeded_loader() -> DataLoader:
        return DataLoader(dataset, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(42))

    by_hand = dropout_mlp()
    torch.manual_seed(1)  # dropout masks come from the global RNG in both runs
    loss, accuracy = lecture_train_model(by_hand, seeded_loader(), nn.CrossEntropyLoss(), sgd(by_hand))

    model = dropout_mlp()
    torch.manual_seed(1)
    history = fit(model, seeded_loader(), loss_fn=nn.CrossEntropyLoss(), optimizer=sgd(model), epochs=1,
                  device="cpu", progress=False)  # fmt: skip

    assert 0.5 < accuracy < 1.0
    assert history[0]["train_loss"] == pytest.approx(loss, rel=1e-12)
    assert history[0]["train_acc"] == accuracy
    for name, value in by_hand.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_train_one_epoch_and_validate_can_be_called_on_their_own() -> None:
    """The loop a student can write with the library: one call per epoch, metrics as a dict."""
    from course_utils.training import train_one_epoch, validate

    dataset = blobs(per_class=12, classes=7, spread=3.0)
    train, val = loaders(dataset)
    model = mlp(classes=7)
    optimizer = sgd(model)
    epochs = [train_one_epoch(model, train, nn.CrossEntropyLoss(), optimizer) for _ in range(4)]
    assert set(epochs[0]) == {"loss", "acc", "top5"} and model.training
    assert epochs[-1]["loss"] < epochs[0]["loss"]

    measured = validate(model, val, nn.CrossEntropyLoss())
    report = evaluate(model, val, loss_fn=nn.CrossEntropyLoss())
    assert not model.training
    assert measured["loss"] == pytest.approx(report.loss) and measured["acc"] == report.accuracy
    assert measured["top5"] == report.top5

    with pytest.raises(ValueError, match="reduction='none'"):
        train_one_epoch(model, train, nn.CrossEntropyLoss(reduction="none"), optimizer)
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="no samples"):
        validate(model, empty, nn.CrossEntropyLoss())
