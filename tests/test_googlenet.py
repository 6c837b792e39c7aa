"""GoogLeNet: torchvision's counts and layer names (with its 3x3 "5x5" branch), the paper's 5x5 branch,
Inception with and without 1x1 reductions, auxiliary outputs and their loss, the 32x32 stem."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import course_utils as cu
from course_utils.inspection import count_macs, count_params, layer_table
from course_utils.models.googlenet import INCEPTION_CONFIGS, GoogLeNet, GoogLeNetOutputs, Inception, NaiveInception


def torchvision_googlenet(aux_logits: bool) -> nn.Module:
    return torchvision.models.googlenet(weights=None, aux_logits=aux_logits, init_weights=False)


@pytest.mark.parametrize(("aux_logits", "published"), [(False, 6_624_904), (True, 13_004_888)])
def test_torchvision_switch_matches_its_count_and_state_dict(aux_logits: bool, published: int) -> None:
    with torch.device("meta"):
        ours = GoogLeNet(aux_logits=aux_logits, branch3_kernel=3)
        theirs = torchvision_googlenet(aux_logits)
    assert count_params(ours).total == count_params(theirs).total == published
    ours.load_state_dict(theirs.state_dict(), strict=True)


def test_paper_5x5_branch_adds_16_weights_per_reduce_output_pair() -> None:
    extra = sum(16 * config[3] * config[4] for config in INCEPTION_CONFIGS.values())  # 5x5 - 3x3 = 16 weights each
    with torch.device("meta"):
        assert count_params(GoogLeNet(aux_logits=False)).total == 6_624_904 + extra == 7_005_832
        assert count_params(GoogLeNet(aux_logits=True)).total == 13_004_888 + extra == 13_385_816
        paper, theirs = GoogLeNet(aux_logits=False), torchvision_googlenet(False)
    assert paper.inception3a.branch3[1].conv.kernel_size == (5, 5)
    with pytest.raises(RuntimeError, match="size mismatch"):
        paper.load_state_dict(theirs.state_dict(), strict=True)


def test_forward_equals_torchvision_with_its_weights() -> None:
    torch.manual_seed(0)
    theirs = torchvision_googlenet(aux_logits=False).eval()
    with torch.no_grad():
        for module in theirs.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, std=0.05)
            elif isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
    ours = GoogLeNet(aux_logits=False, branch3_kernel=3).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_training_returns_three_outputs_and_evaluation_one() -> None:
    torch.manual_seed(0)
    model = GoogLeNet(num_classes=10, cifar_stem=True, width=1 / 8).train()
    x, y = torch.randn(3, 3, 32, 32), torch.tensor([1, 2, 3])
    outputs = model(x)
    assert isinstance(outputs, GoogLeNetOutputs) and len(outputs) == 3
    assert all(output.shape == (3, 10) for output in outputs)

    loss_fn = nn.CrossEntropyLoss()
    loss, logits = cu.googlenet_aux_loss()(outputs, y, loss_fn)
    expected = loss_fn(outputs.logits, y) + 0.3 * loss_fn(outputs.aux_logits1, y) + 0.3 * loss_fn(outputs.aux_logits2, y)
    assert torch.allclose(loss, expected) and logits is outputs.logits
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())  # the auxiliary heads learn too

    model.eval()
    with torch.no_grad():
        single = model(x)
    assert isinstance(single, torch.Tensor) and single.shape == (3, 10)
    assert not isinstance(GoogLeNet(10, aux_logits=False, cifar_stem=True, width=1 / 8).train()(x), tuple)


def test_one_by_one_reductions_cut_weights_and_macs() -> None:
    naive = NaiveInception(192, 64, 128, 32)
    reduced = Inception(192, *INCEPTION_CONFIGS["3a"])
    convs = lambda module: sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))  # noqa: E731
    assert convs(naive) == 192 * (64 + 128 * 9 + 32 * 25) == 387_072
    assert convs(reduced) == 192 * (64 + 96 + 16 + 32) + 96 * 128 * 9 + 16 * 32 * 25 == 163_328
    assert count_macs(naive, (192, 28, 28)) == 387_072 * 28 * 28
    assert count_macs(reduced, (192, 28, 28)) == 163_328 * 28 * 28
    with torch.no_grad():
        x = torch.randn(1, 192, 28, 28)
        assert naive.eval()(x).shape == (1, 64 + 128 + 32 + 192, 28, 28)  # the pool passes all 192 channels
        assert reduced.eval()(x).shape == (1, 256, 28, 28)


def test_feature_map_sizes_for_imagenet_and_cifar_stems() -> None:
    def sizes(model: nn.Module, size: int) -> dict[str, int]:
        table = layer_table(model.eval(), (3, size, size))
        picked = table[table["name"].isin(["inception3a.branch1.conv", "inception4a.branch1.conv", "inception5b.branch1.conv"])]
        return {name.split(".")[0]: shape[-1] for name, shape in zip(picked["name"], picked["output_shape"])}

    with torch.device("meta"):
        assert sizes(GoogLeNet(), 224) == {"inception3a": 28, "inception4a": 14, "inception5b": 7}
        assert sizes(GoogLeNet(10), 32) == {"inception3a": 4, "inception4a": 2, "inception5b": 1}
        assert sizes(GoogLeNet(10, cifar_stem=True), 32) == {"inception3a": 16, "inception4a": 8, "inception5b": 4}
        assert count_macs(GoogLeNet(branch3_kernel=3), (3, 224, 224)) == 1_498_376_192  # torchvision: 1.498 GFLOPS


def test_width_scales_every_module_consistently() -> None:
    model = GoogLeNet(10, cifar_stem=True, width=0.25)
    assert model.conv1.conv.out_channels == 16 and model.inception3a.branch1.conv.out_channels == 16
    assert model.fc.in_features == 96 + 96 + 32 + 32  # inception 5b: 384 + 384 + 128 + 128, a quarter each
    assert model.aux1.fc1.in_features == 32 * 16
