"""Cloud Storage bucket names as GCS takes them (https://cloud.google.com/storage/docs/buckets#naming):
lowercase letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit; 3 to 63
characters, or up to 222 with dots, each dot-separated part at most 63; not an IP address in dotted
decimal; not starting with `goog` nor containing `google`.

One check for every bucket name that comes from outside: a setting, an event's `gs://` URI, a name put
into a Console URL.
"""

from __future__ import annotations

import re

_PART = re.compile(r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?")
_DOTTED_DECIMAL = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")


def is_bucket_name(name: str) -> bool:
    parts = name.split(".")
    longest = 222 if len(parts) > 1 else 63
    return (
        3 <= len(name) <= longest
        and all(_PART.fullmatch(part) for part in parts)
        and not _DOTTED_DECIMAL.fullmatch(name)
        and not name.startswith("goog")
        and "google" not in name
    )
