"""features: one backbone pass, then head epochs on the cached vectors; the head fits back on the network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import session
from course_utils.features import FeatureDataset, extract_features, feature_loader, headless
from course_utils.models.cifar_resnet import cifar_resnet
from course_utils.tensordata import TensorImages, batch_loader
from course_utils.training import fit
from course_utils.transfer import classifier_head

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(autouse=True)
def no_course_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_current", None)


def images(count: int = 40, seed: int = 0) -> TensorImages:
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 120, (count, 3, 16, 16), generator=generator, dtype=torch.uint8)
    labels = torch.arange(count) % 2
    pixels[labels == 1] += 120  # bright images are class 1
    return TensorImages(pixels, labels, ["dark", "bright"])


def test_headless_network_outputs_the_features_and_shares_the_weights() -> None:
    torch.manual_seed(0)
    model = cifar_resnet(20).eval()
    backbone = headless(model)
    x = torch.randn(3, 3, 16, 16)
    assert torch.equal(backbone(x), model.forward_features(x))
    assert isinstance(model.fc, nn.Linear) and model(x).shape == (3, 10)  # the model keeps its head
    assert backbone.conv1.weight is model.conv1.weight
    with pytest.raises(ValueError, match="no attribute 'head'"):
        headless(model, head="head")


def test_features_are_one_pass_of_the_backbone_and_its_mode_is_kept() -> None:
    torch.manual_seed(0)
    model = cifar_resnet(20)
    model.train()
    data = images()
    loader = batch_loader(data, 16, mean=MEAN, std=STD)
    features = extract_features(headless(model), loader, progress=False)

    assert isinstance(features, FeatureDataset) and features.width == 64 and len(features) == 40
    assert features.classes == ["dark", "bright"] and torch.equal(features.targets, data.targets)
    model.eval()
    with torch.no_grad():
        expected = torch.cat([model.forward_features(batch) for batch, _ in loader])
    assert torch.allclose(features.features, expected, atol=1e-6)
    running_mean = model.bn1.running_mean.clone()
    model.train()
    extract_features(headless(model), loader, progress=False)
    assert model.training and torch.equal(model.bn1.running_mean, running_mean)  # eval mode while extracting


def test_a_head_trained_on_cached_features_fits_back_on_the_network() -> None:
    torch.manual_seed(0)
    model = cifar_resnet(20).eval()
    loader = batch_loader(images(), 16, mean=MEAN, std=STD)
    features = extract_features(headless(model), loader, progress=False)
    batches = feature_loader(features, 8, shuffle=True, seed=1)
    first_inputs, first_labels = next(iter(batches))
    assert first_inputs.shape == (8, 64) and first_labels.shape == (8,)

    head = classifier_head(features.width, num_classes=2, hidden=32)
    history = fit(head, batches, feature_loader(features, 64), loss_fn=nn.NLLLoss(),
                  optimizer=torch.optim.Adam(head.parameters(), lr=1e-2), epochs=10, device="cpu", progress=False)  # fmt: skip
    assert history[-1]["train_loss"] < history[0]["train_loss"]

    model.fc = head
    head.eval()
    with torch.no_grad():
        whole = torch.cat([model(batch) for batch, _ in loader])
        assert torch.allclose(whole, head(features.features), atol=1e-5)


def test_feature_dataset_checks_its_shapes() -> None:
    with pytest.raises(ValueError, match="expected"):
        FeatureDataset(torch.zeros(4, 2, 2), torch.zeros(4))
    moved = FeatureDataset(torch.zeros(4, 3), torch.zeros(4), ["a"]).to("cpu")
    assert moved.width == 3 and moved.classes == ["a"]
