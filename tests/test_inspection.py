"""course_utils.inspection on real torchvision models (weights=None: nothing is downloaded)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils.inspection import (
    ParamCount,
    count_macs,
    count_params,
    find_layer,
    layer_table,
    measured_receptive_field,
    preserved_state,
    shape_table,
    summary,
)
from course_utils.models import SimpleCNN
from course_utils.shapes import receptive_field


def hook_count(model: nn.Module) -> int:
    return sum(len(module._forward_hooks) for module in model.modules())


def tiny_vit() -> nn.Module:
    """A real torchvision VisionTransformer, small: its attention returns (output, None), which torchsummary cannot size."""
    return torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10
    )


@pytest.fixture(scope="module")
def resnet50() -> nn.Module:
    return torchvision.models.resnet50(weights=None)


@pytest.fixture(scope="module")
def alexnet() -> nn.Module:
    return torchvision.models.alexnet(weights=None)


def test_count_params_matches_torchvision(resnet50: nn.Module, alexnet: nn.Module) -> None:
    meta = torchvision.models.get_model_weights("resnet50").IMAGENET1K_V1.meta
    assert count_params(resnet50) == ParamCount(25_557_032, 25_557_032)
    assert count_params(resnet50).total == meta["num_params"]
    assert count_params(alexnet).total == 61_100_840


def test_count_params_separates_frozen_parameters() -> None:
    model = torchvision.models.alexnet(weights=None)
    for parameter in model.features.parameters():
        parameter.requires_grad = False
    counts = count_params(model)
    assert counts.frozen == sum(p.numel() for p in model.features.parameters()) == 2_469_696
    assert counts.trainable == 61_100_840 - 2_469_696
    assert "2,469,696 frozen" in str(counts)


def test_count_macs_matches_torchvision_published_figures(resnet50: nn.Module, alexnet: nn.Module) -> None:
    resnet50.train()
    macs = count_macs(resnet50, (3, 224, 224))
    assert round(macs / 1e9, 3) == 4.089
    assert round(macs / 1e9, 3) == torchvision.models.get_model_weights("resnet50").IMAGENET1K_V1.meta["_ops"]
    assert resnet50.training, "count_macs must restore training mode"
    assert hook_count(resnet50) == 0
    assert round(count_macs(alexnet, (3, 224, 224)) / 1e9, 3) == 0.714
    assert torchvision.models.get_model_weights("alexnet").IMAGENET1K_V1.meta["_ops"] == 0.714


def test_count_macs_by_hand() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 32*32*8 outputs x 3*3*3 each
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise: 32*32*8 outputs x 1*3*3
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),  # 5 x 8
    )
    expected = 32 * 32 * 8 * 27 + 32 * 32 * 8 * 9 + 5 * 8
    assert count_macs(model, (3, 32, 32)) == expected


def test_count_macs_restores_each_module_mode() -> None:
    model = torchvision.models.resnet18(weights=None).train()
    model.bn1.eval()  # a frozen BatchNorm inside a model in training mode
    count_macs(model, (3, 64, 64))
    assert model.training and model.layer1.training
    assert not model.bn1.training


def test_summary_alexnet_uses_torchsummary(alexnet: nn.Module, capsys: pytest.CaptureFixture[str]) -> None:
    text = summary(alexnet, (3, 224, 224))
    assert isinstance(text, str)
    assert text.path == "torchsummary"
    assert "made by torchsummary" in text.splitlines()[0]
    assert "Total params: 61,100,840" in text
    assert "[-1, 64, 55, 55]" in text  # (224 - 11 + 2*2) // 4 + 1 = 55
    assert "Total params: 61,100,840" in capsys.readouterr().out
    assert hook_count(alexnet) == 0


def test_summary_googlenet_in_train_mode_restores_mode_and_buffers() -> None:
    model = torchvision.models.GoogLeNet(aux_logits=True, init_weights=False).train()
    before = {name: buffer.clone() for name, buffer in model.named_buffers()}
    text = summary(model, (3, 224, 224), verbose=False)
    assert "Total params: " in text
    assert f"{count_params(model).total:,}" in text
    assert model.training and model.aux1.training and model.aux2.training
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, before[name]), f"summary changed the buffer {name}"
    assert hook_count(model) == 0
    assert isinstance(model(torch.rand(2, 3, 224, 224)), tuple), "still returns aux outputs in train mode"


def test_summary_falls_back_where_torchsummary_fails() -> None:
    model = tiny_vit().train()
    text = summary(model, (3, 32, 32), verbose=False)
    assert text.path == "layer_table"
    assert "torchsummary failed" in text.splitlines()[0]
    assert "MultiheadAttention" in text and "conv_proj" in text
    assert f"Total params: {count_params(model).total:,}" in text
    assert hook_count(model) == 0, "torchsummary's hooks must be removed after it fails"
    assert model.training and all(module.training for module in model.modules())


def test_layer_table_shapes_and_params() -> None:
    model = tiny_vit().eval()
    table = layer_table(model, (3, 32, 32))
    assert list(table.columns) == ["name", "type", "input_shape", "output_shape", "params"]
    assert table["params"].sum() == count_params(model).total
    conv = table[table["name"] == "conv_proj"].iloc[0]
    assert conv["input_shape"] == (-1, 3, 32, 32)
    assert conv["output_shape"] == (-1, 32, 4, 4)
    assert not model.training


def test_layer_table_follows_the_output_size_formula(alexnet: nn.Module) -> None:
    table = layer_table(alexnet, (3, 224, 224), batch_size=1)
    for _, row in table[table["type"] == "Conv2d"].iterrows():
        conv = alexnet.get_submodule(row["name"])
        width = row["input_shape"][-1]
        expected = (width - conv.kernel_size[0] + 2 * conv.padding[0]) // conv.stride[0] + 1
        assert row["output_shape"][-1] == expected
        assert row["output_shape"][0] == 1
    assert table["params"].sum() == 61_100_840


def test_layer_table_counts_a_reused_layer_once() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    table = layer_table(model, (4,))
    assert list(table["name"]) == ["0", "1", "0"]
    assert list(table["params"]) == [20, 0, 0]


def test_find_layer_by_name_or_module(alexnet: nn.Module) -> None:
    assert find_layer(alexnet, "features.3") == ("features.3", alexnet.features[3])
    assert find_layer(alexnet, alexnet.classifier[1]) == ("classifier.1", alexnet.classifier[1])
    with pytest.raises(ValueError, match="no layer named"):
        find_layer(alexnet, "features.99")
    with pytest.raises(ValueError, match="not a layer"):
        find_layer(alexnet, nn.ReLU())


def test_preserved_state_restores_after_an_error() -> None:
    model = nn.Sequential(nn.BatchNorm1d(3)).train()
    with pytest.raises(RuntimeError):
        with preserved_state(model, training=True):
            model(torch.rand(8, 3) + 5)
            raise RuntimeError("boom")
    assert torch.equal(model[0].running_mean, torch.zeros(3))
    assert int(model[0].num_batches_tracked) == 0


def test_layer_table_reports_parameters_of_layers_not_run() -> None:
    model = torchvision.models.GoogLeNet(aux_logits=True, init_weights=False).eval()  # aux heads skipped
    table = layer_table(model, (3, 96, 96))
    aux = sum(p.numel() for p in model.aux1.parameters()) + sum(p.numel() for p in model.aux2.parameters())
    assert table.iloc[-1]["name"] == "(not run)"
    assert table.iloc[-1]["params"] == aux
    assert table["params"].sum() == count_params(model).total
    assert not table["name"].str.startswith("aux").any()


def test_summary_falls_back_on_dict_outputs() -> None:
    # The segmentation model's backbone returns an OrderedDict of feature maps.
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    text = summary(model, (3, 64, 64), verbose=False)
    assert text.path == "layer_table"
    assert f"Total params: {count_params(model).total:,}" in text
    assert "torchsummary failed" in text.splitlines()[0]
    assert "backbone.0.0" in text and "classifier.low_classifier" in text
    assert hook_count(model) == 0


def test_shape_table_checks_every_conv_and_pool_layer(alexnet: nn.Module) -> None:
    resnet18 = torchvision.models.resnet18(weights=None)
    for model, size in [(alexnet, (3, 224, 224)), (resnet18, (3, 224, 224)), (SimpleCNN(), (3, 32, 32))]:
        table = shape_table(model, size)
        expected = [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d))]
        assert list(table.index) == expected
        assert (table["formula"] == table["measured"]).all()
    assert table.loc["block2.conv", "input"] == (32, 16, 16)
    assert table.loc["block2.pool", "measured"] == (64, 8, 8)
    assert shape_table(alexnet, (3, 227, 227)).loc["features.0", "measured"] == (64, 56, 56)  # padding 2: not 55


def test_measured_receptive_field_equals_the_formula_without_max_pooling() -> None:
    """With positive weights nothing cancels, so the gradient reaches exactly the theoretical patch."""
    layers = nn.Sequential(
        nn.Conv2d(3, 4, 5, padding=2), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2), nn.AvgPool2d(2),
        nn.Conv2d(4, 4, 3, dilation=2), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, stride=2, padding=1),
    )  # fmt: skip
    for parameter in layers.parameters():
        parameter.data.fill_(0.1)
    image = torch.rand(3, 96, 96) + 0.1
    for depth, layer in enumerate(layers):
        if isinstance(layer, (nn.Conv2d, nn.AvgPool2d)):
            assert measured_receptive_field(layers, layer, image) == receptive_field(layers[: depth + 1])


def test_measured_receptive_field_leaves_the_model_as_it_was() -> None:
    torch.manual_seed(0)
    model = SimpleCNN().train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    image = torch.rand(3, 32, 32)
    fields = [measured_receptive_field(model, name, image) for name in ["block1", "block2", "block3"]]
    assert fields == sorted(set(fields))  # grows with depth
    assert fields[2] <= receptive_field([model.block1, model.block2, model.block3]) == 22
    assert measured_receptive_field(model, model.block1.conv, image) == 3
    assert all(module.training for module in model.modules())
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert all(parameter.grad is None for parameter in model.parameters()) and hook_count(model) == 0
    with pytest.raises(ValueError, match="classifier"):
        measured_receptive_field(model, "classifier", image)
