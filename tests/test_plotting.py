"""course_utils.plotting on real photos, real torchvision models and real-shaped histories."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from torch import nn
from torchvision import transforms

from course_utils import plotting, session
from course_utils.images import load_rgb

from conftest import SHARED_DATA

PHOTOS = SHARED_DATA / "cats_dogs" / "train"
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def photo_paths() -> list[Path]:
    cats, dogs = sorted((PHOTOS / "cats").glob("*.jpg"))[:4], sorted((PHOTOS / "dogs").glob("*.jpg"))[:4]
    if len(cats) < 4 or len(dogs) < 4:
        pytest.skip(f"real photos not found under {PHOTOS}")
    return cats + dogs  # labels: 4 x cat (0), 4 x dog (1)


@pytest.fixture(scope="module")
def photo_batch(photo_paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """The photos as the course feeds them to a model (normalised), and the same before normalising."""
    to_tensor = transforms.Compose([transforms.Resize(72), transforms.CenterCrop(64), transforms.ToTensor()])
    raw = torch.stack([to_tensor(load_rgb(path)) for path in photo_paths])
    return transforms.Normalize(MEAN, STD)(raw), raw


@pytest.fixture
def synthetic_session() -> Iterator[None]:
    previous = session._current
    session.setup(quiet=True)
    session.mark_synthetic("cifar10")
    try:
        yield
    finally:
        session._current = previous


def suptitle(fig: Figure) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def history_rows(epochs: int = 6, with_val: bool = True) -> list[dict]:
    rows = []
    for epoch in range(1, epochs + 1):
        rows.append(
            {
                "epoch": epoch,
                "train_loss": 2.0 / epoch,
                "train_acc": 0.4 + 0.08 * epoch,
                "val_loss": (2.2 / epoch + 0.05 * epoch) if with_val else None,
                "val_acc": (0.35 + 0.07 * epoch) if with_val else None,
                "lr": 0.01,
                "seconds": 1.5,
            }
        )
    return rows


class FakeHistory(list):
    """Shaped like course_utils.training.History: a list of per-epoch dicts with ``to_frame()``."""

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self))


# ------------------------------------------------------------------------------ images


def test_show_batch_undoes_normalisation(photo_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    normalised, raw = photo_batch
    fig = plotting.show_batch(normalised, torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), ["cat", "dog"], mean=MEAN, std=STD)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 8
    assert [ax.get_title() for ax in fig.axes] == ["cat"] * 4 + ["dog"] * 4
    shown = np.asarray(fig.axes[5].images[0].get_array())
    assert shown.shape == (64, 64, 3)
    np.testing.assert_allclose(shown, raw[5].permute(1, 2, 0).numpy(), atol=1e-5)
    plt.close(fig)


def test_plots_read_the_normalisation_from_the_transform(photo_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    normalised, raw = photo_batch
    transform = transforms.Compose([transforms.Resize(72), transforms.CenterCrop(64), transforms.ToTensor(),
                                    transforms.Normalize(MEAN, STD)])  # fmt: skip
    dataset = torchvision.datasets.FakeData(size=8, image_size=(3, 64, 64), transform=transform)
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    figures = [
        plotting.show_batch(normalised, labels, ["cat", "dog"], transform=transform),
        plotting.show_batch(normalised, labels, ["cat", "dog"], transform=dataset),
        plotting.show_images(normalised, transform=transform),
        plotting.prediction_grid(normalised, labels, labels, None, ["cat", "dog"], transform=transform),
    ]
    for fig in figures:
        for ax, expected in zip(fig.axes, raw):
            np.testing.assert_allclose(ax.images[0].get_array(), expected.permute(1, 2, 0).numpy(), atol=1e-5)
        plt.close(fig)
    with pytest.raises(ValueError, match="not both"):
        plotting.show_batch(normalised, labels, ["cat", "dog"], transform=transform, mean=MEAN, std=STD)


def test_show_matrices_annotates_every_cell() -> None:
    image = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=np.float32)
    kernel = torch.tensor([[-1.0, 0.5], [0.25, 2.0]])
    fig = plotting.show_matrices({"image": image, "kernel": kernel})
    assert [ax.get_title() for ax in fig.axes] == ["image", "kernel"]
    assert [text.get_text() for text in fig.axes[1].texts] == ["-1", "0.5", "0.25", "2"]
    assert fig.axes[1].images[0].get_clim() == (-1.0, 2.0)
    plt.close(fig)
    single = plotting.show_matrices({"feature map": image})  # one matrix: a single axes, not a list
    assert len(single.axes) == 1 and len(single.axes[0].texts) == 9
    plt.close(single)
    with pytest.raises(ValueError, match="not \\(rows, columns\\)"):
        plotting.show_matrices({"batch": np.zeros((2, 3, 3))})


def test_show_batch_limits_count_and_handles_grayscale() -> None:
    images = torch.rand(40, 1, 28, 28) * 3 - 1  # out of range on purpose: must be clamped
    fig = plotting.show_batch(images, list(range(10)) * 4, [str(i) for i in range(10)], ncols=10)
    assert len(fig.axes) == 32
    first = fig.axes[0].images[0]
    assert np.asarray(first.get_array()).shape == (28, 28)
    assert first.get_cmap().name.startswith("gray")
    assert 0.0 <= float(first.get_array().min()) and float(first.get_array().max()) <= 1.0
    assert "32 of 40" in suptitle(fig)
    plt.close(fig)


def test_show_images_accepts_paths_and_pil(photo_paths: list[Path]) -> None:
    pil = load_rgb(photo_paths[1])
    fig = plotting.show_images([photo_paths[0], pil], ["from a path", "from PIL"])
    assert [ax.get_title() for ax in fig.axes] == ["from a path", "from PIL"]
    assert np.asarray(fig.axes[1].images[0].get_array()).shape == (pil.height, pil.width, 3)
    plt.close(fig)


def test_denormalize_rejects_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match="channels"):
        plotting.denormalize(torch.rand(1, 8, 8), MEAN, STD)


def test_prediction_grid_colours_right_and_wrong(photo_paths: list[Path]) -> None:
    truth = [0, 0, 0, 0, 1, 1, 1, 1]
    predicted = [0, 1, 0, 0, 1, 1, 0, 1]
    confidence = [0.91, 0.62, 0.88, 0.97, 0.75, 0.55, 0.81, 0.99]
    fig = plotting.prediction_grid(photo_paths, truth, predicted, confidence, ["cat", "dog"])
    assert len(fig.axes) == 8
    for ax, actual, guess, p in zip(fig.axes, truth, predicted, confidence):
        red, green, _ = to_rgb(ax.title.get_color())
        assert (green > red) == (actual == guess), ax.get_title()
        assert f"{p:.0%}" in ax.get_title()
    assert "6/8 correct" in suptitle(fig)
    plt.close(fig)


def test_prediction_grid_takes_a_softmax_matrix_and_tensors(photo_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    normalised, _ = photo_batch
    probabilities = torch.softmax(torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), dim=1)
    predicted = probabilities.argmax(dim=1)
    fig = plotting.prediction_grid(normalised, None, predicted, probabilities, ["cat", "dog"], mean=MEAN, std=STD)
    for ax, row, guess in zip(fig.axes, probabilities, predicted):
        assert f"{float(row[guess]):.0%}" in ax.get_title()
        assert to_rgb(ax.title.get_color()) == to_rgb("black"), "no truth given: no colour verdict"
    plt.close(fig)
    with pytest.raises(ValueError, match="softmax"):
        plotting.prediction_grid(normalised, None, predicted, probabilities * 10, ["cat", "dog"])


# ------------------------------------------------------------------------------ curves and matrix


@pytest.mark.parametrize("kind", ["course_history", "history_like", "frame", "dicts"])
def test_training_curves_accepts_history_frame_and_dicts(kind: str) -> None:
    rows = history_rows()
    if kind == "course_history":
        history = pytest.importorskip("course_utils.training").History(rows)
    else:
        history = {"history_like": FakeHistory(rows), "frame": pd.DataFrame(rows), "dicts": rows}[kind]
    fig = plotting.training_curves(history)
    loss_ax, acc_ax = fig.axes
    assert (loss_ax.get_title(), acc_ax.get_title()) == ("Loss", "Accuracy")
    labelled = {line.get_label(): line for line in loss_ax.get_lines()}
    np.testing.assert_allclose(labelled["train"].get_ydata(), [row["train_loss"] for row in rows])
    np.testing.assert_allclose(labelled["validation"].get_xdata(), range(1, 7))
    best = min(rows, key=lambda row: row["val_loss"])["epoch"]
    assert f"best val loss (epoch {best})" in labelled
    fig.canvas.draw()
    ticks = [tick for tick in loss_ax.get_xticks() if 1 <= tick <= 6]
    assert ticks and all(float(tick).is_integer() for tick in ticks)
    assert acc_ax.yaxis.get_major_formatter()(0.5, 0).startswith("50")
    plt.close(fig)


def test_training_curves_without_validation() -> None:
    rows = history_rows(3, with_val=False)
    rows[1]["val_loss"] = float("nan")  # NaN (as course_utils.training records it) or None: both mean unmeasured
    fig = plotting.training_curves(FakeHistory(rows))
    for ax in fig.axes:
        assert [line.get_label() for line in ax.get_lines()] == ["train"]
    plt.close(fig)


def test_confusion_matrix_annotates_every_cell() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 15, size=(10, 10)) + np.diag(rng.integers(40, 90, size=10))
    matrix[3] = 0  # a class without test images must not produce NaN
    fig = plotting.confusion_matrix_plot(matrix, CIFAR10)
    ax = fig.axes[0]
    assert [text.get_text() for text in ax.texts] == [str(v) for v in matrix.ravel()]
    assert [label.get_text() for label in ax.get_xticklabels()] == CIFAR10
    accuracy = np.trace(matrix) / matrix.sum()
    assert f"{accuracy:.1%}" in suptitle(fig)
    plt.close(fig)

    fig = plotting.confusion_matrix_plot(torch.as_tensor(matrix), CIFAR10, normalize=True)
    cells = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(cells.sum(axis=1), [0.0 if i == 3 else 1.0 for i in range(10)])
    assert fig.axes[0].texts[0].get_text() == f"{matrix[0, 0] / matrix[0].sum():.0%}"
    plt.close(fig)

    with pytest.raises(ValueError, match="10x10"):
        plotting.confusion_matrix_plot(matrix[:9, :9], CIFAR10)


# ------------------------------------------------------------------------------ inside a CNN


def test_first_layer_filters_of_alexnet_in_colour() -> None:
    model = torchvision.models.alexnet(weights=None)
    fig = plotting.first_layer_filters(model)
    assert len(fig.axes) == 64
    image = np.asarray(fig.axes[0].images[0].get_array())
    assert image.shape == (11, 11, 3)
    assert image.min() == pytest.approx(0.0) and image.max() == pytest.approx(1.0)
    assert "features.0" in suptitle(fig)
    plt.close(fig)

    fig = plotting.first_layer_filters(torchvision.models.resnet18(weights=None), max_filters=16)
    assert len(fig.axes) == 16 and "first 16 shown" in suptitle(fig)
    plt.close(fig)


def test_first_layer_filters_other_channel_counts() -> None:
    fig = plotting.first_layer_filters(nn.Conv2d(1, 6, 5).weight)  # LeNet on MNIST: grayscale
    assert len(fig.axes) == 6
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (5, 5)
    plt.close(fig)

    fig = plotting.first_layer_filters(nn.Sequential(nn.ReLU(), nn.Conv2d(4, 8, 3)))  # channels side by side
    strip = np.ma.getdata(fig.axes[0].images[0].get_array())
    assert strip.shape == (3, 4 * 3 + 3)
    assert np.isnan(strip[:, 3]).all()  # the gap between channels
    plt.close(fig)

    with pytest.raises(ValueError, match="no nn.Conv2d"):
        plotting.first_layer_filters(nn.Linear(3, 3))


def test_feature_maps_show_the_layer_output(photo_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    model = torchvision.models.alexnet(weights=None).train()
    image = photo_batch[0][0]
    fig = plotting.feature_maps(model, "features.1", image, max_maps=12)
    assert len(fig.axes) == 12
    expected = model.features[:2].eval()(image.unsqueeze(0))[0].detach()
    model.train()
    np.testing.assert_allclose(np.asarray(fig.axes[7].images[0].get_array()), expected[7].numpy(), rtol=1e-4, atol=1e-5)
    assert "64x15x15" in suptitle(fig)
    plt.close(fig)


def test_feature_maps_restore_mode_and_remove_hooks(photo_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    model = torchvision.models.resnet18(weights=None).train()
    running_mean = model.bn1.running_mean.clone()
    fig = plotting.feature_maps(model, model.layer1, photo_batch[0][:1])
    assert len(fig.axes) == 32
    assert model.training and all(module.training for module in model.modules())
    assert torch.equal(model.bn1.running_mean, running_mean)
    assert all(not module._forward_hooks for module in model.modules())
    plt.close(fig)

    with pytest.raises(RuntimeError):  # a 1-channel image into an RGB model: the forward pass fails
        plotting.feature_maps(model, "layer1", torch.rand(1, 64, 64))
    assert all(not module._forward_hooks for module in model.modules())
    assert model.training

    with pytest.raises(ValueError, match="not channel maps"):
        plotting.feature_maps(model, "fc", photo_batch[0][0])


# ------------------------------------------------------------------------------ stand-in data notice


def test_every_plot_says_when_data_is_synthetic(synthetic_session: None) -> None:
    notice = session.data_notice().strip()
    assert "SYNTHETIC" in notice
    images = torch.rand(4, 3, 32, 32)
    figures = [
        plotting.show_batch(images, [0, 1, 2, 3], CIFAR10),
        plotting.show_images(images),
        plotting.prediction_grid(images, [0, 1, 2, 3], [0, 1, 2, 4], [0.9, 0.8, 0.7, 0.6], CIFAR10),
        plotting.training_curves(history_rows(2)),
        plotting.confusion_matrix_plot(np.eye(10, dtype=int) * 5, CIFAR10),
        plotting.first_layer_filters(nn.Conv2d(3, 4, 3)),
        plotting.feature_maps(nn.Sequential(nn.Conv2d(3, 4, 3)), "0", images[0]),
    ]
    for fig in figures:
        assert notice in suptitle(fig)
        plt.close(fig)


def test_real_data_has_no_notice() -> None:
    previous = session._current
    session._current = None
    try:
        fig = plotting.confusion_matrix_plot(np.eye(2, dtype=int), ["a", "b"])
        assert "SYNTHETIC" not in suptitle(fig)
        plt.close(fig)
    finally:
        session._current = previous
