"""The two standard patch formats the Kubernetes API test server accepts, applied by libraries:
RFC 6902 JSON patch by `jsonpatch`, RFC 7386 JSON merge patch by `json-merge-patch`.

The server's strategic merge patch (k8s_strategic_merge.py) is a merge patch once its name-keyed lists are
resolved, so it ends here too. Both functions leave their arguments untouched and return a new document.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import json_merge_patch
import jsonpatch
from jsonpointer import JsonPointerException


class PatchRejected(Exception):
    """A patch the API server refuses: `code` 400 (not a patch of that format) or 422 (it does not apply)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


_MODELED = ("add", "replace", "remove", "test")


class _ModeledJsonPatch(jsonpatch.JsonPatch):
    """The operations the test server models; `move` and `copy` are refused (422) rather than half-tested."""

    operations = MappingProxyType({op: jsonpatch.JsonPatch.operations[op] for op in _MODELED})


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902; any failing operation fails the whole patch with 422, as the API server answers."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise PatchRejected(400, "a JSON patch must be a list of operation objects")
    patched = copy.deepcopy(doc)
    # One operation at a time, so that a failure names the operation and path (the library's errors do not
    # say which); nothing is written back unless all apply, since `patched` is a copy.
    for op in copy.deepcopy(ops):
        name, path = op.get("op"), str(op.get("path", ""))
        try:
            patch = _ModeledJsonPatch([op])
        except JsonPointerException:
            raise PatchRejected(422, f"invalid JSON pointer {path!r}") from None
        except jsonpatch.InvalidJsonPatch as exc:  # an unknown or unmodeled op, no path
            raise PatchRejected(422, f"invalid JSON patch: {exc}") from None
        try:
            patched = patch.apply(patched, in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            raise PatchRejected(422, f"testing value {path} failed") from None
        except jsonpatch.InvalidJsonPatch as exc:  # no value
            raise PatchRejected(422, f"invalid JSON patch: {exc}") from None
        except (jsonpatch.JsonPatchException, JsonPointerException):
            raise PatchRejected(422, f"{name} operation does not apply: doc is missing path: {path}") from None
    return patched


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else (lists too) replaces.

    json-merge-patch merges into its first argument and keeps the patch's values by reference: both are copied.
    """
    return json_merge_patch.merge(copy.deepcopy(doc), copy.deepcopy(patch))
