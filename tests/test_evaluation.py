"""evaluate() and predict(): confusion matrices, top-5, probabilities, unreadable files reported in the frame."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

from course_utils.evaluation import evaluate, predict, save_predictions

CLASSES = ["cat", "dog", "fox"]
TO_TENSOR = transforms.Compose([transforms.Resize((8, 8)), transforms.ToTensor()])


def image_model(log_softmax: bool = False) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(3 * 8 * 8, len(CLASSES))]
    if log_softmax:
        layers.append(nn.LogSoftmax(dim=1))
    return nn.Sequential(*layers)


def random_images(count: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_evaluate_matches_a_hand_computation() -> None:
    inputs = random_images(50)
    targets = torch.arange(50) % 3
    model = image_model().train()
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=16)  # last batch of 2

    result = evaluate(model, loader, loss_fn=nn.CrossEntropyLoss(), classes=CLASSES)

    with torch.no_grad():
        logits = model.eval()(inputs)
    predicted = logits.argmax(1)
    confusion = np.zeros((3, 3), dtype=int)
    for true, guess in zip(targets.tolist(), predicted.tolist()):
        confusion[true, guess] += 1
    assert result.confusion.sum() == 50
    np.testing.assert_array_equal(result.confusion, confusion)
    assert result.confusion_frame.loc["dog", "fox"] == confusion[1, 2]
    assert list(result.confusion_frame.index) == CLASSES
    assert result.accuracy == pytest.approx(np.trace(confusion) / 50)
    assert result.loss == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-6)
    assert result.per_class_accuracy["fox"] == pytest.approx(confusion[2, 2] / confusion[2].sum())
    assert result.top5 is None  # only three classes
    np.testing.assert_array_equal(result.predictions, predicted.numpy())
    np.testing.assert_array_equal(result.targets, targets.numpy())
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.training is False  # it was put in eval mode by the hand computation above ...
    evaluate(model.train(), loader)
    assert model.training  # ... and evaluate restores whichever mode it found


def test_evaluate_reports_top5_and_reads_class_names_from_the_dataset() -> None:
    torch.manual_seed(1)
    model = nn.Linear(4, 8)
    inputs, targets = torch.randn(40, 4), torch.arange(40) % 8
    dataset = TensorDataset(inputs, targets)
    dataset.classes = [f"class{i}" for i in range(8)]
    result = evaluate(model, DataLoader(dataset, batch_size=16))

    with torch.no_grad():
        top5 = model(inputs).topk(5, dim=1).indices
    assert result.top5 == pytest.approx((top5 == targets[:, None]).any(1).float().mean().item())
    assert result.loss is None and result.classes == dataset.classes
    assert np.isnan(result.per_class_accuracy).sum() == 0 and result.confusion.shape == (8, 8)


def test_evaluate_with_log_probabilities() -> None:
    inputs, targets = random_images(12), torch.arange(12) % 3
    model = image_model(log_softmax=True)
    result = evaluate(model, DataLoader(TensorDataset(inputs, targets), batch_size=5), loss_fn=nn.NLLLoss())
    with torch.no_grad():
        log_probabilities = model(inputs)
    np.testing.assert_allclose(result.probabilities, log_probabilities.exp().numpy(), rtol=1e-5, atol=1e-7)
    assert result.loss == pytest.approx(F.nll_loss(log_probabilities, targets).item(), rel=1e-6)
    assert result.classes == ["0", "1", "2"]


def test_predict_on_a_tensor_batch() -> None:
    model = image_model()
    inputs = random_images(5)
    frame = predict(model, inputs, classes=CLASSES, batch_size=2)

    assert list(frame.columns) == ["predicted", "probability", "p_cat", "p_dog", "p_fox", "error"]  # no path
    assert list(frame.index) == [0, 1, 2, 3, 4] and (frame["error"] == "").all()  # the index is the batch position
    with torch.no_grad():
        probabilities = torch.softmax(model(inputs), dim=1).numpy()
    np.testing.assert_allclose(frame[["p_cat", "p_dog", "p_fox"]].to_numpy(), probabilities, rtol=1e-5)
    assert list(frame["predicted"]) == [CLASSES[i] for i in probabilities.argmax(1)]
    np.testing.assert_allclose(frame["probability"], probabilities.max(1), rtol=1e-5)
    assert len(predict(model, inputs[0], classes=CLASSES)) == 1  # a single image tensor


def save_image(path: Path, size: tuple[int, int], seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_predict_on_a_folder_reports_unreadable_files(tmp_path: Path) -> None:
    save_image(tmp_path / "a.png", (8, 8), seed=1)
    save_image(tmp_path / "nested" / "b.jpg", (20, 12), seed=2)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (tmp_path / "notes.txt").write_text("not an image, skipped")

    frame = predict(image_model(), tmp_path, classes=CLASSES, transform=TO_TENSOR)

    names = [Path(path).name for path in frame["path"]]
    assert names == ["a.png", "broken.jpg", "b.jpg"]
    broken = frame.iloc[1]
    assert broken["error"] != "" and pd.isna(broken["predicted"]) and math.isnan(broken["probability"])
    assert frame[["p_cat", "p_dog", "p_fox"]].iloc[1].isna().all()
    good = frame.drop(index=1)
    assert (good["error"] == "").all() and good["predicted"].isin(CLASSES).all()
    np.testing.assert_allclose(good[["p_cat", "p_dog", "p_fox"]].sum(axis=1), 1.0, rtol=1e-5)


def test_predict_on_a_path_list_matches_the_model(tmp_path: Path) -> None:
    first = save_image(tmp_path / "one.png", (8, 8), seed=3)
    second = save_image(tmp_path / "two.png", (8, 8), seed=4)
    model = image_model()
    frame = predict(model, [first, tmp_path / "missing.png", second], classes=CLASSES, transform=TO_TENSOR)

    assert list(frame["path"]) == [str(first), str(tmp_path / "missing.png"), str(second)]
    assert frame.loc[1, "error"] == "file not found"
    expected = torch.softmax(model(torch.stack([TO_TENSOR(Image.open(p).convert("RGB")) for p in (first, second)])), 1)
    np.testing.assert_allclose(frame.loc[[0, 2], ["p_cat", "p_dog", "p_fox"]], expected.detach().numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="needs a transform"):
        predict(model, [first], classes=CLASSES)


def test_predict_reports_broken_links_in_a_folder_and_in_a_list(tmp_path: Path) -> None:
    good = save_image(tmp_path / "a.png", (8, 8), seed=1)
    (tmp_path / "moved.png").symlink_to(tmp_path / "elsewhere" / "moved.png")
    from_folder = predict(image_model(), tmp_path, classes=CLASSES, transform=TO_TENSOR)
    assert [Path(path).name for path in from_folder["path"]] == ["a.png", "moved.png"]
    from_list = predict(image_model(), [good, tmp_path / "moved.png"], classes=CLASSES, transform=TO_TENSOR)
    for frame in (from_folder, from_list):
        assert frame.loc[0, "error"] == "" and frame.loc[1, "error"].startswith("broken link to ")
        assert str(tmp_path / "elsewhere" / "moved.png") in frame.loc[1, "error"]


def test_predict_reports_a_failing_transform_and_keeps_going(tmp_path: Path) -> None:
    small = save_image(tmp_path / "small.png", (8, 8), seed=5)
    large = save_image(tmp_path / "large.png", (16, 16), seed=6)

    def strict(image: Image.Image) -> torch.Tensor:
        if image.size != (8, 8):
            raise ValueError("expected 8x8")
        return transforms.functional.to_tensor(image)

    frame = predict(image_model(), [small, large], classes=CLASSES, transform=strict)
    assert frame.loc[0, "error"] == "" and "expected 8x8" in frame.loc[1, "error"]


def test_save_predictions_creates_folders_and_round_trips(tmp_path: Path) -> None:
    frame = predict(image_model(), random_images(3), classes=CLASSES)
    path = save_predictions(frame, tmp_path / "results" / "lenet" / "test.csv")
    loaded = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert list(loaded.columns) == list(frame.columns) and len(loaded) == 3
    np.testing.assert_allclose(loaded["p_dog"], frame["p_dog"], rtol=1e-6)


def test_predict_handles_images_of_different_sizes_in_one_batch(tmp_path: Path) -> None:
    paths = [save_image(tmp_path / f"{i}.png", size, seed=i) for i, size in enumerate([(8, 8), (12, 6), (8, 8)])]
    torch.manual_seed(0)
    pooled = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, len(CLASSES)))
    frame = predict(pooled, paths, classes=CLASSES, transform=transforms.ToTensor())
    assert (frame["error"] == "").all() and frame["predicted"].isin(CLASSES).all()
    single = predict(pooled, paths[1], classes=CLASSES, transform=transforms.ToTensor())
    assert single.loc[0, "p_fox"] == pytest.approx(frame.loc[1, "p_fox"], rel=1e-5)


def test_evaluate_and_predict_restore_each_layers_own_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, len(CLASSES)))
    model.train()
    model[1].eval()  # a frozen BatchNorm, as in fine-tuning
    inputs = random_images(6)
    evaluate(model, DataLoader(TensorDataset(inputs, torch.arange(6) % 3), batch_size=4))
    predict(model, inputs, classes=CLASSES)
    assert [module.training for module in model] == [True, False, True, True]
