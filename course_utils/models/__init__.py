"""The networks taught in the course, one module per architecture family (like ``torchvision.models``).

Each notebook shows its network's code in a model cell that ``make sync`` copies from here
(``tools/sync_notebooks.py``), so the lesson and later notebooks share one definition:

- ``simple_cnn``: :class:`SimpleCNN` and :func:`conv_block` (notebook 01)
- ``lenet``: LeNet-5 (1998, and as the paper counts it), the lecture's LeNet and the textbook's 224x224 LeNet (notebook 02)
- ``alexnet``: AlexNet as in the 2012 paper, grouped on one device or as two towers on two (notebook 03)
- ``vgg``: VGG-11/13/16/19 from one table, torchvision's names; ``cifar_vgg`` for 32x32 (notebook 04)
- ``googlenet``: GoogLeNet with the paper's 5x5 branch or torchvision's 3x3, a 32x32 stem (notebook 05)
- ``resnet``: ResNet-18..152 with torchvision's layer names (``cu.models.resnet.resnet(50)``)
- ``cifar_resnet``: the paper's CIFAR ResNets and plain nets (``cu.models.cifar_resnet.cifar_resnet(20)``)
"""

from . import cifar_resnet, resnet, simple_cnn
from . import alexnet, lenet
from . import googlenet, vgg
from .googlenet import GoogLeNet, Inception
from .vgg import VGG, cifar_vgg
from .alexnet import AlexNet, AlexNetTwoTowers
from .lenet import LeNet, LeNet5, LeNet5Paper, LeNet224
from .simple_cnn import SimpleCNN, conv_block

__all__ = ["GoogLeNet", "Inception", "VGG", "cifar_vgg", "googlenet", "vgg", "AlexNet", "AlexNetTwoTowers", "LeNet", "LeNet5", "LeNet5Paper", "LeNet224", "alexnet", "lenet", "SimpleCNN", "conv_block", "cifar_resnet", "resnet", "simple_cnn"]
