"""The log-based metrics' filters (terraform/modules/monitoring) against the lines the functions really write.

GIVEN every saved event of every GCP function, replayed through the real functions-framework app
WHEN each JSON line the function wrote is made into the LogEntry Cloud Logging makes of it (a gen2
function's Cloud Run revision, the JSON in jsonPayload)
THEN the outcome metric counts exactly the outcome lines, one per event, labelled with the function and
the outcome the replay reported, with a numeric latency; the drift metric counts exactly the runs the
drift function recorded as dataset drift. A renamed log field, logger or outcome value breaks this test,
not the pager.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from pathlib import Path

import pytest
import yaml

from shared.log import LOGGER_NAME, JsonFormatter, configure_logging
from tests.support.log_filter import LogFilter, entry_from_line, gcp_function_resource, hcl_string, parse
from tests.support.terraform_contract import Terraform, text
from tooling.event_routes import function_for
from tooling.manifest import REPO_ROOT, load_manifest
from tooling.replay import Replayer

MODULE = REPO_ROOT / "terraform" / "modules" / "monitoring"
EXPECTED = yaml.safe_load((REPO_ROOT / "events" / "expected.yaml").read_text())
GCP_FIXTURES = sorted(p for spec in load_manifest() if spec.platform == "gcp-function" for p in spec.fixture_files())
OUTCOMES = {"applied", "duplicate", "ignored", "rejected", "retry", "error"}


def _metrics() -> dict[str, dict]:
    """Every google_logging_metric of the module: its filter (resolved from local.log_filters) and extractors."""
    tf = Terraform.parse(MODULE)
    filters = {name: hcl_string(value) for name, value in tf.locals[MODULE]["log_filters"].items()}
    metrics = {}
    for block in tf.of("resource", "google_logging_metric"):
        reference = text(block.body["filter"])
        assert reference.startswith("local.log_filters."), (
            f"{block.name}: filter {reference} is not in local.log_filters"
        )
        extractors = {key: hcl_string(value) for key, value in (block.body.get("label_extractors") or {}).items()}
        value = block.body.get("value_extractor")
        metrics[block.name] = {
            "filter": parse(filters[reference.removeprefix("local.log_filters.")]),
            "labels": extractors,
            "value": hcl_string(value) if value else None,
        }
    return metrics


METRICS = _metrics()


@pytest.fixture
def written_lines():
    """Every JSON line the runtime writes (every mlops_events logger), as its stdout handler formats it."""
    configure_logging()  # the runtime's own handler and level first (it installs itself only once)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def _drifted_runs(state: Path) -> int:
    database = state / "monitoring.sqlite"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT COUNT(*) FROM drift_runs WHERE dataset_drifted").fetchone()[0]


def test_the_module_has_the_metrics_this_test_checks():
    assert set(METRICS) == {"function_outcomes", "function_latency", "drift_detected"}


@pytest.mark.parametrize("fixture", GCP_FIXTURES, ids=lambda p: p.relative_to(REPO_ROOT / "events").as_posix())
def test_metric_filters_on_the_lines_a_replay_writes(fixture, state_dir, written_lines):
    spec = function_for(fixture, None)
    result = Replayer().replay_file(fixture)
    entries = [entry_from_line(line, gcp_function_resource(spec.name)) for line in written_lines()]
    outcome_lines = [e for e in entries if e["jsonPayload"].get("logger") == "mlops_events.outcome"]
    assert len(outcome_lines) == 1, "one outcome line per event"

    # The outcome count: exactly the outcome line, labelled with the function and the replayed outcome.
    outcomes: LogFilter = METRICS["function_outcomes"]["filter"]
    counted = [e for e in entries if outcomes.matches(e)]
    assert counted == outcome_lines
    (line,) = counted
    labels = {
        key: outcomes.extract(line, extractor) for key, extractor in METRICS["function_outcomes"]["labels"].items()
    }
    assert labels == {"function": spec.name, "outcome": result.outcome}
    assert labels["outcome"] in OUTCOMES
    assert labels["outcome"] == EXPECTED[fixture.relative_to(REPO_ROOT / "events").as_posix()]["outcome"]

    # The latency distribution: the same lines, a number of milliseconds.
    latency = METRICS["function_latency"]
    assert [e for e in entries if latency["filter"].matches(e)] == outcome_lines
    value = latency["filter"].extract(line, latency["value"])
    assert isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0

    # Drift: counted exactly when the run recorded dataset drift (the drift-runs table is the oracle).
    drift = METRICS["drift_detected"]
    assert bool(_drifted_runs(state_dir)) == ("DRIFT in" in result.detail)  # the oracle and the verdict agree
    assert len([e for e in entries if drift["filter"].matches(e)]) == _drifted_runs(state_dir)
    if _drifted_runs(state_dir):
        assert drift["filter"].extract(line, drift["labels"]["function"]) == spec.name


def test_the_replayed_fixtures_reach_drift_and_every_outcome_the_fixtures_have():
    """The test above would pass vacuously if no fixture drifted or none was rejected."""
    outcomes = {EXPECTED[p.relative_to(REPO_ROOT / "events").as_posix()]["outcome"] for p in GCP_FIXTURES}
    assert {"applied", "ignored", "rejected"} <= outcomes
    assert any("DRIFT in" in EXPECTED[p.relative_to(REPO_ROOT / "events").as_posix()]["detail"] for p in GCP_FIXTURES)


def test_a_renamed_field_stops_the_count(state_dir, written_lines):
    # GIVEN the outcome line of a real replay
    Replayer().replay_file(REPO_ROOT / "events/budget/02-actual-50.structured.json")
    (line,) = [json_line for json_line in written_lines() if json_line.get("logger") == "mlops_events.outcome"]
    resource = gcp_function_resource("budget_alert")
    outcomes = METRICS["function_outcomes"]
    assert outcomes["filter"].matches(entry_from_line(line, resource))

    # WHEN the logger is renamed, THEN nothing is counted; WHEN a label's field is renamed, THEN the label is empty
    assert not outcomes["filter"].matches(entry_from_line({**line, "logger": "mlops_events.result"}, resource))
    renamed = {("status" if key == "outcome" else key): value for key, value in line.items()}
    assert outcomes["filter"].extract(entry_from_line(renamed, resource), outcomes["labels"]["outcome"]) is None
    # AND a line from another platform's resource is not a function's
    other = {"type": "k8s_container", "labels": {}}
    assert not outcomes["filter"].matches(entry_from_line(line, other))


def test_the_drift_filter_names_exactly_the_drift_functions():
    drift_functions = {spec.name for spec in load_manifest() if spec.source == "functions/drift_report.py"}
    (clause,) = [c for c in METRICS["drift_detected"]["filter"].clauses if c.path == ("jsonPayload", "function")]
    assert set(clause.values) == drift_functions
