"""An outcome's detail names what happened; it never carries a megabyte of the input into every log line."""

from __future__ import annotations

import pytest

from shared.outcome import DETAIL_MAX, Outcome, Status


@pytest.mark.parametrize("length", [0, DETAIL_MAX, DETAIL_MAX + 1, 10_485_760])
def test_a_detail_over_the_limit_is_cut_and_says_how_much(length):
    outcome = Outcome.rejected("x" * length)
    if length <= DETAIL_MAX:
        assert outcome.detail == "x" * length
    else:
        assert outcome.detail == "x" * DETAIL_MAX + f"... ({length - DETAIL_MAX} characters cut)"
    assert outcome.status is Status.REJECTED
