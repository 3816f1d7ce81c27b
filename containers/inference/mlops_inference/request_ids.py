"""Request ids that say who issued them: /feedback takes only ids this service handed out.

An id carries the model version that answered and how many rows the request had, signed with HMAC-SHA256
under the service's key (INFERENCE_REQUEST_ID_KEY) over the model and env as well. Nothing is kept per
request, so an id is good on every instance that shares the key, after a restart and for as long as the
key lives; a feedback entry for an id nobody issued, a row the request did not have or another version
is refused before it is stored (a single forged entry once took the reported accuracy to 0.0).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass

# 16 hex nonce, version, rows, 32 hex signature: `3f9a0c1d2e4b5a69-2-10-5d0c...`
PATTERN = r"^[0-9a-f]{16}-(0|[1-9][0-9]{0,18})-[1-9][0-9]{0,8}-[0-9a-f]{32}$"  # v0 is a version too
MAX_CHARS = 16 + 1 + 19 + 1 + 9 + 1 + 32
_FORM = re.compile(PATTERN[1:-1])  # fullmatch: Python's $ would also match before a final newline


@dataclass(frozen=True)
class Issued:
    version: int
    rows: int


class RequestIds:
    def __init__(self, model: str, env: str, key: bytes | None = None) -> None:
        self._key = key or os.urandom(32)
        self._scope = f"{model}\n{env}\n"

    def _sign(self, nonce: str, version: int, rows: int) -> str:
        message = f"{self._scope}{nonce}\n{version}\n{rows}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def issue(self, version: int, rows: int) -> str:
        nonce = secrets.token_hex(8)
        return f"{nonce}-{version}-{rows}-{self._sign(nonce, version, rows)}"

    def check(self, request_id: str) -> Issued | None:
        """What the id was issued for, or None when this service (this key, model and env) did not issue it."""
        if not _FORM.fullmatch(request_id):
            return None
        nonce, version, rows, signature = request_id.split("-")
        if not hmac.compare_digest(signature, self._sign(nonce, int(version), int(rows))):
            return None
        return Issued(int(version), int(rows))
