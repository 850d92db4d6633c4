"""One way to check and one way to fail, for every Rewind node.

`checked` decorates each node's `execute` (under @classmethod). Before the call it checks every widget
value against the node's own V3 schema: ComfyUI 0.3.75 checks min/max only on values typed into a
widget (not on linked values, nor on inputs a node's `validate_inputs` names), lets NaN through every
min/max check (comparisons with NaN are false) and skips the option check of V3 combos. Around the call
it turns what the pack raises into what ComfyUI shows:

- a bad value, a refusal of the core (any ValueError: ScheduleError, VideoIOError, PlanTooLarge...) or
  a "does not fit" MemoryError becomes one line "<node id>: <message>" with ComfyUI's folders shown by
  name, never as server paths (a MemoryError stays one; the rest become RewindInputError);
- Cancel noticed by the core (VideoIOCancelled) becomes ComfyUI's own interrupt.

So the core and the glue raise plain errors that name the input and the fix, never the node: the node
id comes from the schema, and no node types its own.
"""
from __future__ import annotations

import functools
import inspect
import logging
import math
import reprlib

from ..comfy_glue.api import io
from ..comfy_glue.folders import public_text
from ..comfy_glue.interrupt import interrupted
from ..video_io import VideoIOCancelled

log = logging.getLogger("rewind")


class RewindInputError(ValueError):
    """Bad input or a refusal, as ComfyUI shows it: '<node id>: <message>'."""


def checked(execute):
    """Decorates a node's `execute` (under @classmethod): checks its widget values, names its errors."""
    signature = inspect.signature(execute)

    @functools.wraps(execute)
    def checked_execute(cls, *args, **kwargs):
        schema = cls.define_schema()
        try:
            check_inputs(schema, call_values(signature, cls, args, kwargs))
            return execute(cls, *args, **kwargs)
        except (ValueError, MemoryError) as error:
            raise reported(schema.node_id, error) from error
        except VideoIOCancelled:
            raise interrupted() from None

    return checked_execute


def reported(node_id: str, error: Exception) -> Exception:
    """`error` as the user sees it: the node first, ComfyUI's folders by name."""
    message = public_text(f"{node_id}: {error}")
    return MemoryError(message) if isinstance(error, MemoryError) else RewindInputError(message)


def refusal(node: type[io.ComfyNode], error: Exception) -> str:
    """What `validate_inputs` returns for `error`: the same line `checked` would raise."""
    return str(reported(node.define_schema().node_id, error))


def warn(node: type[io.ComfyNode], note: str) -> None:
    """Logs what is worth a warning the way errors read: the node first."""
    log.warning("%s: %s", node.define_schema().node_id, note)


def call_values(signature: inspect.Signature, cls, args: tuple, kwargs: dict) -> dict:
    """The call's arguments by input name, with those gathered in **kwargs flattened in."""
    arguments = dict(signature.bind(cls, *args, **kwargs).arguments)
    gathered = [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    return {**arguments, **(arguments.pop(gathered[0], {}) if gathered else {})}


def check_inputs(schema: io.Schema, values: dict) -> None:
    """Raises a one-line ValueError naming the input and the fix for the first bad value."""
    for spec in schema.inputs:
        value = values.get(spec.id)
        problem = None if value is None else input_problem(spec, value)
        if problem:
            raise ValueError(f"'{spec.id}' {problem}")


def input_problem(spec: io.Input, value) -> str | None:
    """What is wrong with `value` for the input `spec`, or None."""
    shown = reprlib.repr(value)  # a hostile value may be megabytes long
    if isinstance(spec, io.Combo.Input):
        # An upload list is a snapshot of the input folder, not the set of valid names (subfolders, files
        # uploaded since): the node checks the file itself.
        if spec.upload is None and value not in spec.options:
            return f"is {shown}, which is not one of its options; pick one of {', '.join(map(repr, spec.options))}."
        return None
    if isinstance(spec, io.Boolean.Input):
        return None if isinstance(value, bool) else f"is {shown}; set true or false."
    if isinstance(spec, (io.Int.Input, io.Float.Input)):
        integer = isinstance(spec, io.Int.Input)
        low, high = spec.min, spec.max
        span = f"from {low} to {high}" if low is not None and high is not None else (
            f"of at least {low}" if low is not None else f"of at most {high}" if high is not None else "")
        wanted = f"set {'a whole number' if integer else 'a number'} {span}".rstrip() + "."
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            return f"is {shown}; {wanted}"
        if not integer and not math.isfinite(value):
            return f"is {value}; {wanted}"
        if (low is not None and value < low) or (high is not None and value > high):
            return f"is {value}, outside its range; {wanted}"
    return None
