"""Comparing Firestore values as both clients read them back."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, -0.0 told apart from 0.0; datetimes by moment (the SDK's carry nanoseconds)."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.tzinfo is not None and b.tzinfo is not None and a == b
    return type(a) is type(b) and a == b
