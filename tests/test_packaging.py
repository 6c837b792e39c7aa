"""How the course is installed and started: pyproject.toml, environment.yml (the same environment) and the Makefile."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

from course_utils.pretrained import BACKBONE_DIR_ENV

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from the PyPI names used in pyproject.toml
CONDA_TO_PYPI = {"pytorch": "torch", "matplotlib-base": "matplotlib", "py-opencv": "opencv-python-headless"}
NOT_PACKAGES = {"python", "pip"}


def split_requirement(requirement: str) -> tuple[str, str]:
    """'torch>=2.1' -> ('torch', '>=2.1'), names normalised the PyPI way."""
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", requirement)
    assert match, requirement
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    return CONDA_TO_PYPI.get(name, name), match.group(2).replace(" ", "")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pyproject_requirements(*extras: str) -> dict[str, str]:
    """Runtime dependencies plus the named extras (all of them when none is named)."""
    optional = pyproject()["project"]["optional-dependencies"]
    requirements = list(pyproject()["project"]["dependencies"])
    for extra in extras or optional:
        requirements += optional[extra]
    return dict(split_requirement(r) for r in requirements)


def environment_requirements() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    found: dict[str, str] = {}
    for entry in environment["dependencies"]:
        for requirement in entry["pip"] if isinstance(entry, dict) else [entry]:
            if requirement.startswith("-e"):
                continue
            name, spec = split_requirement(requirement)
            if name not in NOT_PACKAGES:
                found[name] = spec
    return found


def test_environment_yml_matches_pyproject() -> None:
    assert environment_requirements() == pyproject_requirements()


def test_environment_yml_installs_the_package_editable() -> None:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict)]
    assert any("-e ." in section for section in pip_sections)


def test_disagreement_is_detected(tmp_path: Path) -> None:
    """The comparison above is not vacuous: a dropped package changes the result."""
    requirements = pyproject_requirements()
    assert {"torch", "torchvision", "torchsummary", "opencv-python-headless", "nbval", "tqdm"} <= set(requirements)
    fewer = dict(requirements)
    fewer.pop("tqdm")
    assert fewer != environment_requirements()


def test_torch_is_never_pinned_exactly() -> None:
    """Colab ships its own torch: an exact or capped pin would make pip replace it."""
    for name in ("torch", "torchvision"):
        spec = pyproject_requirements()[name]
        assert "==" not in spec and "<" not in spec, spec


def test_opencv_is_the_headless_wheel() -> None:
    assert "opencv-python" not in pyproject_requirements()
    assert "opencv-python-headless" in pyproject_requirements()


def test_the_lab_extra_installs_jupyterlab_and_widgets() -> None:
    """`pip install "cnn-course[lab]"` is what a student guesses; `.[dev]` (what make installs) includes it."""
    lab = pyproject_requirements("lab")
    assert {"jupyterlab", "ipywidgets"} <= set(lab)
    assert lab.items() <= pyproject_requirements("dev").items()


def test_license_is_an_spdx_string_that_the_required_setuptools_understands() -> None:
    """A TOML-table license makes setuptools warn on every install (and stop building after 2027-02-18)."""
    assert pyproject()["project"]["license"] == "MIT"
    (setuptools,) = [r for r in pyproject()["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert minimum and int(minimum.group(1)) >= 77, setuptools  # SPDX license strings need setuptools 77


def test_the_wheel_colab_installs_ships_every_module_and_the_registry(tmp_path: Path) -> None:
    """Colab installs from git (a built wheel, not an editable checkout): nothing may be left behind,
    and the build prints no deprecation warning (students see it on every install)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "course_utils", source / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    (source / "data").mkdir()
    for name in ("pyproject.toml", "README.md", "data/registry.json"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--verbose", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    printed = build.stdout + build.stderr
    assert "project.license" not in printed and "DeprecationWarning" not in printed and "BuildBackendWarning" not in printed
    (wheel,) = tmp_path.glob("cnn_course-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "course_utils/registry/registry.json" in names
    modules = {f"course_utils/{path.name}" for path in (ROOT / "course_utils").glob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert {"course_utils/weights/cifar_resnet20.pt", "course_utils/weights/cifar_resnet20.json"} <= names

    # installed from the wheel alone, far from the checkout, the backbone loads offline and passes its sha256 check
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True)  # fmt: skip
    probe = (
        "import course_utils, json; from course_utils import pretrained; "
        "model = pretrained.load_course_backbone(); "
        "print(json.dumps([course_utils.__file__, sum(p.numel() for p in model.parameters()), "
        "pretrained.backbone_provenance()['sha256']]))"
    )
    environment = {key: value for key, value in os.environ.items() if key != BACKBONE_DIR_ENV}
    environment["PYTHONPATH"] = str(target)
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=environment, check=True,
                            capture_output=True, text=True)  # fmt: skip
    module_file, parameters, digest = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert Path(module_file).is_relative_to(target), module_file
    assert parameters == 269_722
    assert digest == hashlib.sha256((ROOT / "course_utils/weights/cifar_resnet20.pt").read_bytes()).hexdigest()


def test_readme_states_the_quick_profile_as_it_is() -> None:
    """The README describes the quick profile in numbers; they must be profiles.QUICK's."""
    from course_utils.profiles import QUICK

    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `quick` |"))
    assert f"{QUICK.train_per_class} training / {QUICK.eval_per_class} evaluation images per class" in row
    assert f"{QUICK.epochs} epochs" in row


def make_dry_run(*arguments: str) -> str:
    """What ``make -n`` would run (nothing is run)."""
    done = subprocess.run(["make", "-n", "-C", str(ROOT), *arguments], check=True, capture_output=True, text=True)
    return done.stdout


def test_make_lab_passes_lab_args_and_allows_root() -> None:
    (command,) = [line for line in make_dry_run("lab", "LAB_ARGS=--port=8899 --no-browser").splitlines() if " lab " in line]
    assert command.split()[-2:] == ["--port=8899", "--no-browser"]
    assert ("--allow-root" in command) == (os.geteuid() == 0)  # Jupyter refuses to start as root without it
