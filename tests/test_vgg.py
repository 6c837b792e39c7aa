"""VGG-11/13/16/19 from one table: torchvision's counts and layer names, the lecture's BN placement, the CIFAR variant.

The ImageNet-sized networks (133-144 million parameters) are built on the ``meta`` device, which
has shapes but no memory, so names, shapes and counts are checked without allocating them.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils.inspection import count_macs, count_params
from course_utils.models import vgg as vgg_module
from course_utils.models.vgg import CONFIGS, DEPTHS, cifar_vgg, make_layers, vgg

PUBLISHED = {  # torchvision's documented num_params
    (11, False): 132_863_336,
    (13, False): 133_047_848,
    (16, False): 138_357_544,
    (19, False): 143_667_240,
    (16, True): 138_365_992,
}


def torchvision_vgg(depth: int, batch_norm: bool) -> nn.Module:
    return getattr(torchvision.models, f"vgg{depth}{'_bn' if batch_norm else ''}")(weights=None)


@pytest.mark.parametrize("depth", [11, 13, 16, 19])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_every_configuration_matches_torchvision_and_loads_its_state_dict(depth: int, batch_norm: bool) -> None:
    with torch.device("meta"):
        ours, theirs = vgg(depth, batch_norm=batch_norm), torchvision_vgg(depth, batch_norm)
    assert count_params(ours).total == count_params(theirs).total
    if (depth, batch_norm) in PUBLISHED:
        assert count_params(ours).total == PUBLISHED[(depth, batch_norm)]
    ours.load_state_dict(theirs.state_dict(), strict=True)  # same names and shapes
    assert [type(m) for m in ours.modules()][1:] == [type(m) for m in theirs.modules()][1:]  # same layers, same order


def test_a_state_dict_of_another_configuration_is_refused() -> None:
    with torch.device("meta"):
        vgg16, vgg19 = vgg(16), torchvision_vgg(19, batch_norm=False)
        cifar, imagenet = cifar_vgg(16, batch_norm=False), torchvision_vgg(16, batch_norm=False)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        vgg16.load_state_dict(vgg19.state_dict(), strict=True)
    with pytest.raises(RuntimeError, match="size mismatch"):
        cifar.load_state_dict(imagenet.state_dict(), strict=True)


def test_forward_equals_torchvision_with_its_weights() -> None:
    """The convolution stack in the same order (BN before ReLU); the classifiers are identical Sequentials."""
    theirs = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["A"], batch_norm=True).eval()
    ours = make_layers(CONFIGS["A"], batch_norm=True).eval()
    with torch.no_grad():
        for module in theirs.modules():  # non-trivial running statistics, so that BN's place matters
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
        ours.load_state_dict(theirs.state_dict(), strict=True)
        x = torch.randn(2, 3, 64, 64)
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_table_depths_count_weight_layers() -> None:
    for depth, name in DEPTHS.items():
        convolutions = sum(1 for item in CONFIGS[name] if item != "M")
        assert convolutions + 3 == depth
        assert CONFIGS[name].count("M") == 5


def test_lecture_block_batch_norm_is_one_per_block_after_the_last_relu() -> None:
    with torch.device("meta"):
        lecture = vgg(16, batch_norm="block")
    assert count_params(lecture).total == 138_360_488  # 138,357,544 + 2 x (64 + 128 + 256 + 512 + 512)
    layers = list(lecture.features)
    norms = [index for index, layer in enumerate(layers) if isinstance(layer, nn.BatchNorm2d)]
    assert len(norms) == 5
    for index in norms:
        assert isinstance(layers[index - 1], nn.ReLU) and isinstance(layers[index + 1], nn.MaxPool2d)


def test_standard_batch_norm_sits_between_every_convolution_and_its_relu() -> None:
    layers = list(make_layers(CONFIGS["D"], batch_norm=True))
    for index, layer in enumerate(layers):
        if isinstance(layer, nn.Conv2d):
            assert isinstance(layers[index + 1], nn.BatchNorm2d) and isinstance(layers[index + 2], nn.ReLU)


def test_feature_maps_halve_five_times() -> None:
    with torch.device("meta"):
        model = vgg(16)
        assert model.features(torch.empty(1, 3, 224, 224)).shape == (1, 512, 7, 7)
        assert count_macs(model, (3, 224, 224)) == 15_470_264_320  # torchvision: 15.47 GFLOPS (MACs)


def test_cifar_variant_keeps_the_convolution_stack_and_trains() -> None:
    with torch.device("meta"):
        imagenet_features = torchvision_vgg(16, batch_norm=True).features
    model = cifar_vgg(16, num_classes=10, batch_norm=True)
    assert count_params(model.features).total == count_params(imagenet_features).total
    assert [(layer.in_features, layer.out_features) for layer in model.classifier] == [(512, 10)]
    assert count_params(model).total == 14_728_266  # the 14,723,136 of the convolutions + 512 x 10 + 10

    torch.manual_seed(0)
    small = cifar_vgg(16, width=1 / 8)
    convs = [layer.out_channels for layer in small.features if isinstance(layer, nn.Conv2d)]
    assert convs == [8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64]
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    out = small(x)
    assert out.shape == (4, 10)
    nn.functional.cross_entropy(out, y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in small.parameters())


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        vgg(15)
    with pytest.raises(ValueError, match="depth"):
        cifar_vgg(12)
    with pytest.raises(ValueError, match="batch_norm"):
        make_layers(CONFIGS["A"], batch_norm="every")


def test_initialisation_is_torchvisions() -> None:
    torch.manual_seed(0)
    model = vgg_module.VGG(make_layers(CONFIGS["A"], batch_norm=False), 10, pool_size=1, hidden=512)
    conv, linear = model.features[0], model.classifier[0]
    assert torch.count_nonzero(conv.bias) == 0 and torch.count_nonzero(linear.bias) == 0
    assert abs(linear.weight.std().item() - 0.01) < 0.001
    expected = (2 / (conv.out_channels * 9)) ** 0.5  # He normal, fan_out
    assert abs(conv.weight.std().item() - expected) < 0.2 * expected
