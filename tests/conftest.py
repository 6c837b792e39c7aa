"""Shared test settings."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("COURSE_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
"""The course's real images: COURSE_DATA_DIR when set (read at import, before tests unset it), else ../shared/data."""
