"""Rewind checks its nodes' inputs itself, against each node's own V3 schema.

ComfyUI 0.3.75 checks min/max only on values typed into a widget (not on linked values, nor on
any input a node's `validate_inputs` names), lets NaN through every min/max check (comparisons with
NaN are false) and skips the option check of V3 combos. The schema stays the single source of
truth: `checked_inputs` reads the limits and options from `define_schema` before `execute` runs.
"""
from __future__ import annotations

import functools
import inspect
import math
import reprlib
from contextlib import contextmanager

import torch
from .comfy_api import io


class RewindInputError(ValueError):
    """Bad input, reported to the user by ComfyUI with the node's name."""


def checked_inputs(execute):
    """Decorates a node's `execute` (under @classmethod) so every widget value is checked first."""
    signature = inspect.signature(execute)

    @functools.wraps(execute)
    def checked(cls, *args, **kwargs):
        check_inputs(cls.define_schema(), signature.bind(cls, *args, **kwargs).arguments)
        return execute(cls, *args, **kwargs)

    return checked


def check_inputs(schema: io.Schema, values: dict) -> None:
    """Raises a one-line RewindInputError naming the node, the input and the fix for the first bad value."""
    for spec in schema.inputs:
        value = values.get(spec.id)
        problem = None if value is None else input_problem(spec, value)
        if problem:
            raise RewindInputError(f"{schema.node_id}: '{spec.id}' {problem}")


def input_problem(spec: io.Input, value) -> str | None:
    """What is wrong with `value` for the input `spec`, or None."""
    shown = reprlib.repr(value)  # a hostile value may be megabytes long
    if isinstance(spec, io.Combo.Input):
        if value not in spec.options:
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


def check_finite(tensor: torch.Tensor, where: str, fix: str) -> None:
    """Refuses a tensor holding NaN or inf. One host sync: call it before a loop, never inside one."""
    if not bool(torch.isfinite(tensor).all()):
        kind = "NaN" if bool(torch.isnan(tensor).any()) else "inf"
        raise RewindInputError(f"{where} contains {kind}; {fix}")


@contextmanager
def reported_by(node: str):
    """Names the node in the ValueError of a core check, which knows the input but not the node."""
    try:
        yield
    except RewindInputError:
        raise
    except ValueError as error:
        raise RewindInputError(f"{node}: {error}") from None
