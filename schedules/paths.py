"""Turning a user's SIGMAS into a validated path of Python floats in the direction of travel.

Sampling loops take plain floats so every step coefficient is known on the host before the loop
starts: nothing inside the loop needs a device-to-host sync.
"""
from __future__ import annotations

import math
from typing import Sequence

# Core FlipSigmas replaces a leading 0 by this value; a path starting at or below it starts clean.
CLEAN_SIGMA_FLOOR = 1e-4


class ScheduleError(ValueError):
    """A schedule the samplers cannot use; the message says what to connect instead."""


def noise_levels(sigmas: Sequence[float], where: str = "sigmas") -> list[float]:
    """Validates a schedule (either direction) and returns it ascending (clean -> noise).

    A leading CLEAN_SIGMA_FLOOR (what core FlipSigmas writes for 0) is read back as an exact 0.
    """
    values = [float(s) for s in sigmas]
    if len(values) < 2:
        raise ScheduleError(
            f"{where}: the schedule has {len(values)} value(s); it needs at least 2 "
            "(steps >= 1 and denoise > 0 on the scheduler)."
        )
    bad = next((i for i, v in enumerate(values) if not (math.isfinite(v) and v >= 0.0)), None)
    if bad is not None:
        raise ScheduleError(
            f"{where}: the schedule has a negative or non-finite value ({values[bad]} at position {bad}). "
            "Connect a scheduler's output (RewindAYSScheduler, BasicScheduler)."
        )
    if values[0] > values[-1]:
        values.reverse()
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ScheduleError(
            f"{where}: the schedule is not strictly monotone: {[round(v, 5) for v in values]}. "
            "Use a scheduler's output directly (RewindAYSScheduler, BasicScheduler) rather than an edited list."
        )
    if values[0] <= CLEAN_SIGMA_FLOOR:
        values[0] = 0.0
    return values


def unsample_path(sigmas: Sequence[float], where: str = "sigmas") -> list[float]:
    """Clean -> noise."""
    return noise_levels(sigmas, where)


def resample_path(sigmas: Sequence[float], where: str = "sigmas") -> list[float]:
    """Noise -> clean."""
    return noise_levels(sigmas, where)[::-1]


def flip(sigmas: Sequence[float]) -> list[float]:
    """Reverses a schedule for core samplers: a leading 0 becomes CLEAN_SIGMA_FLOOR, as core FlipSigmas
    does, because core solvers divide by the current sigma. Rewind's samplers read it back as 0."""
    values = [float(s) for s in sigmas][::-1]
    if values and values[0] == 0.0:
        values[0] = CLEAN_SIGMA_FLOOR
    return values
