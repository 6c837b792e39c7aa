"""Notebook 03's AlexNet (course_utils.models.alexnet): the paper's sizes, grouping, LRN and the two towers."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils.inspection import count_params, shape_table
from course_utils.models.alexnet import LRN_ALPHA, LRN_BETA, LRN_K, AlexNet, AlexNetTwoTowers, LocalResponseNorm

PAPER_LAYERS = {  # (filters or units, parameters) of the 2012 paper's network, 1000 classes
    "features.conv1": (96, 96 * 3 * 11 * 11 + 96),
    "features.conv2": (256, 256 * 48 * 5 * 5 + 256),
    "features.conv3": (384, 384 * 256 * 3 * 3 + 384),
    "features.conv4": (384, 384 * 192 * 3 * 3 + 384),
    "features.conv5": (256, 256 * 192 * 3 * 3 + 256),
    "classifier.fc6": (4096, 9216 * 4096 + 4096),
    "classifier.fc7": (4096, 4096 * 4096 + 4096),
    "classifier.fc8": (1000, 4096 * 1000 + 1000),
}


@pytest.fixture(scope="module")
def paper() -> AlexNet:
    torch.manual_seed(0)
    return AlexNet(num_classes=1000).eval()


def test_paper_alexnet_has_60965224_parameters_layer_by_layer(paper: AlexNet) -> None:
    assert count_params(paper).total == 60_965_224
    for name, (width, parameters) in PAPER_LAYERS.items():
        layer = paper.get_submodule(name)
        assert sum(p.numel() for p in layer.parameters()) == parameters, name
        assert getattr(layer, "out_channels", getattr(layer, "out_features", None)) == width, name


def test_paper_alexnet_shapes_at_227(paper: AlexNet) -> None:
    shapes = shape_table(paper, (3, 227, 227))["measured"]
    names = ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5"]
    assert shapes[[f"features.{name}" for name in names]].tolist() == [
        (96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13),
        (384, 13, 13), (384, 13, 13), (256, 13, 13), (256, 6, 6),
    ]  # fmt: skip
    pools = [m for m in paper.features if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.kernel_size == 3 and p.stride == 2 for p in pools)  # overlapping pooling
    assert [paper.features.get_submodule(f"conv{i}").groups for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert [m.p for m in paper.classifier if isinstance(m, nn.Dropout)] == [0.5, 0.5]


def test_adaptive_pool_is_the_identity_at_227_and_frees_the_input_size(paper: AlexNet) -> None:
    with torch.no_grad():
        maps = paper.features(torch.randn(1, 3, 227, 227))
        assert torch.equal(paper.avgpool(maps), maps)
        assert paper.features(torch.randn(1, 3, 224, 224)).shape == (1, 256, 5, 5)  # 6,400 values, not 9,216
        for size in (224, 128):
            assert paper(torch.randn(1, 3, size, size)).shape == (1, 1000)


def test_ungrouped_alexnet_costs_1413120_more_parameters() -> None:
    grouped, full = AlexNet(grouped=True), AlexNet(grouped=False)
    assert count_params(full).total == 62_378_344
    assert count_params(full).total - count_params(grouped).total == 1_413_120
    assert [full.features.get_submodule(f"conv{i}").groups for i in range(1, 6)] == [1] * 5


def test_torchvision_alexnet_is_the_one_gpu_variant() -> None:
    reference = torchvision.models.alexnet(weights=None)
    assert count_params(reference).total == 61_100_840
    widths = [m.out_channels for m in reference.features if isinstance(m, nn.Conv2d)]
    assert widths == [64, 192, 384, 256, 256]
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in reference.modules())
    assert all(m.groups == 1 for m in reference.features if isinstance(m, nn.Conv2d))


def test_local_response_norm_is_the_papers_formula_per_group() -> None:
    x = torch.rand(2, 8, 3, 3) * 5
    lrn = LocalResponseNorm(groups=2)
    expected = torch.empty_like(x)
    for group in range(2):
        part = x[:, 4 * group : 4 * group + 4]
        for i in range(4):  # b_i = a_i / (k + alpha * sum_{j=i-2..i+2} a_j^2) ** beta, within the group
            neighbours = part[:, max(0, i - 2) : min(4, i + 3)]
            expected[:, 4 * group + i] = part[:, i] / (LRN_K + LRN_ALPHA * (neighbours**2).sum(1)) ** LRN_BETA
    assert torch.allclose(lrn(x), expected, atol=1e-6)
    assert not torch.allclose(LocalResponseNorm(groups=1)(x), expected, atol=1e-6)  # groups change the result


def test_two_towers_compute_what_the_grouped_network_computes(paper: AlexNet) -> None:
    towers = AlexNetTwoTowers.from_grouped(paper, devices=("cpu", "cpu")).eval()
    assert count_params(towers).total == 60_965_224
    torch.manual_seed(1)
    x = torch.randn(2, 3, 227, 227)
    with torch.no_grad():
        ours, theirs = paper(x), towers(x)
    assert theirs.shape == (2, 1000)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5 * ours.abs().max().item())


def test_only_a_grouped_alexnet_splits_into_towers() -> None:
    with pytest.raises(ValueError, match="grouped"):
        AlexNetTwoTowers.from_grouped(AlexNet(grouped=False), devices=("cpu", "cpu"))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_towers_on_two_gpus(paper: AlexNet) -> None:
    towers = AlexNetTwoTowers.from_grouped(paper, devices=("cuda:0", "cuda:1")).eval()
    assert towers.a.conv1.weight.device.index == 0 and towers.b.conv1.weight.device.index == 1
    x = torch.randn(2, 3, 227, 227)
    with torch.no_grad():
        assert torch.allclose(towers(x).cpu(), paper(x), rtol=1e-3, atol=1e-4)


def test_forward_backward_small_input() -> None:
    torch.manual_seed(0)
    model = AlexNet(num_classes=2, widths=(24, 64, 96, 96, 64), hidden=256)
    loss = nn.CrossEntropyLoss()(model(torch.randn(2, 3, 128, 128)), torch.tensor([0, 1]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.features.conv1.weight.grad.abs().sum() > 0 and model.classifier.fc8.weight.grad.abs().sum() > 0


def test_narrow_alexnet_keeps_the_design_and_splits_into_towers() -> None:
    torch.manual_seed(0)
    model = AlexNet(num_classes=2, widths=(24, 64, 96, 96, 64), hidden=512).eval()
    assert [model.features.get_submodule(f"conv{i}").out_channels for i in range(1, 6)] == [24, 64, 96, 96, 64]
    assert model.classifier.fc6.in_features == 64 * 36 and model.classifier.fc7.out_features == 512
    towers = AlexNetTwoTowers.from_grouped(model, devices=("cpu", "cpu")).eval()
    assert count_params(towers).total == count_params(model).total
    x = torch.randn(3, 3, 160, 160)
    with torch.no_grad():
        ours, theirs = model(x), towers(x)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5 * ours.abs().max().item())


def test_he_initialisation() -> None:
    torch.manual_seed(0)
    model = AlexNet(num_classes=2)
    for layer in [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]:
        fan_in = layer.weight[0].numel()
        assert layer.bias.abs().max() == 0
        assert abs(layer.weight.std().item() / (2 / fan_in) ** 0.5 - 1) < 0.1, layer
