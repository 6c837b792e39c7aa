"""Checkpoints: exact resume, atomic writes, present mode, refusal of tampered or mismatched files."""

from __future__ import annotations

import io
import math
import os
import random
import subprocess
import sys
import textwrap
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from course_utils import session
from course_utils.checkpoints import (
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    load_model_weights,
    restore_rng_state,
    save_checkpoint,
)
from course_utils.profiles import QUICK
from course_utils.training import History, fit

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_course_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass devices and retrain explicitly: no setup() from another test (or COURSE_RETRAIN) leaks in."""
    monkeypatch.setattr(session, "_current", None)


def blobs(per_class: int = 40, seed: int = 0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.cat([torch.randn(per_class, 2, generator=generator) + sign * 3 for sign in (1, -1)])
    return TensorDataset(inputs, torch.arange(2).repeat_interleave(per_class))


class Interrupted(Exception):
    """Stands in for a Colab disconnect or a KeyboardInterrupt in the middle of an epoch."""


class InterruptAfter(Dataset):
    """Serves ``dataset`` but raises once ``limit`` samples have been read."""

    def __init__(self, dataset: Dataset, limit: int) -> None:
        self.dataset, self.limit, self.served = dataset, limit, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        if self.served >= self.limit:
            raise Interrupted
        self.served += 1
        return self.dataset[index]


def dropout_mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


def run(
    model: nn.Module, dataset: Dataset, *, epochs: int, checkpoint: Path | None, loader_seed: int | None = 7,
    workers: int = 0, **options,
):  # fmt: skip
    """fit() with SGD+momentum, a StepLR scheduler and a shuffling loader (with its own generator unless None)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    generator = torch.Generator().manual_seed(loader_seed) if loader_seed is not None else None
    parallel = {"num_workers": workers, "persistent_workers": True} if workers else {}
    train = DataLoader(dataset, batch_size=16, shuffle=True, generator=generator, **parallel)
    val = DataLoader(blobs(seed=1), batch_size=32, **parallel)
    options.setdefault("progress", False)
    return fit(
        model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, scheduler=scheduler, epochs=epochs,
        checkpoint=checkpoint, device="cpu", **options,
    )  # fmt: skip


def without_seconds(history: list[dict]) -> list[dict]:
    return [{key: value for key, value in record.items() if key != "seconds"} for record in history]


def assert_same_weights(first: nn.Module, second: nn.Module) -> None:
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


def finished_run(path: Path, **options) -> tuple[nn.Module, History]:
    model = dropout_mlp(seed=0)
    return model, run(model, blobs(), epochs=2, checkpoint=path, **options)


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize(
    ("interruption", "loader"),
    [
        ("exception-mid-epoch", "own-generator"),
        ("shorter-run", "own-generator"),
        ("shorter-run", "global-generator"),
        ("shorter-run", "persistent-workers"),
    ],
)
def test_resumed_run_equals_uninterrupted_run(tmp_path: Path, interruption: str, loader: str) -> None:
    loader_options = {
        "own-generator": {},
        "global-generator": {"loader_seed": None},  # shuffled from torch's global RNG
        "persistent-workers": {"workers": 1},
    }[loader]
    torch.manual_seed(0)
    reference_model = dropout_mlp(seed=0)
    reference = run(reference_model, blobs(), epochs=4, checkpoint=tmp_path / "reference.pt", **loader_options)

    path = tmp_path / "interrupted.pt"
    if interruption == "exception-mid-epoch":
        with pytest.raises(Interrupted):  # dies 20 samples into epoch 3
            run(dropout_mlp(seed=0), InterruptAfter(blobs(), 2 * 80 + 20), epochs=4, checkpoint=path, **loader_options)
    else:
        run(dropout_mlp(seed=0), blobs(), epochs=2, checkpoint=path, **loader_options)
    assert load_checkpoint(path)["epoch"] == 2

    # A fresh "session": other initial weights, another loader seed, scrambled global RNGs.
    torch.manual_seed(999), random.seed(999), np.random.seed(999)
    resumed_model = dropout_mlp(seed=123)
    loader_options.setdefault("loader_seed", 999)
    resumed = run(resumed_model, blobs(), epochs=4, checkpoint=path, **loader_options)

    assert without_seconds(resumed) == without_seconds(reference)
    assert_same_weights(resumed_model, reference_model)
    assert load_checkpoint(path)["metadata"]["finished"]


def test_resume_false_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    run(dropout_mlp(seed=0), blobs(), epochs=1, checkpoint=path)
    history = run(dropout_mlp(seed=0), blobs(), epochs=2, checkpoint=path, resume=False)
    assert [record["epoch"] for record in history] == [1, 2]
    assert load_checkpoint(path)["epoch"] == 2


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path: Path) -> None:
    loader = DataLoader(blobs(), shuffle=True, generator=torch.Generator().manual_seed(3))
    save_checkpoint(tmp_path / "rng.pt", {"rng": capture_rng_state(loader)})

    def draw() -> tuple:
        return random.random(), np.random.rand(), np.random.randn(), torch.rand(1).item(), list(iter(loader.sampler))

    first = draw()
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"], loader)
    assert draw() == first


# --------------------------------------------------------------------------- atomic writes


def test_failed_rename_leaves_the_previous_checkpoint_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.pt"
    run(dropout_mlp(seed=0), blobs(), epochs=1, checkpoint=path)
    before = path.read_bytes()

    def crash(source, destination):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        run(dropout_mlp(seed=0), blobs(), epochs=2, checkpoint=path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # the temporary file was removed


def test_process_killed_between_write_and_rename_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    script = textwrap.dedent(
        f"""
        import os, torch
        from course_utils.checkpoints import save_checkpoint
        save_checkpoint({str(path)!r}, {{"epoch": 1, "weights": torch.ones(3)}})
        os.replace = lambda source, destination: os._exit(9)  # killed right before the rename
        save_checkpoint({str(path)!r}, {{"epoch": 2, "weights": torch.zeros(3)}})
        """
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, timeout=120)
    assert result.returncode == 9, result.stderr.decode()

    state = load_checkpoint(path)
    assert state["epoch"] == 1 and torch.equal(state["weights"], torch.ones(3))
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1  # the complete but never renamed new version

    save_checkpoint(path, {"epoch": 3})  # the next successful save tidies up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]


# --------------------------------------------------------------------------- present mode and retrain


class NeverIterate:
    """A loader that fails the test if anything reads from it."""

    dataset = blobs()

    def __iter__(self):
        raise AssertionError("the loader was iterated")

    def __len__(self) -> int:
        return 5


def test_finished_checkpoint_is_loaded_without_training(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    trained, history = finished_run(path)
    before = path.read_bytes()

    model = dropout_mlp(seed=5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.step = lambda *args, **kwargs: pytest.fail("an optimizer step happened")
    presented = fit(
        model, NeverIterate(), NeverIterate(), loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=2,
        checkpoint=path, progress=False,
    )  # fmt: skip

    assert presented.from_checkpoint and presented == history
    assert_same_weights(model, trained)
    assert not model.training
    assert path.read_bytes() == before

    retrained = run(dropout_mlp(seed=5), blobs(), epochs=2, checkpoint=path, retrain=True)
    assert not retrained.from_checkpoint and len(retrained) == 2
    assert without_seconds(retrained) != without_seconds(history)  # other initial weights: really trained


def test_course_retrain_setting_trains_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.pt"
    finished_run(path)
    course = types.SimpleNamespace(device=torch.device("cpu"), retrain=True, profile=QUICK)
    monkeypatch.setattr(session, "_current", course)
    history = run(dropout_mlp(seed=5), blobs(), epochs=2, checkpoint=path)
    assert not history.from_checkpoint
    assert load_checkpoint(path)["metadata"]["profile"] == "quick"


def test_asking_for_more_epochs_continues_a_finished_run(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    _, history = finished_run(path)
    longer = run(dropout_mlp(seed=5), blobs(), epochs=3, checkpoint=path)
    assert not longer.from_checkpoint
    assert without_seconds(longer[:2]) == without_seconds(history) and longer[2]["epoch"] == 3


def test_early_stopped_run_is_presented_even_when_asked_for_more_epochs(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    model = dropout_mlp(seed=0)
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)
    loader = DataLoader(blobs(), batch_size=16)
    options = dict(loss_fn=nn.CrossEntropyLoss(), epochs=8, checkpoint=path, progress=False, monitor="train_loss")
    stopped = fit(model, loader, optimizer=frozen, early_stopping=1, **options)
    assert stopped.stopped_early and len(stopped) < 8
    again = fit(dropout_mlp(seed=0), NeverIterate(), optimizer=frozen, early_stopping=1, **options)
    assert again.from_checkpoint and again.stopped_early and again.to_frame().equals(stopped.to_frame())


def test_restore_best_checkpoint_presents_the_best_weights(tmp_path: Path) -> None:
    """Validation labels are flipped, so the best val_loss is epoch 1 while training goes on to epoch 3:
    the finished checkpoint must hand out epoch 1's weights, not the last ones."""
    path = tmp_path / "run.pt"
    dataset = blobs()
    inputs, targets = dataset.tensors
    train = DataLoader(dataset, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    flipped = DataLoader(TensorDataset(inputs, 1 - targets), batch_size=64)
    model = dropout_mlp(seed=0)
    history = fit(
        model, train, flipped, loss_fn=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=3, checkpoint=path, restore_best=True, progress=False,
    )  # fmt: skip
    assert history.best("val_loss")["epoch"] == 1 and history.last["epoch"] == 3
    state = load_checkpoint(path)
    reloaded = dropout_mlp(seed=9)
    metadata = load_model_weights(reloaded, path)
    assert metadata["restored_best"] and metadata["best_epoch"] == 1
    assert_same_weights(reloaded, model)
    last_epoch = state["model"]
    assert any(not torch.equal(last_epoch[k], v) for k, v in reloaded.state_dict().items())


# --------------------------------------------------------------------------- refusing bad checkpoints


def flip_byte_in(path: Path, record_suffix: str) -> None:
    """Invert one byte inside the stored zip record whose name ends with ``record_suffix``."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(record_suffix))
    data = bytearray(path.read_bytes())
    header = info.header_offset
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    start = header + 30 + name_length + extra_length
    data[start + info.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def tamper(path: Path, how: str) -> None:
    if how == "weights-bit-flip":
        flip_byte_in(path, "data/0")  # the first tensor: the first layer's weights
    elif how == "pickle-bit-flip":
        flip_byte_in(path, "data.pkl")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "unsafe-pickle":
        buffer = io.BytesIO()
        torch.save({"format": "course_utils.checkpoint", "payload": zipfile.ZipInfo("x")}, buffer)
        path.write_bytes(buffer.getvalue())  # a class weights_only refuses to construct
    elif how == "foreign-file":
        torch.save({"weights": torch.ones(2)}, path)
    elif how == "empty":
        path.write_bytes(b"")


@pytest.mark.parametrize(
    "how", ["weights-bit-flip", "pickle-bit-flip", "truncated", "unsafe-pickle", "foreign-file", "empty"]
)
def test_tampered_checkpoint_is_refused_and_kept(tmp_path: Path, how: str) -> None:
    path = tmp_path / "run.pt"
    finished_run(path)
    tamper(path, how)
    damaged = path.read_bytes()

    with pytest.raises(CheckpointError) as caught:
        run(dropout_mlp(seed=0), blobs(), epochs=2, checkpoint=path)
    assert "retrain=True" in str(caught.value) and str(path) in str(caught.value)
    with pytest.raises(CheckpointError):
        load_model_weights(dropout_mlp(seed=0), path)
    assert path.read_bytes() == damaged  # never overwritten

    history = run(dropout_mlp(seed=0), blobs(), epochs=1, checkpoint=path, retrain=True)  # explicit consent
    assert len(history) == 1 and load_checkpoint(path)["epoch"] == 1


def test_other_architecture_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    finished_run(path)
    before = path.read_bytes()
    torch.manual_seed(0)
    wider = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2))
    with pytest.raises(CheckpointError, match=r"different architecture.*different shape: 0\.weight"):
        run(wider, blobs(), epochs=2, checkpoint=path)
    with pytest.raises(CheckpointError, match="missing: 1.weight"):
        load_model_weights(nn.Sequential(nn.Linear(2, 16), nn.Linear(16, 2)), path)
    assert path.read_bytes() == before


def test_other_class_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    finished_run(path, metadata={"classes": ["cat", "dog"]})
    with pytest.raises(CheckpointError, match="classes"):
        run(dropout_mlp(seed=0), blobs(), epochs=2, checkpoint=path, metadata={"classes": ["dog", "cat"]})


def test_other_optimizer_is_refused_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    run(dropout_mlp(seed=0), blobs(), epochs=1, checkpoint=path)
    model = dropout_mlp(seed=0)
    with pytest.raises(CheckpointError, match="optimizer SGD, but this run uses Adam"):
        fit(
            model, DataLoader(blobs()), loss_fn=nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(model.parameters()),
            epochs=2, checkpoint=path, progress=False,
        )  # fmt: skip


# --------------------------------------------------------------------------- what a checkpoint holds


def test_checkpoint_contents_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    metadata = {"classes": ("cat", "dog"), "input_size": torch.Size([3, 32, 32]), "mean": np.array([0.5] * 3),
                "std": [0.25] * 3, "note": Path("lecture 4")}  # fmt: skip
    model, history = finished_run(path, metadata=metadata)
    state = load_checkpoint(path)  # weights_only=True inside

    assert state["epoch"] == 2 and state["history"] == history.records()
    assert History(state["history"]).to_frame().equals(history.to_frame())
    assert state["scheduler"]["last_epoch"] == 2 and state["scheduler"]["_last_lr"] == [0.05]
    assert state["optimizer"]["state"][0]["momentum_buffer"].shape == (16, 2)
    assert state["scaler"] == {}  # mixed precision is off on the CPU
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda", "loader"} and state["rng"]["loader"] is not None
    assert state["data_seed"] == 7  # the loader generator's seed
    meta = state["metadata"]
    assert meta["classes"] == ["cat", "dog"] and meta["input_size"] == [3, 32, 32]
    assert meta["mean"] == [0.5] * 3 and meta["std"] == [0.25] * 3 and meta["note"] == "lecture 4"
    assert meta["finished"] and not meta["stopped_early"] and meta["model_class"] == "Sequential"
    assert meta["optimizer"] == "SGD" and meta["scheduler"] == "StepLR" and meta["epochs"] == 2

    reloaded = dropout_mlp(seed=1)
    assert load_model_weights(reloaded, path)["classes"] == ["cat", "dog"]
    assert_same_weights(reloaded, model)


def test_metadata_must_be_storable_and_not_shadow_run_fields(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot store"):
        finished_run(tmp_path / "a.pt", metadata={"transform": object()})
    with pytest.raises(ValueError, match="written by fit"):
        finished_run(tmp_path / "b.pt", metadata={"finished": True})
    with pytest.raises(TypeError, match="weights_only"):
        save_checkpoint(tmp_path / "c.pt", {"loader": DataLoader(blobs())})
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_history_survives_a_weights_only_round_trip(tmp_path: Path) -> None:
    history = History([{"epoch": 1, "train_loss": 0.5, "train_acc": 0.75, "val_loss": math.nan, "val_acc": math.nan,
                        "lr": 0.1, "seconds": 1.5}])  # fmt: skip
    torch.save({"history": history.records()}, tmp_path / "h.pt")
    loaded = History(torch.load(tmp_path / "h.pt", weights_only=True)["history"])
    assert loaded.to_frame().equals(history.to_frame())
    assert loaded.best("train_loss")["epoch"] == 1 and math.isnan(loaded.last["val_loss"])


def test_checkpoint_files_get_normal_permissions(tmp_path: Path) -> None:
    """Temporary files start private (0o600); the finished checkpoint must be readable like any file."""
    from course_utils.checkpoints import save_checkpoint

    umask = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "run.pt", {"weights": torch.zeros(2)})
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


# --------------------------------------------------------------------------- metadata derived from the data


class Pictures(Dataset):
    """Small RGB PIL images of two sizes with a ``transform``, like an ImageFolder."""

    classes = ["cat", "dog"]

    def __init__(self, transform=None, count: int = 8) -> None:
        from PIL import Image

        self.transform = transform
        self.images = [Image.new("RGB", (40 + 8 * (i % 2), 36), (30 * i, 100, 200)) for i in range(count)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = self.images[index]
        return (self.transform(image) if self.transform is not None else image), index % 2


def picture_run(path: Path, transform, *, wrap: bool = False, **options) -> History:
    """One fit() epoch of a linear classifier on 32x32 pictures, checkpointed to ``path``, without ``metadata=``."""
    dataset = Pictures(transform)
    if wrap:
        dataset = torch.utils.data.Subset(dataset, range(6))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2))
    loader = DataLoader(dataset, batch_size=4)
    return fit(model, loader, loss_fn=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
               epochs=1, checkpoint=path, progress=False, **options)  # fmt: skip


def test_checkpoint_metadata_is_derived_from_the_dataset_and_its_transform(tmp_path: Path) -> None:
    from torchvision.transforms import v2

    from course_utils.checkpoints import data_metadata
    from course_utils.transforms import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, cifar_transforms, imagenet_transforms

    picture_run(tmp_path / "cifar.pt", cifar_transforms(train=True), wrap=True)  # a Subset of it
    meta = load_checkpoint(tmp_path / "cifar.pt")["metadata"]
    assert meta["classes"] == ["cat", "dog"] and meta["input_size"] == [3, 32, 32]
    assert meta["mean"] == list(CIFAR10_MEAN) and meta["std"] == list(CIFAR10_STD)

    derived = data_metadata(Pictures(imagenet_transforms(64, train=True)))  # a random crop fixes the size
    assert derived["input_size"] == [3, 64, 64] and derived["mean"] == list(IMAGENET_MEAN)
    plain = data_metadata(Pictures(v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])))
    assert plain["input_size"] == [3, 36, 40] and plain["mean"] == [0.0] * 3 and plain["std"] == [1.0] * 3
    open_size = data_metadata(Pictures(v2.Compose([v2.Resize(32), v2.ToImage()])))  # Resize(int): shorter side only
    assert "input_size" not in open_size and open_size["classes"] == ["cat", "dog"]
    tensors = data_metadata(DataLoader(torch.utils.data.Subset(blobs(), [0, 1])))  # no transform: no mean/std
    assert tensors == {"input_size": [2]}
    assert data_metadata(Pictures(v2.Compose([v2.Resize((8, 8)), v2.ToImage(), v2.Lambda(lambda x: x[5])]))) == {
        "classes": ["cat", "dog"], "mean": [0.0] * 3, "std": [1.0] * 3,
    }  # a transform that fails on the sample: the rest is derived, nothing crashes  # fmt: skip

    state = torch.get_rng_state()
    data_metadata(Pictures(imagenet_transforms(64, train=True)))  # reading a random crop draws no random numbers
    assert torch.equal(torch.get_rng_state(), state)

    picture_run(tmp_path / "extra.pt", cifar_transforms(), metadata={"note": "lecture 4"})  # extras still go in
    meta = load_checkpoint(tmp_path / "extra.pt")["metadata"]
    assert meta["note"] == "lecture 4" and meta["input_size"] == [3, 32, 32]


def test_checkpoint_of_other_normalisation_is_refused(tmp_path: Path) -> None:
    from course_utils.transforms import basic_transforms

    path = tmp_path / "run.pt"
    picture_run(path, basic_transforms(32, mean=[0.5] * 3, std=[0.25] * 3))
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"mean=\[0\.5, 0\.5, 0\.5\], but this run uses \[0\.4"):
        picture_run(path, basic_transforms(32, mean=[0.4] * 3, std=[0.25] * 3))
    with pytest.raises(CheckpointError, match="input_size"):
        picture_run(path, basic_transforms(16, mean=[0.5] * 3, std=[0.25] * 3))
    assert path.read_bytes() == before
    assert picture_run(path, basic_transforms(32, mean=[0.5] * 3, std=[0.25] * 3)).from_checkpoint  # same data: loaded
