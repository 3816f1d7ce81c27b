"""The emulator harness itself: a server comes up on its port, and stopping it leaves no process behind."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

from tests.integration.conftest import PROJECT
from tooling.localcloud import emulators

pytestmark = pytest.mark.integration


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_pubsub_serves_and_stops_with_its_java_child(own_pubsub_emulator: emulators.Emulator) -> None:
    # GIVEN the Pub/Sub emulator (a gcloud launcher with a Java child) on its own port
    emulator = own_pubsub_emulator
    assert emulator.env == {"PUBSUB_EMULATOR_HOST": emulator.host}

    # WHEN a topic is created over its REST API
    request = urllib.request.Request(f"{emulator.url}/v1/projects/{PROJECT}/topics/events", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        topic = json.load(response)

    # THEN it answers; and once stopped, its whole process group is gone
    assert topic["name"] == f"projects/{PROJECT}/topics/events"
    emulator.stop()
    deadline = time.monotonic() + 10
    while _group_alive(emulator.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(emulator.process.pid)


def test_a_server_that_exits_early_reports_its_log() -> None:
    # GIVEN a "server" that dies at once WHEN it is launched THEN the error carries the tail of its log
    with pytest.raises(emulators.EmulatorError, match="flag provided but not defined: -no-such-flag"):
        emulators._launch(
            "broken",
            [str(emulators.fake_gcs_binary()), "-no-such-flag"],
            port=emulators.free_port(),
            ready=lambda: False,
            timeout_s=10,
        )
