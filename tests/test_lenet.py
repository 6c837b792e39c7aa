"""Notebook 02's networks (course_utils.models.lenet) and its file-name-labelled cats-vs-dogs Dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from course_utils.datasets import FileNameDataset, class_from_filename
from course_utils.inspection import count_params, shape_table
from course_utils.models.lenet import C3_CONNECTIONS, LeNet, LeNet5, LeNet5Paper, LeNet224
from course_utils.transforms import basic_transforms

from conftest import SHARED_DATA


def parameters_of(layer: nn.Module) -> int:
    return sum(p.numel() for p in layer.parameters())


def test_lenet5_has_61706_parameters_and_the_paper_shapes() -> None:
    model = LeNet5(num_classes=10)
    assert count_params(model).total == 61_706
    shapes = shape_table(model, (1, 32, 32))["measured"]
    assert shapes[["features.c1", "features.s2", "features.c3", "features.s4", "features.c5"]].tolist() == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1),
    ]  # fmt: skip
    assert model(torch.zeros(3, 1, 32, 32)).shape == (3, 10)
    assert {type(m) for m in model.modules()} >= {nn.Tanh, nn.AvgPool2d} and not any(
        isinstance(m, (nn.ReLU, nn.MaxPool2d)) for m in model.modules()
    )


def test_lenet5_paper_has_60000_trainable_parameters_layer_by_layer() -> None:
    model = LeNet5Paper(num_classes=10)
    counts = count_params(model)
    assert counts.total == counts.trainable == 60_000
    names = ["features.c1", "features.s2", "features.c3", "features.s4", "features.c5", "classifier.f6", "classifier.output"]
    per_layer = {name: parameters_of(model.get_submodule(name)) for name in names}
    assert per_layer == {"features.c1": 156, "features.s2": 12, "features.c3": 1_516, "features.s4": 32,
                         "features.c5": 48_120, "classifier.f6": 10_164, "classifier.output": 0}  # fmt: skip
    assert model.classifier.output.codes.shape == (10, 84)  # fixed RBF codes: a buffer, not trained
    assert set(model.classifier.output.codes.unique().tolist()) == {-1.0, 1.0}
    # the paper's difference from LeNet5: C3 sparse (-900), trainable subsampling (+44), no linear output (-850)
    assert 61_706 - 900 + 44 - 850 == counts.total


def test_c3_connection_table_is_the_papers() -> None:
    assert len(C3_CONNECTIONS) == 16
    assert [len(inputs) for inputs in C3_CONNECTIONS] == [3] * 6 + [4] * 9 + [6]
    assert sum(len(inputs) for inputs in C3_CONNECTIONS) == 60
    assert all(len(set(inputs)) == len(inputs) and set(inputs) <= set(range(6)) for inputs in C3_CONNECTIONS)
    assert sum(len(inputs) * 25 + 1 for inputs in C3_CONNECTIONS) == 1_516


def test_sparse_c3_reads_only_its_connected_maps() -> None:
    c3 = LeNet5Paper().features.c3
    x = torch.randn(1, 6, 14, 14)
    changed = x.clone()
    changed[:, 5] += 10  # S2 map 5 feeds C3 maps 3, 4, 5, 8-11, 13-15 only
    difference = (c3(changed) - c3(x)).abs().amax(dim=(0, 2, 3))
    reads_map_5 = torch.tensor([5 in inputs for inputs in C3_CONNECTIONS])
    assert (difference[reads_map_5] > 0).all() and (difference[~reads_map_5] == 0).all()


def test_paper_subsampling_is_a_scaled_window_sum_plus_bias() -> None:
    s2 = LeNet5Paper().features.s2
    with torch.no_grad():
        s2.weight.fill_(0.5)
        s2.bias.fill_(1.0)
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(1, 6, 1, 1)
    assert s2(x)[0, 0].tolist() == [[0.5 * (0 + 1 + 4 + 5) + 1, 0.5 * (2 + 3 + 6 + 7) + 1],
                                    [0.5 * (8 + 9 + 12 + 13) + 1, 0.5 * (10 + 11 + 14 + 15) + 1]]  # fmt: skip


def test_course_lenet_follows_the_lecture_table() -> None:
    model = LeNet(num_classes=2)
    assert count_params(model).total == 61_326  # 456 + 2,416 + 48,120 + 10,164 + 170
    assert count_params(LeNet(num_classes=2, in_channels=1)).total == 61_026
    shapes = shape_table(model, (3, 32, 32))["measured"]
    assert shapes[["features.conv1", "features.pool1", "features.conv2", "features.pool2"]].tolist() == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5),
    ]  # fmt: skip
    assert [m.out_features for m in model.classifier if isinstance(m, nn.Linear)] == [120, 84, 2]
    kinds = {type(m) for m in model.modules()}
    assert {nn.MaxPool2d, nn.ReLU} <= kinds and not {nn.AvgPool2d, nn.Tanh} & kinds


def test_course_lenet_returns_logits_not_probabilities() -> None:
    torch.manual_seed(0)
    model = LeNet()
    with torch.no_grad():
        model.classifier.fc3.bias.copy_(torch.tensor([-5.0, 5.0]))  # scores far outside [0, 1]
        logits = model(torch.randn(4, 3, 32, 32))
    assert (logits[:, 1] > 1).all() and (logits[:, 0] < 0).all()


def test_textbook_lenet224_explodes_in_its_first_linear_layer() -> None:
    model = LeNet224(num_classes=2)
    assert count_params(model).total == 46_038_242
    assert parameters_of(model.classifier.fc1) == 46_023_168 == (32 * 53 * 53 + 1) * 512
    assert [parameters_of(model.features.conv1), parameters_of(model.features.conv2),
            parameters_of(model.classifier.fc2)] == [1_216, 12_832, 1_026]  # fmt: skip
    with torch.no_grad():
        assert model.features(torch.zeros(1, 3, 224, 224)).shape == (1, 32, 53, 53)


@pytest.mark.parametrize(
    ("factory", "shape"),
    [(LeNet5, (4, 1, 32, 32)), (LeNet5Paper, (4, 1, 32, 32)), (LeNet, (4, 3, 32, 32))],
)
def test_forward_backward_reaches_every_trainable_parameter(factory, shape) -> None:
    torch.manual_seed(0)
    model = factory()
    loss = nn.CrossEntropyLoss()(model(torch.randn(*shape)), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_a_few_steps_fit_a_small_batch() -> None:
    torch.manual_seed(0)
    model = LeNet()
    images, labels = torch.randn(16, 3, 32, 32), torch.arange(16) % 2
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(40):
        optimizer.zero_grad()
        loss = nn.CrossEntropyLoss()(model(images), labels)
        loss.backward()
        optimizer.step()
    assert (model(images).argmax(1) == labels).float().mean() == 1.0


# ---------------------------------------------------------------------------------------------
# FileNameDataset: the label is the file name's first part (dog.113.jpg -> dog)
# ---------------------------------------------------------------------------------------------


def write_photo(path: Path, value: int, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 30, 3), value, dtype=np.uint8)).convert(mode).save(path)
    return path


@pytest.mark.parametrize(
    ("path", "expected"),
    [("dog.113.jpg", "dog"), ("/data/train/cats/cat.7.jpg", "cat"), ("Dog.1.JPG", "dog"), ("0001.png", "0001")],
)
def test_class_from_filename(path: str, expected: str) -> None:
    assert class_from_filename(path) == expected


def test_file_name_dataset_labels_samples_and_transform(tmp_path: Path) -> None:
    paths = [write_photo(tmp_path / "dog.113.jpg", 200), write_photo(tmp_path / "cat.1.jpg", 10),
             write_photo(tmp_path / "Cat.2.png", 90, mode="L")]  # fmt: skip
    dataset = FileNameDataset(paths, classes=["cat", "dog"])
    assert dataset.classes == ["cat", "dog"] and dataset.class_to_idx == {"cat": 0, "dog": 1}
    assert dataset.samples == [(str(paths[0]), 1), (str(paths[1]), 0), (str(paths[2]), 0)]
    assert dataset.targets == [1, 0, 0] and len(dataset) == 3
    image, label = dataset[2]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (30, 20) and label == 0
    dataset.transform = basic_transforms(8)
    batch, labels = next(iter(DataLoader(dataset, batch_size=3)))
    assert batch.shape == (3, 3, 8, 8) and labels.tolist() == [1, 0, 0]
    assert batch[0].mean() > batch[1].mean()  # the bright dog photo is the dog


def test_file_name_dataset_refuses_a_name_without_a_class(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not start with one of"):
        FileNameDataset([write_photo(tmp_path / "0001.png", 0)], classes=["cat", "dog"])


@pytest.mark.skipif(not (SHARED_DATA / "cats_dogs" / "train").is_dir(), reason="needs the course's real photos")
def test_file_names_and_class_folders_agree_on_the_real_photos() -> None:
    train = SHARED_DATA / "cats_dogs" / "train"
    by_folder = [
        (path, label)
        for label, folder in enumerate(["cats", "dogs"])
        for path in sorted((train / folder).glob("*.jpg"))[:20]
    ]
    dataset = FileNameDataset([path for path, _ in by_folder], classes=["cat", "dog"], transform=basic_transforms(32))
    assert dataset.targets == [label for _, label in by_folder] == [0] * 20 + [1] * 20
    image, label = dataset[25]
    assert image.shape == (3, 32, 32) and label == 1
