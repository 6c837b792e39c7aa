"""Grad-CAM: the heat lies where the class evidence is, the model is left as it was, and the overlay plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from course_utils import session
from course_utils.gradcam import grad_cam, heat_share, show_grad_cam


@pytest.fixture(autouse=True)
def no_course_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_current", None)
    yield
    plt.close("all")


class BrightnessNet(nn.Module):
    """Class 0 = "bright", class 1 = "dark": a 1x1 convolution measures brightness at each pixel, a
    global average and a linear layer turn it into the scores. The evidence for "bright" is exactly
    where the bright pixels are."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 2, kernel_size=1), nn.ReLU())
        self.bn = nn.BatchNorm2d(2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]).view(2, 3, 1, 1))
            self.features[0].bias.copy_(torch.tensor([0.0, 0.5]))  # channel 1: darkness
            self.fc.weight.copy_(torch.eye(2) * 10)
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.bn(self.features(x))).flatten(1))


def image_with_bright_corner(corner: str, size: int = 16) -> torch.Tensor:
    image = torch.zeros(3, size, size)
    half = size // 2
    rows = slice(0, half) if corner.startswith("top") else slice(half, size)
    cols = slice(0, half) if corner.endswith("left") else slice(half, size)
    image[:, rows, cols] = 1.0
    return image


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_the_heat_lies_in_the_corner_that_holds_the_evidence(corner: str) -> None:
    model = BrightnessNet().eval()
    image = image_with_bright_corner(corner)
    cam = grad_cam(model, image, "features", class_index=0)
    assert cam.heatmap.shape == (16, 16) and cam.class_index == 0
    assert float(cam.heatmap.max()) == pytest.approx(1.0) and float(cam.heatmap.min()) >= 0.0
    rows = slice(0, 8) if corner.startswith("top") else slice(8, 16)
    cols = slice(0, 8) if corner.endswith("left") else slice(8, 16)
    assert heat_share(cam.heatmap, rows, cols) > 0.8
    other_rows = slice(8, 16) if corner.startswith("top") else slice(0, 8)
    assert heat_share(cam.heatmap, other_rows) < 0.1


def test_the_default_class_is_the_predicted_one_with_its_probability() -> None:
    model = BrightnessNet().eval()
    image = image_with_bright_corner("top-left")
    cam = grad_cam(model, image, model.features)  # a module works as well as its name
    with torch.no_grad():
        scores = model(image[None])
    assert cam.class_index == int(scores.argmax())
    assert cam.probability == pytest.approx(float(torch.softmax(scores, dim=1).max()), rel=1e-5)


def test_grad_cam_leaves_the_model_as_it_was_even_when_frozen() -> None:
    model = BrightnessNet().train()
    for parameter in model.parameters():
        parameter.requires_grad = False
    buffers = {key: value.clone() for key, value in model.state_dict().items()}
    cam = grad_cam(model, image_with_bright_corner("top-left"), "features", class_index=0)
    assert cam.heatmap.max() > 0
    assert model.training and model.features.training
    assert all(torch.equal(buffers[key], value) for key, value in model.state_dict().items())
    assert all(not module._forward_hooks for module in model.modules())
    assert all(parameter.grad is None for parameter in model.parameters())


def test_a_trained_network_looks_at_the_corner_that_tells_the_classes_apart() -> None:
    """Noise photos; class 1 has a bright patch in the top-left corner. After training, Grad-CAM for
    class 1 on a class-1 photo points at that corner."""
    torch.manual_seed(0)
    images = torch.rand(128, 3, 16, 16) * 0.5
    labels = torch.arange(128) % 2
    images[labels == 1, :, 1:6, 1:6] += 0.5
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2),
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    assert (model(images).argmax(dim=1) == labels).float().mean() > 0.95
    test = torch.rand(3, 16, 16) * 0.5
    test[:, 1:6, 1:6] += 0.5
    cam = grad_cam(model, test, "3", class_index=1)
    assert heat_share(cam.heatmap, slice(0, 8), slice(0, 8)) > 0.6


def test_show_grad_cam_overlays_a_heat_map_on_every_photo() -> None:
    model = BrightnessNet().eval()
    images = torch.stack([image_with_bright_corner("top-left"), image_with_bright_corner("bottom-right")])
    fig = show_grad_cam(model, images, "features", ["bright", "dark"], labels=[0, 1], mean=(0.0,) * 3, std=(1.0,) * 3)
    assert len(fig.axes) == 2
    assert all(len(ax.images) == 2 for ax in fig.axes)  # the photo and its heat map
    assert fig.axes[0].get_title().startswith("pred: bright") and "true: bright" in fig.axes[0].get_title()
    assert fig.axes[1].get_title().startswith("pred: bright") and "true: dark" in fig.axes[1].get_title()
    assert [ax.title.get_color() for ax in fig.axes] == ["tab:green", "tab:red"]
    assert "Grad-CAM" in fig._suptitle.get_text()


def test_heat_share() -> None:
    heat = torch.zeros(4, 4)
    heat[0, 0] = 3.0
    heat[3, 3] = 1.0
    assert heat_share(heat, slice(0, 2), slice(0, 2)) == pytest.approx(0.75)
    assert heat_share(torch.zeros(4, 4), slice(0, 2)) == 0.0
