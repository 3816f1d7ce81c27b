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


def test_a_configuration_error_is_an_error_line_that_says_what_to_fix_without_a_traceback():
    import io
    import json

    from shared.errors import ConfigError
    from shared.log import configure_logging
    from shared.runtime import run_event

    def misconfigured():
        raise ConfigError("rollout targets file x.yaml does not exist: copy the sample there")

    stream = io.StringIO()
    configure_logging(stream, force=True)
    try:
        # It is raised for redelivery (the event is fine; once the configuration is, it goes through) ...
        with pytest.raises(ConfigError):
            run_event("ecr_rollout", "e1", misconfigured)
    finally:
        configure_logging(force=True)
    # ... and logged as one `error` line saying what to fix, with no traceback: it is no bug
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["outcome"] == "error" and "exception" not in line
    assert line["detail"] == "configuration: rollout targets file x.yaml does not exist: copy the sample there"


def test_an_event_id_of_megabytes_is_cut_in_the_outcome_line():
    import io
    import json

    from shared.log import configure_logging
    from shared.outcome import Outcome
    from shared.runtime import run_event

    stream = io.StringIO()
    configure_logging(stream, force=True)
    try:
        run_event("register_model", "7" * 5_000_000, lambda: Outcome.ignored("nothing to do"))
    finally:
        configure_logging(force=True)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["event_id"] == "7" * 256 + f"... ({5_000_000 - 256} characters cut)"
