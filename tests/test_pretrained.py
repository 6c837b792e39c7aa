"""Pretrained weights: ImageNet's ResNet-50 from the torch hub cache (offline), the course backbone, the choice between them."""

from __future__ import annotations

import hashlib
import json
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.models import ResNet50_Weights

from conftest import SHARED_DATA
from course_utils import pretrained, session
from course_utils.datasets import ImageDataset
from course_utils.evaluation import evaluate
from course_utils.tensordata import batch_loader, decode_images
from course_utils.models.cifar_resnet import cifar_resnet
from course_utils.pretrained import WeightsError, pick_backbone


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network, no session, no Drive; an empty torch hub cache and no course backbone in reach."""

    def no_download(url: str, *args, **kwargs) -> None:
        raise urllib.error.URLError(f"offline (test): {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # restored after the test (hub_dir() may set it)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv(pretrained.BACKBONE_DIR_ENV, str(tmp_path / "no-backbone-here"))
    monkeypatch.setattr(session, "_current", None)
    return tmp_path


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ResNet-50 state dict (seeded random weights) saved once, as a stand-in for the real download."""
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None)
    with torch.no_grad():  # BatchNorm statistics unlike a fresh model's, so that loading them matters
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    torch.save(model.state_dict(), path)
    return path


def put_in_hub_cache(imagenet_file: Path) -> Path:
    """Link the state dict into the hub cache under the file name torchvision expects."""
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(ResNet50_Weights.IMAGENET1K_V2.url).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(imagenet_file)
    return target


def write_course_backbone(folder: Path, seed: int = 1, **changes) -> torch.nn.Module:
    """A ResNet-20 and its provenance, as tools/train_backbone.py exports them."""
    torch.manual_seed(seed)
    model = cifar_resnet(20).eval()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pretrained.BACKBONE_NAME}.pt"
    torch.save(model.state_dict(), path)
    provenance = {"epochs": 3, "hardware": "test CPU", "test_accuracy": 0.5,
                  "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), **changes}  # fmt: skip
    (folder / f"{pretrained.BACKBONE_NAME}.json").write_text(json.dumps(provenance), encoding="utf-8")
    return model


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    first, second = a.state_dict(), b.state_dict()
    return first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)


def test_the_weights_file_is_where_torchvision_looks(offline: Path) -> None:
    expected = offline / "torch-home" / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    assert pretrained.weights_file() == expected


def test_imagenet_weights_from_the_hub_cache_load_into_the_course_resnet50_as_into_torchvisions(imagenet_file: Path) -> None:
    put_in_hub_cache(imagenet_file)
    ours = pretrained.imagenet_resnet50(download=False)
    theirs = torchvision.models.resnet50(weights=ResNet50_Weights.IMAGENET1K_V2).eval()
    assert type(ours).__module__ == "course_utils.models.resnet"
    assert same_weights(ours, theirs) and not ours.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_missing_imagenet_weights_raise_without_download_and_when_offline() -> None:
    with pytest.raises(WeightsError, match="download=False"):
        pretrained.imagenet_resnet50(download=False)
    with pytest.raises(WeightsError, match="offline"):
        pretrained.imagenet_resnet50(download=True, progress=False)


def test_a_damaged_weights_file_is_a_weights_error() -> None:
    path = pretrained.weights_file()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a state dict")
    with pytest.raises(WeightsError, match="could not load"):
        pretrained.imagenet_resnet50(download=False)


def test_hub_cache_on_drive_when_mounted_unless_torch_home_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pretrained.hub_dir(drive_mounted=True) == Path(torch.hub.get_dir())
    assert pretrained.hub_dir(drive_mounted=True) != pretrained.HUB_DIR_ON_DRIVE  # TORCH_HOME wins
    monkeypatch.delenv("TORCH_HOME")
    assert pretrained.hub_dir(drive_mounted=False) != pretrained.HUB_DIR_ON_DRIVE
    assert pretrained.hub_dir(drive_mounted=True) == pretrained.HUB_DIR_ON_DRIVE
    assert pretrained.HUB_DIR_ON_DRIVE.parts[-3:] == ("MyDrive", "cnn-course", "torch-hub")


def test_pick_backbone_prefers_imagenet_weights(imagenet_file: Path, capsys: pytest.CaptureFixture) -> None:
    put_in_hub_cache(imagenet_file)
    backbone = pick_backbone(profile="full")
    assert backbone.source == "imagenet" and backbone.pretrained
    assert "ResNet-50" in backbone.name and "IMAGENET1K_V2" in backbone.name
    assert (backbone.feature_width, backbone.input_size, backbone.last_stage) == (2048, 224, "layer4")
    assert len(backbone.classes) == 1000 and backbone.classes[0] == "tench"
    assert backbone.mean == pytest.approx((0.485, 0.456, 0.406))
    image = torchvision.transforms.v2.functional.to_pil_image(torch.rand(3, 300, 260))
    assert backbone.eval_transform(image).shape == (3, 224, 224)
    assert backbone.train_transform(image).shape == (3, 224, 224)
    assert "backbone: ResNet-50" in capsys.readouterr().out
    scratch = backbone.scratch()
    assert type(scratch) is type(backbone.model) and not same_weights(scratch, backbone.model)


def test_without_imagenet_weights_the_course_backbone_is_used_and_it_says_why(offline: Path, capsys: pytest.CaptureFixture) -> None:
    written = write_course_backbone(offline / "bb")
    backbone = pick_backbone(course_dir=offline / "bb", profile="full", progress=False)
    out = capsys.readouterr().out
    assert "ImageNet weights could not be had" in out and "offline" in out and "course's own CIFAR-10 backbone" in out
    assert backbone.source == "course" and backbone.pretrained
    assert same_weights(backbone.model, written) and not backbone.model.training
    assert (backbone.feature_width, backbone.input_size, backbone.last_stage) == (64, 32, "layer3")
    assert backbone.classes[3] == "cat" and backbone.classes[5] == "dog"
    assert "ResNet-20" in backbone.name and "50.0%" in backbone.about
    copy = backbone.fresh()
    with torch.no_grad():
        next(copy.parameters()).add_(1.0)
    assert same_weights(backbone.model, written), "fresh() must return a copy"


def test_course_backbone_dir_from_the_environment(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_course_backbone(offline / "env-bb", seed=2)
    monkeypatch.setenv(pretrained.BACKBONE_DIR_ENV, str(offline / "env-bb"))
    backbone = pick_backbone(prefer="course", profile="full")
    assert same_weights(backbone.model, written)
    assert pretrained.backbone_provenance()["hardware"] == "test CPU"


def test_a_course_backbone_that_is_not_its_exported_file_is_refused(offline: Path) -> None:
    write_course_backbone(offline / "bb", sha256="0" * 64)
    with pytest.raises(WeightsError, match="sha256"):
        pretrained.load_course_backbone(directory=offline / "bb")


def test_the_full_profile_without_any_weights_stops_and_says_how_to_get_them() -> None:
    with pytest.raises(WeightsError) as raised:
        pick_backbone(profile="full", progress=False)
    message = str(raised.value)
    assert "resnet50-11ad3fa6.pth" in message and "tools/train_backbone.py" in message
    assert pretrained.BACKBONE_DIR_ENV in message and "download.pytorch.org" in message


def test_the_quick_profile_without_any_weights_continues_with_a_loud_random_stand_in(capsys: pytest.CaptureFixture) -> None:
    backbone = pick_backbone(profile="quick", progress=False)
    assert backbone.source == "random" and not backbone.pretrained
    assert "RANDOM" in backbone.name
    assert "RANDOM" in capsys.readouterr().err


def test_at_size_changes_the_transforms_not_the_network(offline: Path) -> None:
    write_course_backbone(offline / "bb")
    backbone = pick_backbone(prefer="course", course_dir=offline / "bb")
    bigger = backbone.at_size(64)
    image = torchvision.transforms.v2.functional.to_pil_image(torch.rand(3, 120, 90))
    assert bigger.input_size == 64 and bigger.eval_transform(image).shape == (3, 64, 64)
    assert backbone.eval_transform(image).shape == (3, 32, 32)
    assert bigger.model is backbone.model


def test_course_transforms_keep_the_aspect_ratio() -> None:
    """A tall photo is centre-cropped, not squashed: red bands at its top and bottom are cut off."""
    photo = torch.zeros(3, 128, 64)
    photo[2] = 1.0  # blue
    photo[:, :32], photo[:, 96:] = torch.tensor([1.0, 0, 0])[:, None, None], torch.tensor([1.0, 0, 0])[:, None, None]
    out = pretrained.course_transforms(32)(torchvision.transforms.v2.functional.to_pil_image(photo))
    mean = torch.tensor(pretrained.CIFAR10_MEAN)[:, None, None]
    std = torch.tensor(pretrained.CIFAR10_STD)[:, None, None]
    pixels = out * std + mean
    assert out.shape == (3, 32, 32)
    assert pixels[0].max() < 0.25 and pixels[2].min() > 0.75  # blue (edges blend a little); a squash keeps red rows


def test_decoded_photos_are_the_eval_transform_once_and_training_batches_are_augmented(offline: Path) -> None:
    from PIL import Image

    from course_utils.datasets import ImageDataset

    write_course_backbone(offline / "bb")
    backbone = pick_backbone(prefer="course", course_dir=offline / "bb").at_size(40)
    folder = offline / "photos"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for index, (height, width) in enumerate([(90, 60), (60, 120), (75, 75)]):
        pixels = (torch.rand(height, width, 3, generator=generator) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{index}.png")
    dataset = ImageDataset([(folder / f"{i}.png", i % 2) for i in range(3)], ["a", "b"], transform=backbone.eval_transform)
    decoded = backbone.decode(dataset)
    assert decoded.images.shape == (3, 3, 40, 40) and decoded.images.dtype == torch.uint8
    assert decoded.targets.tolist() == [0, 1, 0] and decoded.classes == ["a", "b"]
    images, labels = next(iter(backbone.loader(decoded, 3)))
    expected = torch.stack([dataset[i][0] for i in range(3)])
    assert torch.allclose(images, expected, atol=1.01 / 255 / min(backbone.std))  # uint8 rounding only
    assert labels.tolist() == [0, 1, 0]
    torch.manual_seed(0)
    augmented, _ = next(iter(backbone.loader(decoded, 3, train=True, seed=0)))
    assert augmented.shape == images.shape and not torch.allclose(augmented, images)


def test_at_size_with_resize_crops_nothing_off_a_square_image(offline: Path) -> None:
    write_course_backbone(offline / "bb")
    backbone = pick_backbone(prefer="course", course_dir=offline / "bb")
    photo = torch.zeros(3, 32, 32)
    photo[0, :, 0] = 1.0  # a red left column: a centre crop after enlarging would cut it off
    image = torchvision.transforms.v2.functional.to_pil_image(photo)
    mean = torch.tensor(pretrained.CIFAR10_MEAN)[:, None, None]
    std = torch.tensor(pretrained.CIFAR10_STD)[:, None, None]
    kept = backbone.at_size(32, resize=32).eval_transform(image) * std + mean
    assert kept[0, :, 0].min() > 0.9
    cropped = backbone.at_size(32, resize=37).eval_transform(image) * std + mean
    assert cropped[0, :, 0].max() < 0.5


@pytest.mark.skipif(not (SHARED_DATA / "cifar10" / "test").is_dir(), reason="the shared CIFAR-10 copy is not here")
def test_the_shipped_backbone_reaches_its_stated_test_accuracy(tmp_path: Path) -> None:
    """The weights in the package, evaluated on the 10,000 CIFAR-10 test images, give the accuracy their provenance states."""
    provenance = pretrained.backbone_provenance(directory=pretrained.BACKBONE_DIR)
    model = pretrained.load_course_backbone(directory=pretrained.BACKBONE_DIR)
    listing = torchvision.datasets.ImageFolder(str(SHARED_DATA / "cifar10" / "test"))
    assert listing.classes == pretrained.CIFAR10_CLASSES
    images = decode_images(ImageDataset(listing.samples, listing.classes), size=32, cache_dir=tmp_path, progress=False)
    normalisation = provenance["recipe"]["normalisation"]
    loader = batch_loader(images, 500, mean=normalisation["mean"], std=normalisation["std"])
    result = evaluate(model, loader, loss_fn=torch.nn.CrossEntropyLoss())
    assert len(images) == provenance["test_images"] == 10_000
    assert abs(result.accuracy - provenance["test_accuracy"]) <= 1e-4, (result.accuracy, provenance["test_accuracy"])
    assert provenance["epochs"] >= 30 and provenance["test_accuracy"] > 0.85, "the shipped file is not the finished run"
