"""What the functions' end-to-end tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tooling.localcloud.slack_receiver import SlackReceiver


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    """A local Slack webhook receiver: what a function posted, read back as Slack would get it."""
    with SlackReceiver() as receiver:
        yield receiver
