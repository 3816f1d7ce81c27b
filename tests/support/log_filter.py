"""An exact evaluator for the subset of the Cloud Logging query language our log-based metrics use.

The subset (anything else is refused with `UnsupportedFilter`, so a filter the evaluator would have to
guess at cannot pass the tests by accident):

    query   := clause ( " AND " clause )*            AND in capitals, one space either side
    clause  := path "=" value | path "=~" string
    path    := name ( "." name )*                     jsonPayload.x, resource.type, resource.labels.x
    value   := string | "(" string ( " OR " string )* ")"
    string  := '"' ( any character but " and \\ | \\" | \\\\ )* '"'

`path = "v"` matches an entry whose field at `path` is the string v, exactly (case-sensitive);
`path = ("a" OR "b")` one of them; `path =~ "re"` a string field the regular expression finds a
match in (unanchored, as RE2's search), with the regular expression limited to the characters whose
meaning RE2 and Python's `re` share. A missing field matches nothing. A field holding a number, a
boolean, null, a list or an object under `=` or `=~` is refused: Logging's conversions for those are
not part of the subset. Not in it: OR or NOT between clauses, `:` (has), `!=`, `<`, `>`, bare
words (global search), `-`, parentheses around clauses, functions (`SEARCH`, `sample`), lowercase
`and`/`or`, implicit AND, Terraform interpolation.

`entry_from_line` turns one JSON line a function wrote to stdout into the LogEntry Cloud Logging
makes of it on the function's platform (gen2 functions are Cloud Run revisions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = re.compile(rf"{_NAME}(?:\.{_NAME})*")
_STRING = re.compile(r'"((?:[^"\\]|\\["\\])*)"')
# Characters whose regular-expression meaning RE2 and Python agree on (no escapes, no braces, no groups'
# extensions such as (?i) or lookarounds).
_REGEX_CHARS = re.compile(r"[A-Za-z0-9 _:;,.\-^$*+?\[\]()|]*")
# What Cloud Logging takes out of a structured stdout line instead of leaving in jsonPayload.
_SPECIAL_KEYS = ("severity", "time", "timestamp", "timestampSeconds", "timestampNanos", "httpRequest")
_SPECIAL_PREFIX = "logging.googleapis.com/"


class UnsupportedFilter(ValueError):
    """The filter, or an entry it meets, is outside the subset this evaluator decides exactly."""


@dataclass(frozen=True)
class Clause:
    path: tuple[str, ...]
    op: str  # "=" | "=~"
    values: tuple[str, ...]  # one, or the alternatives of ("a" OR "b")

    def matches(self, entry: dict[str, Any]) -> bool:
        value: Any = entry
        for name in self.path:
            if not isinstance(value, dict) or name not in value:
                return False
            value = value[name]
        if not isinstance(value, str):
            raise UnsupportedFilter(
                f"{'.'.join(self.path)} holds {type(value).__name__} {value!r}: only string fields are compared"
            )
        if self.op == "=":
            return value in self.values
        return re.search(self.values[0], value) is not None


@dataclass(frozen=True)
class LogFilter:
    source: str
    clauses: tuple[Clause, ...]

    def matches(self, entry: dict[str, Any]) -> bool:
        # Every clause is evaluated (no short cut), so an entry outside the subset is refused whatever
        # the clauses before it said.
        results = [clause.matches(entry) for clause in self.clauses]
        return all(results)

    def extract(self, entry: dict[str, Any], expression: str) -> Any:
        """A label or value extractor: EXTRACT(path) only."""
        found = re.fullmatch(rf"EXTRACT\(({_PATH.pattern})\)", expression)
        if not found:
            raise UnsupportedFilter(f"extractor {expression!r}: only EXTRACT(field.path)")
        value: Any = entry
        for name in found.group(1).split("."):
            if not isinstance(value, dict) or name not in value:
                return None
            value = value[name]
        return value


def parse(source: str) -> LogFilter:
    if "${" in source:
        raise UnsupportedFilter("Terraform interpolation: filters are literal strings")
    clauses: list[Clause] = []
    position = 0
    while True:
        clause, position = _clause(source, position)
        clauses.append(clause)
        if position == len(source):
            return LogFilter(source, tuple(clauses))
        if not source.startswith(" AND ", position):
            raise UnsupportedFilter(f"expected ' AND ' at {position}: {source[position : position + 20]!r}")
        position += len(" AND ")


def _clause(source: str, position: int) -> tuple[Clause, int]:
    path = _PATH.match(source, position)
    if not path:
        raise UnsupportedFilter(f"expected a field path at {position}: {source[position : position + 20]!r}")
    names = tuple(path.group(0).split("."))
    if names[0] in {"AND", "OR", "NOT"}:
        raise UnsupportedFilter(f"{names[0]} where a field path belongs")
    position = path.end()
    if source.startswith("=~", position):
        position += 2
        string = _STRING.match(source, position)
        if not string:
            raise UnsupportedFilter(f"=~ needs a quoted regular expression at {position}")
        pattern = _unescape(string.group(1))
        if not _REGEX_CHARS.fullmatch(pattern) or "(?" in pattern:
            raise UnsupportedFilter(f"regular expression {pattern!r} uses syntax outside the subset")
        re.compile(pattern)
        return Clause(names, "=~", (pattern,)), string.end()
    if not source.startswith("=", position) or source.startswith("==", position):
        raise UnsupportedFilter(f"operator at {position} is not = or =~: {source[position : position + 10]!r}")
    position += 1
    string = _STRING.match(source, position)
    if string:
        return Clause(names, "=", (_unescape(string.group(1)),)), string.end()
    if not source.startswith("(", position):
        raise UnsupportedFilter(f'expected a quoted string or ("a" OR "b") at {position}')
    position += 1
    values = []
    while True:
        string = _STRING.match(source, position)
        if not string:
            raise UnsupportedFilter(f"expected a quoted string at {position}")
        values.append(_unescape(string.group(1)))
        position = string.end()
        if source.startswith(")", position):
            return Clause(names, "=", tuple(values)), position + 1
        if not source.startswith(" OR ", position):
            raise UnsupportedFilter(f"expected ' OR ' or ')' at {position}")
        position += len(" OR ")


def _unescape(text: str) -> str:
    return re.sub(r"\\([\"\\])", r"\1", text)


def entry_from_line(line: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """The LogEntry of one structured stdout line: the special fields taken out, the rest jsonPayload."""
    payload = {
        key: value for key, value in line.items() if key not in _SPECIAL_KEYS and not key.startswith(_SPECIAL_PREFIX)
    }
    entry: dict[str, Any] = {"resource": resource, "jsonPayload": payload}
    if "severity" in line:
        entry["severity"] = line["severity"]
    return entry


def gcp_function_resource(function: str, project: str = "mlops-events-test-000000") -> dict[str, Any]:
    """Where a gen2 function's lines land: its Cloud Run service, named as terraform/modules/gcp-function names it."""
    service = function.replace("_", "-")
    return {
        "type": "cloud_run_revision",
        "labels": {
            "project_id": project,
            "service_name": service,
            "revision_name": f"{service}-00001-abc",
            "configuration_name": service,
            "location": "europe-west1",
        },
    }


def hcl_string(value: Any) -> str:
    """A python-hcl2 string literal ('"a \\"b\\""') as its text (a \\"b\\" -> a "b")."""
    text = str(value)
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise UnsupportedFilter(f"not a string literal: {text[:60]!r}")
    return _unescape(text[1:-1])
