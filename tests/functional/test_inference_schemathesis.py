"""schemathesis against the inference service's OpenAPI schema, over real HTTP: no input gets a 5xx.

The service runs as in its container (mlops_inference.server on uvicorn) with a model registered through
the registry, so the schema's /predict rows are the served model's features with their documented range
(positive cases reach the model). Every operation is driven with schema-conforming (positive) and
schema-violating (negative) cases; each status is counted, and every 5xx is collected with the body that
caused it before the property is asserted, so a failure lists all of them, not the first.
"""

from __future__ import annotations

import collections

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from mlops_inference.app import create_app
from mlops_inference.main import build_service
from mlops_inference.settings import ServiceSettings
from tests.support.inference_support import MODEL, model_files, register
from tooling.inference_local import serving

EXAMPLES = 150  # per operation and mode: about 20 s in all on a 2-core machine


@pytest.fixture
def live(tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
    register(state, 1, model_files())
    settings_ = ServiceSettings(model_name=MODEL, env="dev", reload_s=0, max_rows=50)
    with serving(create_app(build_service(settings_))) as url:
        yield url


def test_no_input_from_the_schema_or_against_it_gets_a_5xx(live):
    schema = schemathesis.openapi.from_url(f"{live}/openapi.json")
    statuses: collections.Counter = collections.Counter()
    server_errors: list[tuple[str, object, int, str]] = []
    session = requests.Session()

    def drive(operation, mode: GenerationMode) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case):
            response = case.call(base_url=live, session=session, timeout=30)
            statuses[(operation.label, mode.value, response.status_code)] += 1
            if response.status_code >= 500:
                server_errors.append((operation.label, case.body, response.status_code, response.text[:200]))

        try:
            call()
        except Unsatisfiable:  # an operation without parameters has no negative case
            assert mode is GenerationMode.NEGATIVE

    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            drive(result.ok(), mode)

    cases = sum(statuses.values())
    print(f"schemathesis: {cases} cases, {len(server_errors)} 5xx")
    for (label, mode, status), count in sorted(statuses.items(), key=str):
        print(f"  {label} {mode}: {status} x{count}")
    assert not server_errors, server_errors[:10]
    # The cases reached what they are meant to: the model (200), the feedback rules (404 for ids never
    # issued), the validation (422) and the row limit (413).
    seen = {(label, status) for label, _, status in statuses}
    assert {("POST /predict", 200), ("POST /predict", 422), ("POST /feedback", 404), ("POST /feedback", 422)} <= seen
    assert cases >= 4 * EXAMPLES
