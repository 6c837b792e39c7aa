"""course_utils: the helper package of the CNN image-classification course."""

from .profiles import Profile, get_profile
from .session import Course, current, data_notice, pick_device, seed_everything, setup

__all__ = ["Course", "Profile", "current", "data_notice", "get_profile", "pick_device", "seed_everything", "setup"]
__version__ = "0.1.0"
