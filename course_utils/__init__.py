"""course_utils: the helper package of the CNN image-classification course.

A notebook needs one import, ``import course_utils as cu``, and starts with ``course = cu.setup()``.
What every notebook calls is at the top (``cu.load_dataset``, ``cu.fit``, ``cu.evaluate``,
``cu.predict``, ``cu.summary``); the rest lives in modules by concern, each reached as ``cu.<module>``:
``datasets`` and ``transforms`` (data), ``training``, ``checkpoints`` and ``evaluation`` (learning),
``plotting`` and ``inspection`` (pictures and model summaries), ``models`` and ``shapes`` (the
networks taught in the course and their size arithmetic), ``session`` and ``profiles`` (setup).
"""

from . import (
    checkpoints,
    datasets,
    distributed,
    evaluation,
    features,
    gradcam,
    history,
    images,
    inspection,
    models,
    plotting,
    pretrained,
    profiles,
    progress,
    session,
    shapes,
    tensordata,
    training,
    transfer,
    transforms,
)
from .datasets import DatasetUnavailable, load_dataset
from .evaluation import evaluate, predict, save_predictions
from .inspection import count_macs, count_params, summary
from .profiles import Profile, get_profile
from .session import Course, current, data_notice, pick_device, seed_everything, setup
from .training import EarlyStopping, History, fit, googlenet_aux_loss, train_mode, train_one_epoch, validate

__all__ = [
    "Course",
    "DatasetUnavailable",
    "EarlyStopping",
    "History",
    "Profile",
    "count_macs",
    "count_params",
    "current",
    "data_notice",
    "evaluate",
    "fit",
    "get_profile",
    "googlenet_aux_loss",
    "load_dataset",
    "pick_device",
    "predict",
    "save_predictions",
    "seed_everything",
    "setup",
    "summary",
    "train_mode",
    "train_one_epoch",
    "validate",
]
__version__ = "0.1.0"
