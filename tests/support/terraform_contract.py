"""The Terraform contract: what terraform/ must declare for the manifest, the code's settings and its schemas.

`violations(repo_root, manifest=..., tf_root=...)` parses every .tf file with python-hcl2 and returns one
message per broken promise (empty: the wiring holds). The functional test runs it on the repository and
on altered copies, so a check that never fires is noticed.

python-hcl2 8 gives block labels and string literals with their quotes ('"x"') and expressions as
"${...}" strings; `text` strips either wrapping so checks compare plain text.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import yaml

MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
GCP_MODULE = "gcp-function"
AWS_MODULE = "aws-ecr-rollout"
# Which composition module calls which per-function module (GCP and AWS are separate roots and states).
COMPOSITION = {GCP_MODULE: "platform", AWS_MODULE: "aws-platform"}
# One root per side serves every environment; an environment is a values file and a backend file per
# side in environments/ (<env>.<side>.tfvars, <env>.<side>.tfbackend), its state under this prefix.
ENVIRONMENT_SIDES = {"gcp": "mlops-events/{env}", "aws": "mlops-events/{env}/aws"}


def text(value: Any) -> str:
    """A parsed HCL value as plain text: '"x"' -> x, '${expr}' -> expr."""
    s = str(value)
    if len(s) >= 2 and s[0] == s[-1] == '"':
        s = s[1:-1]
    if s.startswith("${") and s.endswith("}") and s.count("${") == 1:
        s = s[2:-1]
    return s


def label(key: str) -> str:
    return key.strip('"')


@dataclass
class Block:
    kind: str  # resource | data | module | variable | output | provider
    type: str  # resource or data type ('' for the others)
    name: str
    body: dict[str, Any]
    file: Path

    def get(self, attribute: str) -> str:
        return text(self.body.get(attribute, ""))

    @property
    def module_dir(self) -> Path:
        return self.file.parent


@dataclass
class Terraform:
    root: Path
    blocks: list[Block] = field(default_factory=list)
    locals: dict[Path, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse(cls, root: Path) -> Terraform:
        tf = cls(root)
        for path in sorted(root.rglob("*.tf")):
            if ".terraform" in path.parts:
                continue
            with path.open() as handle:
                doc = hcl2.load(handle)
            for kind in ("resource", "data"):
                for entry in doc.get(kind, []):
                    for rtype, named in entry.items():
                        for name, body in named.items():
                            tf.blocks.append(Block(kind, label(rtype), label(name), body, path))
            for entry in doc.get("provider", []):
                for name, body in entry.items():
                    tf.blocks.append(Block("provider", label(name), label(name), body, path))
            for kind in ("module", "variable", "output"):
                for entry in doc.get(kind, []):
                    for name, body in entry.items():
                        tf.blocks.append(Block(kind, "", label(name), body, path))
            for entry in doc.get("locals", []):
                tf.locals.setdefault(path.parent, {}).update(entry)
        return tf

    def of(self, kind: str, rtype: str = "", module: str | None = None) -> list[Block]:
        return [
            b
            for b in self.blocks
            if b.kind == kind and (not rtype or b.type == rtype) and (module is None or b.module_dir.name == module)
        ]

    def variable_default(self, module: str, name: str) -> Any:
        for b in self.of("variable", module=module):
            if b.name == name:
                return text(b.body.get("default", ""))
        return None

    def modules_dir(self) -> Path:
        return self.root / "modules"


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key, inner
            yield from _walk(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def _config_defaults(repo: Path) -> dict[str, str]:
    """Settings' string defaults, read from shared/config.py's source (no import: a test of text)."""
    tree = ast.parse((repo / "shared" / "config.py").read_text())
    defaults = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            for item in node.body:
                if (
                    isinstance(item, ast.AnnAssign)
                    and isinstance(item.value, ast.Constant)
                    and isinstance(item.value.value, str)
                ):
                    defaults[item.target.id] = item.value.value  # type: ignore[union-attr]
    return defaults


def _env_pattern(value: str, env: str | None) -> str:
    return value.replace(f"-{env}", "-{env}") if env else value


# -- the checks ----------------------------------------------------------------------------------------


def violations(repo: Path, manifest: dict[str, Any] | None = None, tf_root: Path | None = None) -> list[str]:
    manifest = manifest if manifest is not None else yaml.safe_load((repo / "functions" / "manifest.yaml").read_text())
    tf = Terraform.parse(tf_root or repo / "terraform")
    functions = manifest.get("functions", [])
    out: list[str] = []
    out += _module_layout(tf)
    out += _deployments(tf, functions)
    out += _trigger_kinds(tf, functions)
    out += _function_attributes(tf)
    out += _retry_semantics(functions)
    out += _access(tf, functions)
    out += _buckets(tf, repo, functions)
    out += _tables(tf, repo)
    out += _firestore(tf, repo)
    out += _topics_and_secrets(tf, functions)
    out += _aws_names(tf, functions)
    out += _no_public_invokers(tf)
    out += _no_secret_values(tf)
    out += _plan_time_traps(tf)
    out += _provider_settings(tf)
    out += _environments(tf, repo)
    out += _bootstrap_outputs(tf, repo)
    return out


def _module_layout(tf: Terraform) -> list[str]:
    out = []
    for module in sorted(p for p in tf.modules_dir().iterdir() if p.is_dir()):
        missing = [f for f in MODULE_FILES if not (module / f).is_file()]
        if missing:
            out.append(f"module {module.name} lacks {', '.join(missing)}")
    for b in tf.of("variable"):
        where = f"{b.module_dir.relative_to(tf.root)}"
        for attribute in ("type", "description"):
            if not b.get(attribute):
                out.append(f"variable {b.name} in {where} has no {attribute}")
    return out


def _platform_filter(tf: Terraform, module_source: str) -> tuple[Block | None, str | None]:
    """The module call of `module_source` and the manifest platform its for_each selects.

    The entries come from local.manifest.functions (yamldecode(file(...))), directly or through
    local.functions, the manifest's entries less var.disabled_functions."""
    composition = COMPOSITION[module_source]
    calls = [b for b in tf.of("module", module=composition) if b.get("source") == f"../{module_source}"]
    if len(calls) != 1:
        return None, None
    call = calls[0]
    match = re.fullmatch(r"local\.(\w+)", call.get("for_each"))
    locals_ = tf.locals.get(call.module_dir, {})
    expression = text(locals_.get(match.group(1), "")) if match else ""
    selected = re.fullmatch(
        r'\{for (\w+) in local\.(manifest\.functions|functions) : \1\.name => \1 if \1\.platform == "([\w-]+)"\}',
        expression,
    )
    manifest_local = text(locals_.get("manifest", ""))
    if not manifest_local.startswith("yamldecode(file(") or not selected:
        return call, None
    if selected.group(2) == "functions" and not re.fullmatch(
        r"\[for (\w+) in local\.manifest\.functions : \1 if !contains\(var\.disabled_functions, \1\.name\)\]",
        text(locals_.get("functions", "")),
    ):
        return call, None
    return call, selected.group(3)


def _deployments(tf: Terraform, functions: list[dict[str, Any]]) -> list[str]:
    out = []
    platforms = {f["platform"] for f in functions}
    for unknown in sorted(platforms - {"gcp-function", "aws-lambda"}):
        out.append(f"manifest platform {unknown!r} has no Terraform module")
    for module_source, platform, rtype in (
        (GCP_MODULE, "gcp-function", "google_cloudfunctions2_function"),
        (AWS_MODULE, "aws-lambda", "aws_lambda_function"),
    ):
        call, selected = _platform_filter(tf, module_source)
        if call is None:
            out.append(f"{COMPOSITION[module_source]} module calls ../{module_source} not exactly once")
        elif selected != platform:
            out.append(
                f"module {call.name} is not for_each over the manifest's {platform} entries (yamldecode(file(...)))"
            )
        declared = tf.of("resource", rtype)
        stray = [f"{b.file.relative_to(tf.root)}" for b in declared if b.module_dir.name != module_source]
        if stray:
            out.append(f"{rtype} declared outside modules/{module_source}: {stray}")
        if (tf.modules_dir() / module_source).is_dir() and len(declared) != 1 and platform in platforms:
            out.append(f"modules/{module_source} should declare exactly one {rtype}, found {len(declared)}")
    return out


def _handled_kinds(tf: Terraform) -> set[str]:
    kinds: set[str] = set()
    for b in tf.of("variable", module=GCP_MODULE):
        if b.name == "trigger":
            for rule in b.body.get("validation", []):
                match = re.match(r"contains\(\[([^\]]*)\], var\.trigger\.kind\)$", text(rule.get("condition", "")))
                if match:
                    kinds |= {k.strip().strip('"') for k in match.group(1).split(",")}
    return kinds


def _trigger_kinds(tf: Terraform, functions: list[dict[str, Any]]) -> list[str]:
    gcp_kinds = _handled_kinds(tf)
    out = []
    for f in functions:
        kind = (f.get("trigger") or {}).get("kind")
        handled = gcp_kinds if f["platform"] == "gcp-function" else {"eventbridge"}
        if kind not in handled:
            out.append(f"{f['name']}: trigger kind {kind!r} is not one the {f['platform']} module handles")
    return out


# Which module argument carries which manifest field.
FUNCTION_ARGUMENTS = {
    "entry_point": ["each.value.entry_point"],
    "secrets": ["each.value.secrets"],
    "env_vars": ["each.value.env"],
    "timeout_s": ["each.value.timeout_s"],
    "trigger": [
        "each.value.trigger.kind",
        "each.value.trigger.event_types",
        "each.value.trigger.filters",
        "each.value.trigger.topic",
    ],
    "retry": [
        "each.value.retry.policy",
        "each.value.retry.max_attempts",
        "each.value.retry.min_backoff_s",
        "each.value.retry.max_backoff_s",
        "each.value.retry.dead_letter_topic",
    ],
}
SCHEDULE_ARGUMENTS = {
    "schedule": ["each.value.trigger.schedule"],
    "time_zone": ["each.value.trigger.time_zone"],
    "pubsub_target": ["each.value.trigger.topic", "each.value.trigger.payload", "each.value.trigger.attributes"],
}
# And how the gcp-function module uses them.
FUNCTION_MODULE_USES = {
    "google_cloudfunctions2_function": [
        "var.entry_point",
        "var.trigger.event_types",
        "var.trigger.filters",
        "var.retry.policy",
        "local.environment",
    ],
    "google_pubsub_subscription": ["var.trigger.topic", "local.max_delivery_attempts", "local.min_backoff_s"],
    "google_eventarc_trigger": ["var.trigger.event_types", "var.trigger.filters"],
    "google_secret_manager_secret_iam_member": ["var.secrets"],
}


def _function_attributes(tf: Terraform) -> list[str]:
    out = []
    calls = {b.name: b for b in tf.of("module", module="platform")}
    for call_name, wanted in (("function", FUNCTION_ARGUMENTS), ("schedule", SCHEDULE_ARGUMENTS)):
        call = calls.get(call_name)
        if call is None:
            out.append(f"platform has no module {call_name!r}")
            continue
        for argument, references in wanted.items():
            value = " ".join(_strings(call.body.get(argument, "")))
            for reference in references:
                if reference not in value:
                    out.append(f"module {call_name}: {argument} does not take {reference} from the manifest entry")
    for rtype, references in FUNCTION_MODULE_USES.items():
        blocks = tf.of("resource", rtype, module=GCP_MODULE)
        body = " ".join(s for b in blocks for s in _strings(b.body))
        for reference in references:
            if reference not in body:
                out.append(f"modules/{GCP_MODULE}: {rtype} does not use {reference}")
    return out


def _retry_semantics(functions: list[dict[str, Any]]) -> list[str]:
    """A dead-letter topic on an Eventarc GCS trigger would be a promise nothing keeps."""
    out = []
    by_name = {f["name"]: f for f in functions}
    for f in functions:
        kind, retry = f["trigger"].get("kind"), f.get("retry") or {}
        if kind == "eventarc":
            if retry.get("dead_letter_topic"):
                out.append(f"{f['name']}: Eventarc GCS triggers have no dead-letter topic, yet the manifest names one")
            healer = by_name.get(retry.get("reconciled_by") or "")
            if healer is None or healer["trigger"].get("kind") != "schedule":
                out.append(f"{f['name']}: reconciled_by must name a scheduled function (events Eventarc drops)")
        if kind in {"pubsub", "schedule"} and not retry.get("dead_letter_topic"):
            out.append(f"{f['name']}: a push subscription needs a dead_letter_topic")
    return out


def _access(tf: Terraform, functions: list[dict[str, Any]]) -> list[str]:
    access = tf.locals.get(tf.modules_dir() / "platform", {}).get("function_access", {})
    out = []
    for f in functions:
        if f["platform"] == "gcp-function" and f["name"] not in access:
            out.append(
                f"{f['name']}: no least-privilege entry in platform function_access (its SA gets no data access)"
            )
    return out


def _bucket_patterns(tf: Terraform) -> set[str]:
    """The code's patterns the storage module deploys (each name then prefixed with var.name_prefix)."""
    storage = tf.modules_dir() / "storage"
    storage_locals = tf.locals.get(storage, {})
    patterns = set()
    for value in (storage_locals.get("patterns") or {}).values():
        match = re.fullmatch(r"var\.(\w+)", text(value))
        if match:
            patterns.add(tf.variable_default("storage", match.group(1)))
    buckets = text(storage_locals.get("buckets", ""))
    if 'replace("${var.name_prefix}${pattern}", "{env}", var.env)' not in buckets.replace("\\", ""):
        return set()
    if not tf.of("resource", "google_storage_bucket", module="storage"):
        return set()
    return patterns


def _buckets(tf: Terraform, repo: Path, functions: list[dict[str, Any]]) -> list[str]:
    config = _config_defaults(repo)
    used = {
        config["bucket_pattern"]: "shared/config.py bucket_pattern",
        config["drift_logs_bucket"]: "shared/config.py drift_logs_bucket",
    }
    for f in functions:
        if f["platform"] != "gcp-function":
            continue
        for key, value in (f.get("env") or {}).items():
            if "BUCKET" in key:
                used[str(value)] = f"{f['name']} env {key}"
        trigger = f["trigger"]
        if trigger.get("filters", {}).get("bucket"):
            used[trigger["filters"]["bucket"]] = f"{f['name']} trigger filter"
        payload = trigger.get("payload") or {}
        for uri in re.findall(r"gs://([^/\"']+)/", str(payload)):
            used[_env_pattern(uri, payload.get("env"))] = f"{f['name']} payload"
    declared = _bucket_patterns(tf)
    return [
        f"bucket {pattern} ({why}) is not declared by modules/storage"
        for pattern, why in used.items()
        if pattern not in declared
    ]


def _tables(tf: Terraform, repo: Path) -> list[str]:
    out = []
    config = _config_defaults(repo)
    datasets = {}
    for b in tf.of("resource", "google_bigquery_dataset"):
        ref = b.get("dataset_id")
        value = tf.variable_default(b.module_dir.name, ref[4:]) if ref.startswith("var.") else ref
        datasets[b.name] = value
    tables = {}
    for b in tf.of("resource", "google_bigquery_table"):
        dataset_ref = re.fullmatch(r"google_bigquery_dataset\.(\w+)\.dataset_id", b.get("dataset_id"))
        table = b.get("table_id")
        table = tf.variable_default(b.module_dir.name, table[4:]) if table.startswith("var.") else table
        dataset = datasets.get(dataset_ref.group(1)) if dataset_ref else None
        tables[f"{dataset}.{table}"] = b
    for wanted in (config["bigquery_dataset"], config["monitoring_dataset"]):
        if wanted not in datasets.values():
            out.append(f"BigQuery dataset {wanted} (shared/config.py) is not declared")
    if f"{config['bigquery_dataset']}.{config['bigquery_table']}" not in tables:
        out.append(f"BigQuery table {config['bigquery_dataset']}.{config['bigquery_table']} is not declared")
    # The adapters' own partitioning, so the code never has to create or alter a table.
    layouts = {}
    for adapter in (repo / "shared" / "adapters").glob("bigquery_*.py"):
        source = adapter.read_text()
        partition = re.search(r'partition_field="(\w+)"', source)
        clustering = re.search(r"clustering=\[([^\]]*)\]", source)
        if partition and clustering:
            layouts[adapter.name] = (
                partition.group(1),
                [c.strip().strip("\"'") for c in clustering.group(1).split(",")],
            )
    platform_calls = " ".join(s for b in tf.of("module", module="platform") for s in _strings(b.body))
    schemas = repo / "shared" / "schemas"
    for view_sql in sorted(schemas.glob("*.view.sql")):
        # A view over a log (the registry's models, aliases): its SQL is the file the adapter creates it from.
        name = view_sql.name.removesuffix(".view.sql")
        block = tables.get(name)
        views = (block.body.get("view") or [{}]) if block is not None else [{}]
        query = text(views[0].get("query", ""))
        path_local = re.fullmatch(r"templatefile\(local\.(\w+),.*", query, re.DOTALL)
        local_value = text(tf.locals.get(block.module_dir, {}).get(path_local.group(1), "")) if path_local else ""
        if block is None:
            out.append(f"BigQuery view {name} (shared/schemas/{view_sql.name}) is not declared")
        elif not local_value.endswith(f"/{view_sql.name}"):
            out.append(f"view {name}: its query is not templatefile() of shared/schemas/{view_sql.name}")
    for schema in sorted(schemas.glob("*.json")):
        name = schema.name.removesuffix(".json")
        block = tables.get(name)
        if block is None:
            out.append(f"BigQuery table {name} (shared/schemas/{schema.name}) is not declared")
            continue
        if block.body.get("view"):
            if not (schemas / f"{name}.view.sql").is_file():
                out.append(f"table {name}: a view, but shared/schemas has no {name}.view.sql for its columns")
            continue  # a view has its columns from its query, and no partitions
        source = block.get("schema")
        from_local = re.fullmatch(r"file\(local\.(\w+)\)", source)
        local_value = text(tf.locals.get(block.module_dir, {}).get(from_local.group(1), "")) if from_local else ""
        if not (source.startswith("file(var.") or f"/{schema.name}" in local_value):
            out.append(f"table {name}: schema is not read with file() from shared/schemas")
        # Passed by the platform, or read by the module beside a schema the platform passes.
        if f"/{schema.name}" not in platform_calls and f"/{schema.name}" not in local_value:
            out.append(f"table {name}: the platform does not pass shared/schemas/{schema.name}")
        fields = {f["name"] for f in __import__("json").loads(schema.read_text())}
        partitioning = (block.body.get("time_partitioning") or [{}])[0]
        partition = text(partitioning.get("field", ""))
        clustering = [text(c) for c in block.body.get("clustering", [])]
        if (partition, clustering) not in layouts.values() or partition not in fields:
            out.append(f"table {name}: partition {partition!r} / clustering {clustering} differ from the adapters'")
    return out


def _firestore(tf: Terraform, repo: Path) -> list[str]:
    out = []
    config = _config_defaults(repo)
    databases = tf.of("resource", "google_firestore_database")
    if not databases or databases[0].get("type") != "FIRESTORE_NATIVE":
        out.append("no Firestore database in native mode")
    source = (repo / "shared" / "adapters" / "firestore_idempotency.py").read_text()
    ttl_field = "expire_at" if '"expire_at"' in source else None
    registry = tf.modules_dir() / "registry"
    ttl_local = text(tf.locals.get(registry, {}).get("ttl_fields", ""))
    collection_var = tf.variable_default("registry", "idempotency_collection")
    fields = tf.of("resource", "google_firestore_field", module="registry")
    if collection_var != config["idempotency_collection"]:
        out.append(f"registry idempotency_collection {collection_var!r} != shared/config.py's")
    if not ttl_field or f'(var.idempotency_collection) = "{ttl_field}"' not in ttl_local:
        out.append("no TTL policy on the idempotency collection's expire_at field")
    if not fields or "ttl_config" not in fields[0].body:
        out.append("google_firestore_field has no ttl_config")
    return out


def _topics_and_secrets(tf: Terraform, functions: list[dict[str, Any]]) -> list[str]:
    out = []
    platform = tf.locals.get(tf.modules_dir() / "platform", {})
    own = text(platform.get("own_topics", ""))
    trigger_topics = text(platform.get("trigger_topics", ""))
    dead_letters = text(platform.get("dead_letter_topics", ""))
    topics = [
        b
        for b in tf.of("resource", "google_pubsub_topic", module="platform")
        if b.get("for_each") == "local.own_topics"
    ]
    if not topics or "local.trigger_topics" not in own or "local.dead_letter_topics" not in own:
        out.append("platform does not create the manifest's trigger and dead-letter topics")
    if "f.trigger.topic" not in trigger_topics or "f.retry.dead_letter_topic" not in dead_letters:
        out.append("platform topics are not derived from the manifest's trigger.topic and retry.dead_letter_topic")
    budget_topic = text(platform.get("budget_topic", ""))
    budget_calls = [b for b in tf.of("module", module="platform") if b.get("source") == "../gcp-budget"]
    uses_budget = any(f["name"] == "budget_alert" for f in functions)
    if uses_budget and (
        not budget_calls
        or budget_calls[0].get("topic_name") != "local.budget_topic"
        or "local.gcp_functions[var.budget_function].trigger.topic" not in budget_topic
        or tf.variable_default("platform", "budget_function") != "budget_alert"
    ):
        out.append("the budget's topic is not budget_alert's trigger.topic")
    holds = [
        b
        for b in tf.of("resource", "google_pubsub_subscription", module="platform")
        if b.get("for_each") == "local.dead_letter_topics"
    ]
    if not holds:
        out.append("no pull subscription keeps the dead letters")
    secrets = [
        b
        for b in tf.of("resource", "google_secret_manager_secret", module="platform")
        if b.get("for_each") == "local.secret_names"
    ]
    if not secrets or "f.secrets" not in text(platform.get("secret_names", "")):
        gcp_secrets = sorted(
            {s["name"] for f in functions if f["platform"] == "gcp-function" for s in f.get("secrets", [])}
        )
        out.append(f"Secret Manager secrets {gcp_secrets} are not declared from the manifest's secrets")
    return out


def _aws_names(tf: Terraform, functions: list[dict[str, Any]]) -> list[str]:
    """The Lambda's DynamoDB table, SSM parameter and Secrets Manager secrets live in its module."""
    out = []
    module = tf.modules_dir() / AWS_MODULE
    for f in functions:
        if f["platform"] != "aws-lambda":
            continue
        if not module.is_dir():
            out.append(f"{f['name']}: modules/{AWS_MODULE} is missing")
            continue
        env = f.get("env") or {}
        wanted = {
            "aws_dynamodb_table": "MLOPS_EVENTS_IDEMPOTENCY_TABLE",
            "aws_ssm_parameter": "MLOPS_EVENTS_ROLLOUT_TARGETS_PARAMETER",
        }
        for rtype, variable in wanted.items():
            if variable in env and not tf.of("resource", rtype, module=AWS_MODULE):
                out.append(f"{f['name']}: {variable}={env[variable]} but modules/{AWS_MODULE} declares no {rtype}")
        if f.get("secrets") and not tf.of("resource", "aws_secretsmanager_secret", module=AWS_MODULE):
            out.append(f"{f['name']}: secrets {[s['name'] for s in f['secrets']]} but no aws_secretsmanager_secret")
    return out


def _no_public_invokers(tf: Terraform) -> list[str]:
    out = []
    for b in tf.of("resource"):
        for key, value in _walk(b.body):
            if key in {"member", "members"}:
                for s in _strings(value):
                    if any(p in s for p in PUBLIC_MEMBERS):
                        out.append(f"{b.type}.{b.name} ({b.file.relative_to(tf.root)}) grants {text(s)}")
    for b in tf.of("variable"):
        if "member" in b.name and any(p in s for s in _strings(b.body.get("default", [])) for p in PUBLIC_MEMBERS):
            out.append(f"variable {b.name} ({b.file.relative_to(tf.root)}) defaults to a public member")
    return out


def _no_secret_values(tf: Terraform) -> list[str]:
    out = []
    for b in tf.of("resource", "google_secret_manager_secret_version") + tf.of(
        "resource", "aws_secretsmanager_secret_version"
    ):
        out.append(
            f"{b.type}.{b.name} in {b.file.relative_to(tf.root)}: secret values must stay out of Terraform state"
        )
    for path in sorted(tf.root.rglob("*")):
        if path.suffix in {".tf", ".tfvars"} and ".terraform" not in path.parts:
            content = path.read_text()
            for marker in ("secret_data", "hooks.slack.com/services/", "BEGIN PRIVATE KEY"):
                if marker in content:
                    out.append(f"{path.relative_to(tf.root)} holds a secret value ({marker})")
    return out


def _plan_time_traps(tf: Terraform) -> list[str]:
    """What `terraform plan` finds only on a real first plan, or every plan after it.

    A module-level depends_on defers every read inside the module to apply time (every function
    planned as changed); a deploy artifact under .terraform/ does not travel with a saved plan (the
    build's dist/<name>.zip is what deploys); GCP and AWS in one composition put both clouds'
    credentials in one plan."""
    out = []
    for b in tf.of("module"):
        if b.module_dir.parent.name == "modules" and "depends_on" in b.body:
            out.append(f"module {b.name} ({b.file.relative_to(tf.root)}) has a module-level depends_on")
    for b in tf.blocks:
        if b.kind in {"resource", "data"} and any(".terraform/" in s for s in _strings(b.body)):
            out.append(f"{b.type}.{b.name} ({b.file.relative_to(tf.root)}) reads or writes under .terraform/")
    for module_dir, values in tf.locals.items():
        if any(".terraform/" in s for s in _strings(values)):
            out.append(f"locals of {module_dir.relative_to(tf.root)} point under .terraform/")
    for composition, foreign in (("platform", AWS_MODULE), ("aws-platform", GCP_MODULE)):
        if any(b.get("source") == f"../{foreign}" for b in tf.of("module", module=composition)):
            out.append(f"modules/{composition} calls ../{foreign}: GCP and AWS belong in separate roots")
    return out


def _provider_settings(tf: Terraform) -> list[str]:
    """What every environment's providers must say for a first apply to work and land where meant.

    google: API calls billed to the project (billing_project, user_project_override), or the Billing
    Budgets API refuses user credentials (403); aws: pinned to the environment's account
    (allowed_account_ids), so a plan with another account's credentials fails before it reads; no
    provider that no resource uses (google-beta once was configured for nothing)."""
    out = []
    for b in tf.of("provider"):
        where = f"{b.file.relative_to(tf.root)}"
        if b.type == "google" and (b.get("user_project_override").lower() != "true" or not b.get("billing_project")):
            out.append(f"provider google ({where}) lacks billing_project and user_project_override = true")
        if b.type == "aws" and not b.get("allowed_account_ids"):
            out.append(f"provider aws ({where}) is not pinned to an account (allowed_account_ids)")
        # A provider is used by a resource type of its name (aws_*, google_*) or, for one like
        # google-beta whose types are google_*, by a resource's provider argument.
        used = [
            x
            for x in tf.blocks
            if x.kind in {"resource", "data"}
            and (x.type.startswith(f"{b.type}_") if "-" not in b.type else x.get("provider").startswith(b.type))
        ]
        if not used:
            out.append(f"provider {b.type} ({where}) configures a provider no resource uses")
    return out


def _environments(tf: Terraform, repo: Path) -> list[str]:
    """One root per side for every environment, and each environment's files consistent with its name.

    A copied root would drift from the others; a file copied from another environment and not fully
    renamed would plan into the other's state (backend prefix) or with the other's names (env); an
    environment without both sides' files, or one the workflow's matrix does not name, is never planned."""
    out = []
    folder = tf.root / "environments"
    for side in ENVIRONMENT_SIDES:
        root = tf.root / "environment" / side
        backends = []
        if (root / "versions.tf").is_file():
            with (root / "versions.tf").open() as handle:
                backends = [b for t in hcl2.load(handle).get("terraform", []) for b in t.get("backend", [])]
        if [list(b) for b in backends] != [['"gcs"']] or any(k != "__is_block__" for b in backends for k in b['"gcs"']):
            out.append(
                f'environment/{side}/versions.tf: not one empty backend "gcs" (the prefix is the environment\'s)'
            )
    copies = sorted(p.relative_to(folder) for p in folder.rglob("*.tf")) if folder.is_dir() else []
    if copies:
        out.append(f"environments/ holds Terraform code ({', '.join(map(str, copies))}): one root per side serves all")
    sides: dict[str, set[str]] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        name, _, rest = path.name.partition(".")
        side, _, kind = rest.partition(".")
        if side not in ENVIRONMENT_SIDES or kind not in {"tfvars", "tfbackend"}:
            out.append(f"environments/{path.name}: not <env>.<gcp|aws>.<tfvars|tfbackend>")
            continue
        values = hcl2.loads(path.read_text())
        if kind == "tfvars":
            sides.setdefault(name, set()).add(side)
            if text(values.get("env", "")) != name:
                out.append(f"environments/{path.name}: env is {text(values.get('env', ''))!r}, not {name!r}")
            if not (folder / f"{name}.{side}.tfbackend").is_file():
                out.append(f"environments/{path.name} has no {name}.{side}.tfbackend (where its state lives)")
        elif text(values.get("prefix", "")) != ENVIRONMENT_SIDES[side].format(env=name):
            wanted = ENVIRONMENT_SIDES[side].format(env=name)
            out.append(f"environments/{path.name}: prefix is {text(values.get('prefix', ''))!r}, not {wanted!r}")
    for name, present in sorted(sides.items()):
        for side in sorted(set(ENVIRONMENT_SIDES) - present):
            out.append(f"environment {name} has no {name}.{side}.tfvars")
    workflow = repo / ".github" / "workflows" / "terraform.yml"
    if workflow.is_file():
        jobs = yaml.safe_load(workflow.read_text()).get("jobs", {})
        for job in ("plan", "apply"):
            matrix = (jobs.get(job) or {}).get("strategy", {}).get("matrix", {})
            if set(matrix.get("env", [])) != set(sides) or set(matrix.get("side", [])) != set(ENVIRONMENT_SIDES):
                out.append(
                    f"terraform.yml {job}: matrix env {matrix.get('env')} x side {matrix.get('side')}"
                    f" is not the environments' files ({sorted(sides)} x {sorted(ENVIRONMENT_SIDES)})"
                )
    return out


def _bootstrap_outputs(tf: Terraform, repo: Path) -> list[str]:
    """Every variable the workflows read (vars.NAME) is a value the bootstrap outputs.

    The bootstrap roots exist so that a fresh project and account can run the workflows; a variable a
    workflow reads that no bootstrap output names would again be clicked together by hand. The names
    are read as the keys of the github_variables outputs (NAME = ... in bootstrap/*/outputs.tf)."""
    workflows = sorted((repo / ".github" / "workflows").glob("*.yml"))
    read = {
        name: path.name for path in workflows for name in re.findall(r"\bvars\.([A-Z][A-Z0-9_]*)", path.read_text())
    }
    produced: set[str] = set()
    for b in tf.of("output"):
        if b.name == "github_variables" and b.module_dir.parent.name == "bootstrap":
            produced |= set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=", " ".join(_strings(b.body))))
    return [
        f"{read[name]} reads vars.{name}, which no bootstrap output (bootstrap/*/outputs.tf github_variables) gives"
        for name in sorted(set(read) - produced)
    ]
