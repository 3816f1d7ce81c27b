"""What the adapters' unit tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.scripted_http import ScriptedServer


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A real local HTTP server answering from its script (a Google API's answers the emulators never give)."""
    running = ScriptedServer()
    yield running
    running.close()
