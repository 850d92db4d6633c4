"""Range and choice checks for video_io's options, worded for the person filling them in.

The Limit tables are the one statement of each range: the node schemas take their min/max from them
(`Limit.bounds`), and `check_number` / `check_choice` apply them for callers outside ComfyUI."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .ffmpeg import VideoIOError


@dataclass(frozen=True)
class Limit:
    low: float
    high: float
    meaning: str  # what the low end (or the input) does, for the error message

    def bounds(self) -> dict:
        """The limit as a node schema's min and max, so the node checks the same range."""
        return {"min": self.low, "max": self.high}


def check_number(name: str, value, limit: Limit, whole: bool) -> None:
    """Refuses NaN, infinities, fractions where a count is meant, and values outside the limit."""
    kind = "a whole number" if whole else "a number"
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    fits = is_number and math.isfinite(value) and limit.low <= value <= limit.high and (not whole or value == int(value))
    if not fits:
        raise VideoIOError(f"{name} must be {kind} from {limit.low:g} to {limit.high:g} ({limit.meaning}); got {value!r}.")


def check_choice(name: str, value, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        raise VideoIOError(f"{name} {value!r} is not one of the choices; use one of {list(choices)}.")
