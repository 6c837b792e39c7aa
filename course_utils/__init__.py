"""course_utils: the helper package of the CNN image-classification course.

The notebooks start with ``course = course_utils.setup()``; the rest lives in modules by concern:
``datasets`` and ``transforms`` (data), ``training``, ``checkpoints`` and ``evaluation`` (learning),
``plotting`` and ``inspection`` (pictures and model summaries), ``models`` and ``shapes`` (the
networks taught in the course and their size arithmetic).
"""

from .datasets import DatasetUnavailable, load_dataset
from .evaluation import evaluate, predict
from .inspection import count_macs, count_params, summary
from .profiles import Profile, get_profile
from .session import Course, current, data_notice, pick_device, seed_everything, setup
from .training import History, fit

__all__ = [
    "Course",
    "DatasetUnavailable",
    "History",
    "Profile",
    "count_macs",
    "count_params",
    "current",
    "data_notice",
    "evaluate",
    "fit",
    "get_profile",
    "load_dataset",
    "pick_device",
    "predict",
    "seed_everything",
    "setup",
    "summary",
]
__version__ = "0.1.0"
