"""BigQuery streaming inserts (tabledata.insertAll) over REST: the registry's append, without the SDK.

google-cloud-bigquery's import is ~90 ms of a function's cold start (shared/adapters/google_rest.py), and
an append is one request. `api` is BigQuery's v2 root (https://bigquery.googleapis.com/bigquery/v2/, or
bqemulator's).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shared.adapters.google_rest import GoogleApi


class StreamingInserts:
    def __init__(self, api: GoogleApi) -> None:
        self._api = api

    def insert(self, table_id: str, rows: list[dict[str, Any]], row_ids: list[str]) -> list[dict[str, Any]]:
        """Rows as JSON, each with its insertId (BigQuery drops a repeat within about a minute); returns
        BigQuery's `insertErrors`, empty when every row was taken."""
        # rsplit: a project id may be domain-scoped (example.com:project), dots and all
        project, dataset, table = (quote(part, safe="") for part in table_id.rsplit(".", 2))
        body = {"rows": [{"insertId": row_id, "json": row} for row, row_id in zip(rows, row_ids, strict=True)]}
        path = f"projects/{project}/datasets/{dataset}/tables/{table}/insertAll"
        # idempotent: a repeat carries the same insertIds, and the registry's views count an event once
        answer = self._api.call("POST", path, body=body, idempotent=True)
        return list(answer.get("insertErrors") or [])
