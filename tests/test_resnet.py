"""ResNet-18..152 against torchvision and the paper, the CIFAR ResNets and plain nets, gradient norms per layer."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import course_utils as cu
from course_utils.models.cifar_resnet import ZeroPadShortcut, cifar_plain, cifar_resnet
from course_utils.models.resnet import LAYERS, BasicBlock, Bottleneck, projection_shortcut, resnet

TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
"""Parameter counts of torchvision's ResNets (its documentation's figures)."""
PAPER_GMACS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
"""Table 1 of He et al. (2015): "FLOPs", which are multiply-adds, in 10^9."""


def on_meta(depth: int, **options) -> nn.Module:
    """A ResNet with shapes but no numbers: enough to count parameters and MACs, and instant to build."""
    with torch.device("meta"):
        return resnet(depth, **options)


@pytest.mark.parametrize("depth", sorted(LAYERS))
def test_parameter_counts_match_torchvision(depth: int) -> None:
    assert cu.count_params(on_meta(depth)).total == TORCHVISION_PARAMS[depth]
    assert cu.count_params(on_meta(depth, stride_in_1x1=True)).total == TORCHVISION_PARAMS[depth]


@pytest.mark.parametrize("depth", sorted(LAYERS))
def test_every_weight_has_torchvision_name_and_shape(depth: int) -> None:
    """What ``load_state_dict(strict=True)`` checks, on the meta device (no memory, no time) for every depth."""
    with torch.device("meta"):
        reference = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    expected = {name: tensor.shape for name, tensor in reference.state_dict().items()}
    assert {name: tensor.shape for name, tensor in on_meta(depth).state_dict().items()} == expected


@pytest.mark.parametrize("depth", [18, 34, 50])  # 101 and 152 are ResNet-50 with more blocks (checked above)
def test_torchvision_weights_load_strictly_and_give_the_same_outputs(depth: int) -> None:
    torch.manual_seed(depth)
    reference = getattr(torchvision.models, f"resnet{depth}")(weights=None).eval()
    ours = resnet(depth).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)  # small and quick: layer4 works on 1x1 maps
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert got.shape == (2, 1000)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_the_output_comparison_catches_what_strict_loading_cannot() -> None:
    """Moving the stride to the 1x1 conv keeps every name and shape, so only the outputs tell."""
    torch.manual_seed(0)
    reference = torchvision.models.resnet50(weights=None).eval()
    paper = resnet(50, stride_in_1x1=True).eval()
    paper.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)  # stride placement shows only where a map has more than one pixel
    with torch.no_grad():
        assert not torch.allclose(paper(x), reference(x), rtol=1e-3, atol=1e-3)


def test_a_wrong_architecture_detail_fails_strict_loading() -> None:
    reference = torchvision.models.resnet18(weights=None)
    wrong = resnet(34)  # more blocks in every stage
    with pytest.raises(RuntimeError, match="Unexpected key|Missing key"):
        reference.load_state_dict(wrong.state_dict(), strict=True)


@pytest.mark.parametrize("depth", sorted(LAYERS))
def test_weighted_layers_add_up_to_the_depth(depth: int) -> None:
    per_block = 2 if depth < 50 else 3
    assert 1 + per_block * sum(LAYERS[depth]) + 1 == depth  # conv1, the blocks' convs, fc
    model = on_meta(depth)
    shortcuts = sum(1 for name, _ in model.named_modules() if name.endswith("downsample.0"))
    weighted = sum(isinstance(module, (nn.Conv2d, nn.Linear)) for module in model.modules())
    assert weighted - shortcuts == depth


def test_macs_against_table_1_of_the_paper() -> None:
    """torchvision strides the 3x3 conv ("v1.5"); the paper strides the first 1x1 conv."""
    torchvision_style = {depth: cu.count_macs(on_meta(depth), (3, 224, 224)) / 1e9 for depth in LAYERS}
    paper_style = {depth: cu.count_macs(on_meta(depth, stride_in_1x1=True), (3, 224, 224)) / 1e9 for depth in LAYERS}
    assert [round(paper_style[depth], 2) for depth in (50, 101, 152)] == [3.86, 7.57, 11.28]
    assert [round(torchvision_style[depth], 2) for depth in LAYERS] == [1.81, 3.66, 4.09, 7.80, 11.51]
    for depth in LAYERS:
        assert abs(paper_style[depth] - PAPER_GMACS[depth]) < 0.07, depth
    for depth in (50, 101, 152):  # the same three first blocks of stages 2-4 make the whole gap
        assert torchvision_style[depth] - paper_style[depth] == pytest.approx(0.2312, abs=1e-4)
        assert torchvision_style[depth] - PAPER_GMACS[depth] > 0.19
    assert paper_style[18] == torchvision_style[18]  # basic blocks have no 1x1 conv to move the stride to


def test_feature_maps_of_resnet50_shrink_as_in_table_1() -> None:
    model = on_meta(50).eval()
    sizes = {}

    def record(name: str):
        def hook(_module: nn.Module, _inputs, output: torch.Tensor) -> None:
            sizes[name] = tuple(output.shape[1:])

        return hook

    stages = ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4")
    hooks = [model.get_submodule(name).register_forward_hook(record(name)) for name in stages]
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 224, 224, device="meta"))
    for hook in hooks:
        hook.remove()
    assert sizes == {
        "conv1": (64, 112, 112),
        "maxpool": (64, 56, 56),
        "layer1": (256, 56, 56),
        "layer2": (512, 28, 28),
        "layer3": (1024, 14, 14),
        "layer4": (2048, 7, 7),
    }
    assert features.shape == (1, 2048)


def test_blocks_keep_or_change_shape_as_taught() -> None:
    x = torch.randn(2, 64, 56, 56)
    assert BasicBlock(64, 64)(x).shape == x.shape
    down = BasicBlock(64, 128, stride=2, downsample=projection_shortcut(64, 128, stride=2))
    assert down(x).shape == (2, 128, 28, 28)
    with pytest.raises(RuntimeError):
        BasicBlock(64, 128, stride=2)(x)  # F(x) is (128, 28, 28), x is (64, 56, 56): they cannot be added
    wide = torch.randn(2, 256, 56, 56)
    assert Bottleneck(256, 64)(wide).shape == wide.shape
    first = Bottleneck(64, 64, downsample=projection_shortcut(64, 256, stride=1))
    assert first(x).shape == (2, 256, 56, 56)


def test_a_residual_block_with_a_silent_branch_is_the_identity() -> None:
    """With the last batch norm's scale at zero, F(x) = 0 and the block passes x on (x >= 0, after a ReLU)."""
    block = BasicBlock(16, 16).eval()
    nn.init.zeros_(block.bn2.weight)
    x = torch.rand(2, 16, 8, 8)
    with torch.no_grad():
        assert torch.equal(block(x), x)


def test_a_bottleneck_costs_about_what_a_basic_block_does() -> None:
    """The paper's argument: 1x1 (256->64), 3x3 (64), 1x1 (64->256) ~ two 3x3 convs at 64 channels."""
    bottleneck = sum(p.numel() for name, p in Bottleneck(256, 64).named_parameters() if "conv" in name)
    basic = sum(p.numel() for name, p in BasicBlock(64, 64).named_parameters() if "conv" in name)
    assert (bottleneck, basic) == (69_632, 73_728)


def test_resnet_refuses_an_unknown_depth() -> None:
    with pytest.raises(ValueError, match="18, 34, 50, 101, 152"):
        resnet(42)


# --- CIFAR-10 ResNets and plain nets (paper section 4.2) -------------------------------------------


@pytest.mark.parametrize(("depth", "params"), [(20, 269_722), (32, 464_154), (44, 658_586), (56, 853_018)])
def test_cifar_resnet_parameter_counts(depth: int, params: int) -> None:
    assert cu.count_params(cifar_resnet(depth)).total == params
    assert cu.count_params(cifar_plain(depth)).total == params  # option A shortcuts have no parameters


@pytest.mark.parametrize("build", [cifar_resnet, cifar_plain])
def test_cifar_nets_have_6n_plus_2_weighted_layers(build) -> None:
    model = build(20)
    assert sum(isinstance(module, (nn.Conv2d, nn.Linear)) for module in model.modules()) == 20
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(parameter.grad is not None for parameter in model.parameters())
    with pytest.raises(ValueError, match="6n"):
        build(21)


def test_plain_nets_have_no_shortcut() -> None:
    plain, residual = cifar_plain(20), cifar_resnet(20)
    assert not any(isinstance(module, ZeroPadShortcut) for module in plain.modules())
    assert sum(isinstance(module, ZeroPadShortcut) for module in residual.modules()) == 2
    block = plain.layer1[0].eval()
    nn.init.zeros_(block.bn2.weight)  # a silent branch: a residual block would pass x on
    x = torch.rand(2, 16, 8, 8)
    with torch.no_grad():
        assert block(x).abs().sum() == 0


def test_zero_pad_shortcut_subsamples_and_pads_with_zeros() -> None:
    x = torch.randn(2, 16, 32, 32)
    out = ZeroPadShortcut(16, 32, stride=2)(x)
    assert out.shape == (2, 32, 16, 16)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


# --- gradient norms per layer ----------------------------------------------------------------------


def test_gradient_norms_equal_a_backward_pass_and_leave_the_model_alone() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x, y = torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1])
    running_mean = model[1].running_mean.clone()
    norms = cu.inspection.gradient_norms(model, x, y)
    assert list(norms.index) == ["0", "4"]
    assert all(p.grad is None for p in model.parameters())
    assert not model.training and torch.equal(model[1].running_mean, running_mean)

    model.train()
    nn.functional.cross_entropy(model(x), y).backward()
    assert norms.tolist() == pytest.approx([model[0].weight.grad.norm().item(), model[4].weight.grad.norm().item()])


def test_gradient_norms_follow_the_order_the_layers_run() -> None:
    block = BasicBlock(8, 16, stride=2, downsample=projection_shortcut(8, 16, stride=2))
    loss = lambda out, _targets: out.square().mean()  # noqa: E731
    norms = cu.inspection.gradient_norms(block, torch.randn(2, 8, 8, 8), torch.zeros(2), loss)
    assert list(norms.index) == ["downsample.0", "conv1", "conv2"]  # the shortcut runs first in forward()
    assert (norms > 0).all()


def test_gradients_spread_far_more_across_a_plain_net_than_a_residual_one() -> None:
    """At initialisation (batch norm in training mode) a deep plain net's gradients grow towards the input."""
    torch.manual_seed(0)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    spread = {}
    for build in (cifar_plain, cifar_resnet):
        torch.manual_seed(0)
        convs = cu.inspection.gradient_norms(build(32), x, y).drop("fc")
        spread[build.__name__] = convs.max() / convs.min()
    assert spread["cifar_plain"] > 10 * spread["cifar_resnet"], spread
