"""Firestore over its REST API: the documents, conditional writes, batches and equality queries our
adapters use, with the SDK's names (collection, document, create, update, batch, write_option, ...) so an
adapter reads as it would with google-cloud-firestore.

Why not the SDK: its import alone is ~170 ms of a function's cold start (see shared/adapters/google_rest.py).
Values are Firestore's typed JSON: int is `integerValue`, float `doubleValue`, datetime `timestampValue`
(naive read as UTC, read back as an aware UTC datetime), dict `mapValue`, list `arrayValue`, bytes
`bytesValue`. `update_time` is kept as the server wrote it (nanoseconds), to send back in a precondition.
"""

from __future__ import annotations

import base64
import itertools
import math
import re
import secrets
import string
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from shared.adapters.google_rest import (  # noqa: F401  # re-exported: adapters catch these by this module
    AlreadyExists,
    FailedPrecondition,
    GoogleApi,
    NotFound,
    parse_rfc3339,
)
from shared.errors import ConfigError, TransientError

_INT64 = 2**63
_SIMPLE_FIELD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_OPS = {"==": "EQUAL", "<": "LESS_THAN", "<=": "LESS_THAN_OR_EQUAL", ">": "GREATER_THAN", ">=": "GREATER_THAN_OR_EQUAL"}
_AUTO_ID = string.ascii_letters + string.digits


# -- values ----------------------------------------------------------------------------------------
def encode_value(value: Any) -> dict[str, Any]:
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"{value} does not fit Firestore's 64-bit integers")
        return {"integerValue": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"doubleValue": "NaN"}
        if math.isinf(value):
            return {"doubleValue": "Infinity" if value > 0 else "-Infinity"}
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # isoformat, not strftime: %Y does not pad years before 1000 to the four digits RFC 3339 wants
        return {"timestampValue": moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"}
    if isinstance(value, dict):
        return {"mapValue": {"fields": encode_fields(value)}}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [encode_value(v) for v in value]}}
    raise TypeError(f"Firestore cannot store a {type(value).__name__}")


def encode_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {_key(k): encode_value(v) for k, v in data.items()}


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"Firestore field names are strings, not {type(key).__name__}")
    return key


def decode_value(value: dict[str, Any]) -> Any:
    [(kind, inner)] = value.items()
    if kind == "nullValue":
        return None
    if kind == "booleanValue":
        return bool(inner)
    if kind == "integerValue":
        return int(inner)
    if kind == "doubleValue":
        return float(inner)  # float() reads "NaN" and "Infinity" too
    if kind in ("stringValue", "referenceValue"):
        return inner
    if kind == "bytesValue":
        return base64.b64decode(inner)
    if kind == "timestampValue":
        return parse_rfc3339(inner)
    if kind == "mapValue":
        return decode_fields(inner.get("fields") or {})
    if kind == "arrayValue":
        return [decode_value(v) for v in inner.get("values") or []]
    if kind == "geoPointValue":
        return {"latitude": inner.get("latitude", 0.0), "longitude": inner.get("longitude", 0.0)}
    raise ValueError(f"unknown Firestore value type {kind}")


def decode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: decode_value(v) for k, v in fields.items()}


# -- field paths -----------------------------------------------------------------------------------
def quote_segment(segment: str) -> str:
    """A field name as a field path segment: backticks around anything but a plain identifier."""
    if _SIMPLE_FIELD.fullmatch(segment):
        return segment
    return "`" + segment.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _leaf_paths(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """What `set(..., merge=True)` writes: every leaf, so sibling fields of a nested map are kept."""
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from _leaf_paths(value, (*prefix, key))
        else:
            yield (*prefix, key)


def split_field_path(path: str) -> list[str]:
    """A field path as the SDK reads one: segments split on dots, a segment in backticks taken literally
    (with \\` and \\\\ escapes), so `m.`x.y`` names the key "x.y" of map m."""
    segments: list[str] = []
    current, quoted, i = "", False, 0
    while i < len(path):
        char = path[i]
        if quoted and char == "\\" and i + 1 < len(path):
            current, i = current + path[i + 1], i + 2
            continue
        if char == "`":
            quoted = not quoted
        elif char == "." and not quoted:
            segments.append(current)
            current = ""
        else:
            current += char
        i += 1
    segments.append(current)
    if quoted or not all(segments):
        raise ValueError(f"not a field path: {path!r}")
    return segments


def _joined(segments: Iterable[str]) -> str:
    """Field names as one field path the API reads: every segment that is no plain identifier in backticks."""
    return ".".join(map(quote_segment, segments))


def _api_path(path: str) -> str:
    """A field path as a caller writes it, as the API wants it."""
    return _joined(split_field_path(path))


def _nest(updates: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`update`'s field paths ({"a.b": 1}) as nested fields and the mask naming them."""
    if not updates:
        raise ValueError("an update names at least one field")
    paths = {path: tuple(split_field_path(path)) for path in updates}
    ordered = sorted(paths.values())
    for shorter, longer in itertools.pairwise(ordered):  # a prefix sorts right before its extensions
        if longer[: len(shorter)] == shorter:
            raise ValueError(f"field path {'.'.join(longer)!r} lies inside {'.'.join(shorter)!r}, named too")
    nested: dict[str, Any] = {}
    mask = []
    for path, value in updates.items():
        segments = paths[path]
        node = nested
        for segment in segments[:-1]:
            node = node.setdefault(segment, {})
        node[segments[-1]] = value
        mask.append(_joined(segments))
    return nested, mask


# -- documents -------------------------------------------------------------------------------------
def _url_path(name: str) -> str:
    """A resource name in a URL: every id escaped (`?`, `#`, `%`, spaces, non-ASCII), the slashes kept."""
    return quote(name, safe="/()")


class DocumentSnapshot:
    def __init__(self, reference: DocumentReference, document: dict[str, Any] | None) -> None:
        self.reference = reference
        self.exists = document is not None
        self._data = decode_fields(document.get("fields") or {}) if document is not None else None
        self.update_time: str | None = document.get("updateTime") if document is not None else None

    @property
    def id(self) -> str:
        return self.reference.id

    def to_dict(self) -> dict[str, Any] | None:
        return None if self._data is None else dict(self._data)

    def get(self, field_path: str) -> Any:
        """A field by dotted path; KeyError when absent, as the SDK raises."""
        node: Any = self._data or {}
        for segment in split_field_path(field_path):
            if not isinstance(node, dict) or segment not in node:
                raise KeyError(field_path)
            node = node[segment]
        return node


class DocumentReference:
    def __init__(self, client: FirestoreRest, path: str) -> None:
        self._client = client
        self.path = path

    @property
    def id(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def name(self) -> str:
        return f"{self._client.documents_root}/{self.path}"

    def collection(self, collection_id: str) -> CollectionReference:
        return CollectionReference(self._client, f"{self.path}/{collection_id}")

    def get(self) -> DocumentSnapshot:
        """One document by :batchGet, its name in the body: ids travel as written, where a URL path may not
        keep them (the emulator drops a trailing space of `a%20`)."""
        root = self._client.documents_root
        try:
            answer = self._client.api.call(
                "POST", f"{_url_path(root)}:batchGet", body={"documents": [self.name]}, idempotent=True
            )
        except NotFound as exc:
            if exc.message.startswith("The database") and "does not exist" in exc.message:
                # A wrong project or database id: a configuration error, not a document nobody wrote yet
                raise ConfigError(f"Firestore: {exc}") from exc
            raise
        for item in answer if isinstance(answer, list) else []:
            if "error" in item:
                raise TransientError(f"read {self.path}: {item['error']}")
            if "found" in item:
                return DocumentSnapshot(self, item["found"])
            if "missing" in item:
                return DocumentSnapshot(self, None)
        raise TransientError(f"read {self.path}: the answer names neither the document nor its absence")

    def create(self, data: dict[str, Any]) -> None:
        batch = self._client.batch()
        batch.create(self, data)
        batch.commit()

    def set(self, data: dict[str, Any], merge: bool = False) -> None:
        batch = self._client.batch()
        batch.set(self, data, merge=merge)
        batch.commit()

    def update(self, updates: dict[str, Any], option: dict[str, Any] | None = None) -> None:
        batch = self._client.batch()
        batch.update(self, updates, option=option)
        batch.commit()

    def delete(self, option: dict[str, Any] | None = None) -> None:
        batch = self._client.batch()
        batch.delete(self, option=option)
        batch.commit()


class Query:
    def __init__(self, client: FirestoreRest, parent: str, collection_id: str, query: dict[str, Any]) -> None:
        self._client = client
        self._parent = parent  # a document path, or "" for a root collection
        self._collection_id = collection_id
        self._query = query

    def _with(self, **changes: Any) -> Query:
        return Query(self._client, self._parent, self._collection_id, {**self._query, **changes})

    def where(self, field_path: str, op: str, value: Any) -> Query:
        field = {"fieldPath": _api_path(field_path)}
        condition: dict[str, Any]
        if op == "==" and (value is None or (isinstance(value, float) and math.isnan(value))):
            # Firestore refuses EQUAL on null and NaN: the SDK sends these unary filters instead
            condition = {"unaryFilter": {"field": field, "op": "IS_NULL" if value is None else "IS_NAN"}}
        else:
            condition = {"fieldFilter": {"field": field, "op": _OPS[op], "value": encode_value(value)}}
        before = self._query.get("where")
        if before is None:
            return self._with(where=condition)
        conditions = before["compositeFilter"]["filters"] if "compositeFilter" in before else [before]
        return self._with(where={"compositeFilter": {"op": "AND", "filters": [*conditions, condition]}})

    def select(self, field_paths: list[str]) -> Query:
        return self._with(select={"fields": [{"fieldPath": _api_path(p)} for p in field_paths]})

    def limit(self, count: int) -> Query:
        return self._with(limit=count)

    def stream(self) -> Iterator[DocumentSnapshot]:
        parent = self._client.documents_root + (f"/{self._parent}" if self._parent else "")
        structured = {"from": [{"collectionId": self._collection_id}], **self._query}
        answer = self._client.api.call(
            "POST", f"{_url_path(parent)}:runQuery", body={"structuredQuery": structured}, idempotent=True
        )
        if not isinstance(answer, list):
            raise TransientError(f"runQuery on {self._collection_id}: the answer is no list of results")
        for item in answer:
            if "error" in item:  # the stream failed part way: the results before it are not all there are
                raise TransientError(f"runQuery on {self._collection_id} failed part way: {item['error']}")
            document = item.get("document")
            if document is not None:
                path = document["name"][len(self._client.documents_root) + 1 :]
                yield DocumentSnapshot(DocumentReference(self._client, path), document)

    def get(self) -> list[DocumentSnapshot]:
        return list(self.stream())


class CollectionReference(Query):
    def __init__(self, client: FirestoreRest, path: str) -> None:
        parent, _, collection_id = path.rpartition("/")
        super().__init__(client, parent, collection_id, {})
        self.path = path

    @property
    def id(self) -> str:
        return self._collection_id

    def document(self, document_id: str | None = None) -> DocumentReference:
        if document_id is None:  # an automatic id, as the SDK makes them: 20 letters and digits
            document_id = "".join(secrets.choice(_AUTO_ID) for _ in range(20))
        if not document_id or "/" in document_id:
            raise ValueError(f"not a document id: {document_id!r}")
        return DocumentReference(self._client, f"{self.path}/{document_id}")

    def list_documents(self) -> Iterator[DocumentReference]:
        """Every document id, those that only hold subcollections too (showMissing), as the SDK lists them."""
        url = _url_path(f"{self._client.documents_root}/{self.path}")
        params = {"showMissing": "true", "mask.fieldPaths": "__name__", "pageSize": 300}
        for page in self._client.api.pages(url, params):
            for document in page.get("documents") or []:
                yield self.document(document["name"].rsplit("/", 1)[-1])


class WriteBatch:
    """Writes committed together: all or none, each with its own precondition."""

    def __init__(self, client: FirestoreRest) -> None:
        self._client = client
        self._writes: list[dict[str, Any]] = []

    def create(self, reference: DocumentReference, data: dict[str, Any]) -> None:
        self._writes.append(
            {"update": {"name": reference.name, "fields": encode_fields(data)}, "currentDocument": {"exists": False}}
        )

    def set(self, reference: DocumentReference, data: dict[str, Any], merge: bool = False) -> None:
        write: dict[str, Any] = {"update": {"name": reference.name, "fields": encode_fields(data)}}
        if merge:
            write["updateMask"] = {"fieldPaths": [_joined(p) for p in _leaf_paths(data)]}
        self._writes.append(write)

    def update(
        self, reference: DocumentReference, updates: dict[str, Any], option: dict[str, Any] | None = None
    ) -> None:
        """Field paths (dotted) to values; the document must exist, and match `option` when given."""
        nested, mask = _nest(updates)
        self._writes.append(
            {
                "update": {"name": reference.name, "fields": encode_fields(nested)},
                "updateMask": {"fieldPaths": mask},
                "currentDocument": option or {"exists": True},
            }
        )

    def delete(self, reference: DocumentReference, option: dict[str, Any] | None = None) -> None:
        self._writes.append({"delete": reference.name, **({"currentDocument": option} if option else {})})

    def commit(self) -> None:
        if self._writes:
            self._client.api.call("POST", f"{self._client.documents_root}:commit", body={"writes": self._writes})
        self._writes = []


class FirestoreRest:
    """The client: `api` is Firestore's v1 endpoint (firestore.googleapis.com/v1/, or the emulator's)."""

    def __init__(self, api: GoogleApi, project: str, database: str = "(default)") -> None:
        self.api = api
        self.project = project
        self.documents_root = f"projects/{project}/databases/{database}/documents"

    def collection(self, collection_id: str) -> CollectionReference:
        if not collection_id or "/" in collection_id:
            raise ValueError(f"not a collection id: {collection_id!r}")
        return CollectionReference(self, collection_id)

    def batch(self) -> WriteBatch:
        return WriteBatch(self)

    @staticmethod
    def write_option(*, last_update_time: str | None) -> dict[str, Any]:
        """A precondition: the document is as it was when read (its update time), as the SDK's option says."""
        if last_update_time is None:
            raise ValueError("last_update_time is the update_time of a snapshot that exists")
        return {"updateTime": last_update_time}
