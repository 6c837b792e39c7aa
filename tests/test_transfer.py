"""Transfer learning helpers: the lecture's head, freezing per strategy, parameter groups, frozen BatchNorm under fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import session, transfer
from course_utils.inspection import count_params
from course_utils.models.cifar_resnet import cifar_resnet
from course_utils.models.resnet import resnet
from course_utils.training import fit


@pytest.fixture(autouse=True)
def no_course_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_current", None)


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_lectures_head() -> None:
    head = transfer.classifier_head(2048, 2)
    assert [type(layer) for layer in head] == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.LogSoftmax]
    assert (head[0].in_features, head[0].out_features, head[2].p, head[3].out_features) == (2048, 512, 0.2, 2)
    assert params(head) == 2048 * 512 + 512 + 512 * 2 + 2 == 1_050_114
    log_probabilities = head.eval()(torch.randn(5, 2048))
    assert log_probabilities.shape == (5, 2)
    assert torch.allclose(log_probabilities.exp().sum(dim=1), torch.ones(5))


@pytest.mark.parametrize(("model", "width"), [(lambda: resnet(50), 2048), (lambda: resnet(18), 512), (lambda: cifar_resnet(20), 64)])
def test_replace_head_adapts_to_the_feature_width(model, width: int) -> None:
    network = transfer.replace_head(model(), num_classes=3)
    assert network.fc[0].in_features == width == transfer.head_width(network)
    size = 32 if width == 64 else 64
    assert network.eval()(torch.randn(2, 3, size, size)).shape == (2, 3)


def test_log_softmax_with_nll_loss_is_cross_entropy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(8, 5, requires_grad=True)
    labels = torch.randint(0, 5, (8,))
    nll = nn.NLLLoss()(nn.LogSoftmax(dim=1)(logits), labels)
    (nll_gradient,) = torch.autograd.grad(nll, logits)
    cross_entropy = nn.CrossEntropyLoss()(logits, labels)
    (ce_gradient,) = torch.autograd.grad(cross_entropy, logits)
    assert torch.allclose(nll, cross_entropy) and torch.allclose(nll_gradient, ce_gradient)
    assert not torch.allclose(nn.NLLLoss()(logits, labels), cross_entropy)  # NLLLoss on raw scores is not it


@pytest.mark.parametrize(("factory", "last"), [(lambda: cifar_resnet(20), "layer3"), (lambda: resnet(18), "layer4")])
def test_trainable_parameters_per_strategy(factory, last: str) -> None:
    model = transfer.replace_head(factory(), 2)
    total, head, stage = params(model), params(model.fc), params(getattr(model, last))
    assert transfer.last_stage(model) == last
    expected = {"feature extraction": head, "partial fine-tuning": head + stage, "full fine-tuning": total, "from scratch": total}
    for strategy in transfer.STRATEGIES:
        count = count_params(transfer.set_strategy(model, strategy))
        assert (count.trainable, count.total) == (expected[strategy], total), strategy
    with pytest.raises(ValueError, match="unknown strategy"):
        transfer.set_strategy(model, "everything")


def test_parameter_groups_give_the_backbone_its_own_learning_rate_and_leave_frozen_parameters_out() -> None:
    model = transfer.replace_head(cifar_resnet(20), 2)
    transfer.set_strategy(model, "partial fine-tuning")
    groups = transfer.parameter_groups(model, lr=1e-2, backbone_lr=1e-3)
    assert [(group["name"], group["lr"]) for group in groups] == [("head", 1e-2), ("backbone", 1e-3)]
    grouped = [p for group in groups for p in group["params"]]
    assert len(grouped) == len({id(p) for p in grouped})
    assert {id(p) for p in grouped} == {id(p) for p in model.parameters() if p.requires_grad}
    assert sum(p.numel() for p in groups[1]["params"]) == params(model.layer3)
    transfer.set_strategy(model, "feature extraction")
    assert [group["name"] for group in transfer.parameter_groups(model, lr=1e-2)] == ["head"]
    transfer.set_strategy(model, "from scratch")
    assert [group["lr"] for group in transfer.parameter_groups(model, lr=0.1)] == [0.1, 0.1]


def trained_statistics_model() -> nn.Module:
    """A ResNet-20 whose BatchNorm statistics are no longer the initial 0 and 1 (like a pretrained one)."""
    torch.manual_seed(0)
    model = cifar_resnet(20).train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 3, 32, 32) * 2 + 0.5)
    return transfer.replace_head(model.eval(), 2)


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in module.state_dict().items()}


def little_loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(24, 3, 32, 32, generator=generator), torch.randint(0, 2, (24,), generator=generator))
    return DataLoader(data, batch_size=8, shuffle=True, generator=generator)


def test_feature_extraction_with_fit_leaves_the_backbone_and_its_batchnorm_statistics_unchanged() -> None:
    model = transfer.set_strategy(trained_statistics_model(), "feature extraction")
    before = snapshot(model)
    optimizer = torch.optim.SGD(transfer.parameter_groups(model, lr=0.1), lr=0.1)
    fit(model, little_loader(), loss_fn=nn.NLLLoss(), optimizer=optimizer, epochs=2, device="cpu", progress=False)
    after = model.state_dict()
    backbone_keys = [key for key in before if not key.startswith("fc.")]
    assert any(key.endswith("running_mean") for key in backbone_keys)
    changed = [key for key in backbone_keys if not torch.equal(before[key], after[key])]
    assert changed == [], f"feature extraction changed {changed[:3]}"
    assert not torch.equal(before["fc.0.weight"], after["fc.0.weight"]), "the head did not learn"
    # the check can fail: a plain model.train() forward pass moves the statistics
    model.train()
    with torch.no_grad():
        model(next(iter(little_loader()))[0])
    assert not torch.equal(before["bn1.running_mean"], model.state_dict()["bn1.running_mean"])


def test_partial_fine_tuning_updates_the_last_stage_only() -> None:
    model = transfer.set_strategy(trained_statistics_model(), "partial fine-tuning")
    before = snapshot(model)
    optimizer = torch.optim.SGD(transfer.parameter_groups(model, lr=0.1, backbone_lr=0.01), lr=0.1)
    fit(model, little_loader(), loss_fn=nn.NLLLoss(), optimizer=optimizer, epochs=1, device="cpu", progress=False)
    after = model.state_dict()
    changed = {key.split(".")[0] for key in before if not torch.equal(before[key], after[key])}
    assert changed == {"layer3", "fc"}


def test_small_image_stem_keeps_the_pretrained_stages_and_gives_32px_photos_4x4_maps_in_the_last_stage() -> None:
    torch.manual_seed(0)
    pretrained = resnet(18)
    model = transfer.small_image_stem(transfer.replace_head(resnet(18), 10))
    model.load_state_dict({k: v for k, v in pretrained.state_dict().items() if not k.startswith(("conv1", "fc"))}, strict=False)
    assert (model.conv1.kernel_size, model.conv1.stride) == ((3, 3), (1, 1)) and isinstance(model.maxpool, nn.Identity)
    assert torch.equal(model.layer1[0].conv1.weight, pretrained.layer1[0].conv1.weight)
    maps = {}
    model.layer4.register_forward_hook(lambda _m, _i, output: maps.update(layer4=output.shape))
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert maps["layer4"][-2:] == (4, 4)
    transfer.set_strategy(model, "feature extraction", head=("conv1", "fc"))
    groups = transfer.parameter_groups(model, lr=1e-2, head=("conv1", "fc"))
    assert [group["name"] for group in groups] == ["head"]
    assert sum(p.numel() for p in groups[0]["params"]) == params(model.conv1) + params(model.fc)


def test_upsampled_runs_the_network_at_its_own_resolution() -> None:
    seen = []
    inner = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    inner[0].register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].shape))
    model = transfer.Upsampled(inner, 224)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 2)
    assert seen[0] == (2, 3, 224, 224)
    assert {name for name, _ in model.named_parameters()} == {f"model.{name}" for name, _ in inner.named_parameters()}


def test_a_network_without_the_named_head_gets_one_group() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    groups = transfer.parameter_groups(model, lr=0.1)
    assert [group["name"] for group in groups] == ["backbone"] and len(groups[0]["params"]) == 4
    torch.optim.Adam(groups)  # no empty group
