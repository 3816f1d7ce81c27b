"""Alias names: a strict pattern, checked by hypothesis against what each backend stores them in."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import PermanentError
from shared.model_registry import ALIAS_PATTERN, RESERVED_ALIASES, alias_name

VALID = st.from_regex(ALIAS_PATTERN, fullmatch=True).filter(
    lambda n: n not in RESERVED_ALIASES and not re.fullmatch(r"v?[0-9]+", n)
)


@given(VALID)
def test_a_name_the_pattern_takes_comes_back_unchanged_and_is_safe_everywhere(name: str) -> None:
    # GIVEN any name the pattern takes WHEN it is checked THEN it is returned as it is
    assert alias_name(name) == name
    # AND it is a Firestore document id part, a shell word and a BigQuery value without quoting trouble
    assert 1 <= len(name) <= 40 and name.isascii() and name == name.strip()
    assert not set(name) & set("/.:#'\"` \\$*?[]{}()<>|&;\n\t")
    assert not (name.startswith("__") and name.endswith("__"))


@given(st.text(max_size=60))
def test_any_other_text_is_refused_naming_it(name: str) -> None:
    # GIVEN any text WHEN it is checked as an alias name
    takes = bool(ALIAS_PATTERN.fullmatch(name)) and name not in RESERVED_ALIASES
    takes = takes and not re.fullmatch(r"v?[0-9]+", name)
    # THEN it is taken exactly when the pattern takes it, and otherwise refused with a message naming it
    if takes:
        assert alias_name(name) == name
    else:
        with pytest.raises(PermanentError) as refused:
            alias_name(name)
        assert str(refused.value).startswith(f"alias {name!r}")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("champion", None),
        ("candidate-2", None),
        ("shadow_a", None),
        ("x", None),
        ("latest", "reserved"),
        ("v3", "reads as a version"),
        ("3", "must be"),
        ("Champion", "must be"),
        ("-champion", "must be"),
        ("champion-", "must be"),
        ("a" * 41, "must be"),
        ("prod/champion", "must be"),
        ("", "must be"),
    ],
)
def test_examples(name: str, why: str | None) -> None:
    if why is None:
        assert alias_name(name) == name
    else:
        with pytest.raises(PermanentError, match=why):
            alias_name(name)
