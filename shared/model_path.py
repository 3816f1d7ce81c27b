"""Where a model artifact lives: `gs://{bucket pattern}/{model}/v{N}/{path}`.

The bucket pattern (default `ml-models-{env}`) yields the environment; the object name yields the
model, the integer version and the path inside the version folder. Anything else is not a model
artifact, and the reason says why so that an `ignored` outcome explains itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_BUCKET_PATTERN = "ml-models-{env}"

# Model names follow the rules of a GCS path segment we are willing to key documents on.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# No leading zeros: `v01` and `v1` would otherwise both be version 1.
_VERSION_DIR = re.compile(r"^v(0|[1-9][0-9]{0,8})$")
# Names tools leave behind while writing: gsutil/gcloud composite parts, editors, rsync, Spark, Hadoop.
_TEMPORARY_NAME = re.compile(
    r"(^|/)(\.|_)|\.(tmp|temp|part|partial|crdownload|swp|lock)$|~$|/_temporary/|\.gstmp$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ModelLocation:
    env: str
    model: str
    version: int
    path: str  # inside the version folder, e.g. "model.safetensors" or "tokenizer/vocab.json"


@dataclass(frozen=True)
class NotAModel:
    reason: str


def bucket_env(bucket: str, pattern: str = DEFAULT_BUCKET_PATTERN) -> str | None:
    """The env a bucket name encodes under `pattern`, or None when the bucket does not match."""
    if pattern.count("{env}") != 1:
        raise ValueError(f"bucket pattern must contain {{env}} exactly once: {pattern!r}")
    prefix, suffix = pattern.split("{env}")
    regex = re.compile("^" + re.escape(prefix) + r"([a-z0-9][a-z0-9_-]*?)" + re.escape(suffix) + "$")
    match = regex.fullmatch(bucket)
    return match.group(1) if match else None


def locate_model(bucket: str, name: str, pattern: str = DEFAULT_BUCKET_PATTERN) -> ModelLocation | NotAModel:
    env = bucket_env(bucket, pattern)
    if env is None:
        return NotAModel(f"bucket {bucket!r} does not match the model bucket pattern {pattern!r}")
    if name.endswith("/"):
        return NotAModel(f"{name!r} is a folder placeholder")
    parts = name.split("/")
    if len(parts) < 3:
        return NotAModel(f"{name!r} is outside {{model}}/v{{N}}/")
    model, version_dir, rest = parts[0], parts[1], parts[2:]
    if not _MODEL_NAME.fullmatch(model):
        return NotAModel(f"{model!r} is not a valid model name")
    version = _VERSION_DIR.fullmatch(version_dir)
    if not version:
        return NotAModel(f"{version_dir!r} in {name!r} is not a version folder v{{N}}")
    if any(part == "" for part in rest):
        return NotAModel(f"{name!r} has an empty path segment")
    path = "/".join(rest)
    if _TEMPORARY_NAME.search("/" + path):
        return NotAModel(f"{path!r} is a temporary or partial upload")
    return ModelLocation(env=env, model=model, version=int(version.group(1)), path=path)
