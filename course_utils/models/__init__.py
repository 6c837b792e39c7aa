"""The networks taught in the course, one module per architecture family (like ``torchvision.models``).

Each notebook shows its network's code in a model cell that ``make sync`` copies from here
(``tools/sync_notebooks.py``), so the lesson and later notebooks share one definition:

- ``simple_cnn``: :class:`SimpleCNN` and :func:`conv_block` (notebook 01)
"""

from .simple_cnn import SimpleCNN, conv_block

__all__ = ["SimpleCNN", "conv_block"]
