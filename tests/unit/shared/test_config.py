"""Settings come from the environment with clear errors; equal environments give equal settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import load_settings
from shared.errors import ConfigError, PermanentError


def test_defaults_are_the_embedded_profile_in_the_working_directory():
    settings = load_settings({})
    assert (settings.profile, settings.state_dir, settings.buckets_dir) == (
        "embedded",
        Path(".mlops-events"),
        Path(".mlops-events/buckets"),
    )


def test_values_are_read_and_typed():
    settings = load_settings(
        {"MLOPS_EVENTS_STATE_DIR": "/tmp/s", "MLOPS_EVENTS_CLAIM_TTL_S": "30", "GOOGLE_CLOUD_PROJECT": "acme-ml"}
    )
    assert settings.state_dir == Path("/tmp/s")
    assert settings.claim_ttl_s == 30.0
    assert settings.bigquery_table_id == "acme-ml.ml_registry.models"
    assert load_settings({"MLOPS_EVENTS_GCP_PROJECT": "ours", "GOOGLE_CLOUD_PROJECT": "theirs"}).gcp_project == "ours"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MLOPS_EVENTS_PROFILE": "prod"}, "MLOPS_EVENTS_PROFILE"),
        ({"MLOPS_EVENTS_CLAIM_TTL_S": "soon"}, "MLOPS_EVENTS_CLAIM_TTL_S"),
        ({"MLOPS_EVENTS_CLAIM_TTL_S": "0"}, "positive"),
        ({"MLOPS_EVENTS_BUCKET_PATTERN": "models"}, "{env}"),
    ],
)
def test_bad_values_name_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")) as caught:
        load_settings(environ)
    # Not a PermanentError: events must wait for the fix in the retry queue, not be acknowledged and lost.
    assert not isinstance(caught.value, PermanentError)


def test_the_cache_key_tells_environments_apart():
    assert load_settings({"MLOPS_EVENTS_STATE_DIR": "a"}).cache_key != load_settings({}).cache_key
    assert load_settings({}).cache_key == load_settings({}).cache_key


def test_the_notifier_is_rebuilt_after_slack_rejects_the_webhook():
    # A rotated secret: the old URL now answers 404 no_service; the next post must read the new one.
    from shared.deps import _ReloadingNotifier
    from shared.errors import SlackRejectedError

    class Rejecting:
        def post(self, payload):
            raise SlackRejectedError("Slack rejected the webhook post: HTTP 404 no_service")

    class Accepting:
        def __init__(self):
            self.posts = []

        def post(self, payload):
            self.posts.append(payload)

    built = [Rejecting(), Accepting()]
    notifier = _ReloadingNotifier(lambda: built.pop(0))
    with pytest.raises(SlackRejectedError):
        notifier.post({"text": "a"})
    notifier.post({"text": "b"})
    notifier.post({"text": "c"})
    assert built == []  # built twice, not once per post
