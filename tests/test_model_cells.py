"""Model cells: each notebook shows its network as code that `make sync` copies from course_utils.models."""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import torch

import course_utils as cu

from test_colab import load_sync_tool

sync = load_sync_tool()
SIMPLE_CNN = ["course_utils.models.simple_cnn:conv_block", "course_utils.models.simple_cnn:SimpleCNN"]


def model_cells(path: Path) -> list[nbformat.NotebookNode]:
    notebook = nbformat.read(path, as_version=4)
    return [cell for cell in notebook.cells if "source" in cell.metadata.get("course", {})]


def test_every_model_cell_shows_the_library_source() -> None:
    checked = 0
    for path in sync.notebook_paths():
        for cell in model_cells(path):
            expected = sync.model_cell_source(cell.metadata.course.source)
            assert cell.source == expected, f"{path.name} cell {cell.id} differs from the library: run `make sync`"
            checked += 1
    assert checked, "no notebook has a model cell"


def test_notebook_01_shows_simple_cnn() -> None:
    [cell] = model_cells(sync.NOTEBOOKS / "01_cnn_basics.ipynb")
    assert cell.metadata.course.source == SIMPLE_CNN
    assert cell.source.startswith("# Generated from course_utils/models/simple_cnn.py by `make sync`")


def test_model_cells_run_on_their_own() -> None:
    for path in sync.notebook_paths():
        for cell in model_cells(path):
            namespace: dict = {}
            exec(compile(cell.source, f"{path.name}:{cell.id}", "exec"), namespace)
            for reference in cell.metadata.course.source:
                assert reference.split(":")[1] in namespace, (path.name, reference)


def test_the_notebook_class_is_the_library_class() -> None:
    namespace: dict = {}
    exec(sync.model_cell_source(SIMPLE_CNN), namespace)
    torch.manual_seed(0)
    shown = namespace["SimpleCNN"](num_classes=10).eval()
    torch.manual_seed(0)
    library = cu.models.SimpleCNN(num_classes=10).eval()
    ours, theirs = shown.state_dict(), library.state_dict()
    assert list(ours) == list(theirs) and all(torch.equal(ours[key], theirs[key]) for key in ours)
    images = torch.rand(2, 3, 32, 32)
    assert torch.equal(shown(images), library(images))


def test_a_stale_model_cell_is_found_and_regenerated(tmp_path: Path) -> None:
    original = sync.NOTEBOOKS / "01_cnn_basics.ipynb"
    folder = tmp_path / "notebooks"
    folder.mkdir()
    copy = folder / original.name
    shutil.copy(original, copy)
    readme = tmp_path / "README.md"
    readme.write_text(sync.synced_readme(folder=folder))
    assert sync.stale_files(folder, readme) == {}

    notebook = nbformat.read(copy, as_version=4)
    [cell] = [cell for cell in notebook.cells if "source" in cell.metadata.get("course", {})]
    cell.source = cell.source.replace("kernel_size=3, padding=1", "kernel_size=5, padding=2")  # edited in the notebook
    nbformat.write(notebook, copy)
    stale = sync.stale_files(folder, readme)
    assert list(stale) == [copy]
    copy.write_text(stale[copy])  # what `make sync` writes
    assert copy.read_text() == original.read_text()


@pytest.fixture
def future_models(tmp_path: Path) -> Iterator[str]:
    """A package of two new model modules, the second importing from the first, as a later notebook adds."""
    package = tmp_path / "future_models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "blocks.py").write_text(textwrap.dedent('''
        import math

        import torch.nn.functional as F
        from torch import nn

        SCALE = 2.0
        """How much louder a block makes its input."""


        class Block(nn.Module):
            def __init__(self, channels: int) -> None:
                super().__init__()
                self.conv = nn.Conv2d(channels, channels, 3, padding=1)

            def forward(self, x):
                return F.relu(self.conv(x)) * math.sqrt(SCALE)
    '''))
    (package / "net.py").write_text(textwrap.dedent('''
        from __future__ import annotations

        from collections import OrderedDict

        from torch import Tensor, nn

        from .blocks import Block


        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.features = nn.Sequential(OrderedDict(block=Block(3), pool=nn.AdaptiveAvgPool2d(1)))

            def forward(self, x: Tensor) -> Tensor:
                return self.features(x).flatten(1)
    '''))
    sys.path.insert(0, str(tmp_path))
    try:
        yield "future_models"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == "future_models"]:
            del sys.modules[name]


def test_a_new_model_module_needs_no_code_change(future_models: str) -> None:
    source = sync.model_cell_source([f"{future_models}.net:Net"])
    assert source.splitlines()[:6] == [
        "# Generated from future_models/net.py by `make sync`: edit it there, not here.",
        "from collections import OrderedDict",
        "",
        "from torch import Tensor, nn",
        "",
        "from future_models.blocks import Block",  # a relative import made absolute
    ]
    namespace: dict = {}
    exec(source, namespace)
    assert namespace["Net"]()(torch.rand(1, 3, 8, 8)).shape == (1, 3)

    with pytest.raises(ValueError, match="uses SCALE: list 'future_models.blocks:SCALE'"):
        sync.model_cell_source([f"{future_models}.blocks:Block"])


def test_a_constant_and_objects_of_two_modules_share_one_cell(future_models: str) -> None:
    references = [f"{future_models}.blocks:SCALE", f"{future_models}.blocks:Block", f"{future_models}.net:Net"]
    source = sync.model_cell_source(references)
    header, *_ = source.splitlines()
    assert header == "# Generated from future_models/blocks.py and future_models/net.py by `make sync`: edit it there, not here."
    assert "SCALE = 2.0\n\"\"\"How much louder a block makes its input.\"\"\"" in source  # with its docstring
    assert "import Block" not in source and source.count("import math") == 1
    assert source.count("from torch import") == 1  # the modules' imports from torch merged in one line
    namespace: dict = {}
    exec(source, namespace)
    assert namespace["Net"]()(torch.rand(1, 3, 8, 8)).shape == (1, 3)


@pytest.mark.parametrize(
    ("references", "message"),
    [
        ("course_utils.models.simple_cnn:SimpleCNN", "non-empty list"),
        ([], "non-empty list"),
        (["SimpleCNN"], "'package.module:name'"),
        (["course_utils.models:SimpleCNN"], "imports it from course_utils.models.simple_cnn: name that module"),
        (["course_utils.models.simple_cnn:SimpleCNN"], "uses conv_block: list 'course_utils.models.simple_cnn:conv_block'"),
        (["course_utils.models.simple_cnn:Missing"], "does not define 'Missing'"),
    ],
)
def test_a_wrong_source_list_is_refused(references, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sync.model_cell_source(references)
