"""JSON that every parser reads: undefined numbers (NaN, +/-Inf) become null instead of Python's bare NaN."""
from __future__ import annotations

import json
import math


def finite_or_none(value):
    """`value` with every non-finite float inside dicts, lists and tuples replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def dumps_strict(value, indent: int = 2) -> str:
    """json.dumps of `value` with undefined numbers as null; anything else non-standard raises."""
    return json.dumps(finite_or_none(value), indent=indent, allow_nan=False)
