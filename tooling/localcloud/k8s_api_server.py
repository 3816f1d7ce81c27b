"""An in-memory Kubernetes API test server for apps/v1 Deployments and ReplicaSets, spoken to over real HTTP.

Why: the rollout Lambda uses the official `kubernetes` client; no API server can run here, so its tests point
that client at this server instead of mocking it.

What it models:
- GET a Deployment (and its /status), list Deployments, GET/list ReplicaSets, with `k=v`, `k==v`, `k!=v`
  label selectors; PATCH a Deployment as JSON patch (add/replace/remove/test), JSON merge patch (both in
  k8s_patch.py, by libraries), or a strategic merge subset (k8s_strategic_merge.py: maps merge;
  `containers`/`initContainers` of the pod template merge by `name`; other lists replace).
- Optimistic concurrency: a patch whose result carries a stale metadata.resourceVersion answers 409.
- The deployment controller's revision bookkeeping: a new pod template reuses the ReplicaSet whose template
  (minus `pod-template-hash`) equals it, else creates one; either way it gets the next revision. Its pure
  rules (template equality and hash, status counts and conditions) are in k8s_controller_rules.py.
- Rollout status advancing one step per GET of that Deployment (no wall clock), with per-image failure modes
  (`fail_image`): "never_available" and "deadline" (ProgressDeadlineExceeded after replicas + 2 GETs).
- Optional bearer token (401 otherwise); errors as `Status` objects (400, 401, 404, 409, 415, 422).
- A PATCH leaves the status as it was (observedGeneration old), since the controller has not seen it yet.
- Like the real API, zero-valued Deployment status counts are omitted from the JSON (Go `omitempty`), and
  null/empty fields count as absent when templates are compared. A no-op patch writes nothing.

What it does NOT model: pods, a scheduler, real timing (progressDeadlineSeconds is stored, not timed), watch
streams (watch=true answers 400), create/update/delete over HTTP, dryRun (400), server-side apply, field managers,
admission, defaulting or validation beyond the above, pagination (`limit` is ignored), paused rollouts,
revisionHistoryLimit pruning, PATCH of /status (404), other resources or API groups. Lists do not advance a
rollout, and ReplicaSet replica counts are coarse bookkeeping.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import yaml

from tooling.local_server import write_answer
from tooling.localcloud.k8s_controller_rules import (
    HASH_LABEL,
    REVISION,
    deployment_status,
    same,
    scale,
    set_progressing,
    template_hash,
    timestamp,
    without_hash,
)
from tooling.localcloud.k8s_discovery import discovery_document
from tooling.localcloud.k8s_patch import PatchRejected, json_patch, merge_patch
from tooling.localcloud.k8s_strategic_merge import strategic_merge_patch
from tooling.localcloud.k8s_tables import as_table, wants_table
from tooling.localcloud.k8s_tls import issue

FAILURE_MODES = ("never_available", "deadline")
_STALE = "the object has been modified; please apply your changes to the latest version and try again"
_REASONS = {400: "BadRequest", 422: "Invalid"}
_ROUTE = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/(deployments|replicasets)(?:/([^/]+))?(/status)?$")


class Watch(NamedTuple):
    """A watch on Deployments, answered as a stream of events (see `_handler_for`)."""

    namespace: str
    name: str | None  # one Deployment (a path or `metadata.name` field selector), else every one
    selector: str | None
    timeout_s: float


WATCH_POLL_S = 0.1  # a watch observes its Deployments this often: each observation is a controller step
WATCH_TIMEOUT_S = 60.0  # when the client sets no timeoutSeconds


class RecordedRequest(NamedTuple):
    method: str
    path: str  # the request target, query string included
    content_type: str | None
    body: Any  # parsed JSON, or None


class ApiError(Exception):
    """Answered as a k8s `Status` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}  # fmt: skip


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    """Equality-based label selectors only; set-based ones answer 400."""
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        found = re.fullmatch(r"([^!=\s]+)\s*(==|=|!=)\s*([^!=\s]*)", term)
        if not found:
            raise ApiError(400, "BadRequest", f"label selector term {term!r} is not modeled by this test server")
        key, op, value = found.groups()
        if (labels.get(key) == value) != (op != "!="):
            return False
    return True


# the server -----------------------------------------------------------------------------------------------------


class KubernetesApiServer:
    def __init__(self, token: str | None = None, host: str = "127.0.0.1", port: int = 0, *, tls: bool = False) -> None:
        """`tls`: HTTPS with a CA of its own (kubectl sends a token only over TLS): the kubeconfig and the
        client trust that CA, nothing else does."""
        self.token = token
        self._lock = threading.RLock()
        self._versions = itertools.count(1)
        self._deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self._replicasets: dict[tuple[str, str], dict[str, Any]] = {}
        self._rollouts: dict[tuple[str, str], dict[str, Any]] = {}
        self._fail: dict[str, str] = {}
        self._requests: list[RecordedRequest] = []
        self._http = _Server((host, port), _handler_for(self))
        self._http.daemon_threads = True
        self.ca_pem: bytes | None = None
        self._ca_file: str | None = None
        if tls:
            certificates = issue(host)
            self._http.tls = certificates.server_context()
            self.ca_pem = certificates.ca_pem
            with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as ca:
                ca.write(certificates.ca_pem)  # a public certificate: the kubernetes client reads a file
            self._ca_file = ca.name
        self.url = f"{'https' if tls else 'http'}://{host}:{self._http.server_address[1]}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def __enter__(self) -> KubernetesApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()  # open watches end
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)
        if self._ca_file:
            Path(self._ca_file).unlink(missing_ok=True)

    # client wiring ------------------------------------------------------------------------------------------------

    def kubeconfig(self, path: str | Path) -> str:
        """A kubeconfig for `kubernetes.config.load_kube_config(config_file=...)`."""
        user = {"token": self.token} if self.token else {}
        trust: dict[str, Any] = (
            {"certificate-authority-data": base64.b64encode(self.ca_pem).decode()}
            if self.ca_pem
            else {"insecure-skip-tls-verify": True}  # plain HTTP: nothing to verify
        )
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url, **trust}}],
            "users": [{"name": "test", "user": user}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "default"}}],
        }  # fmt: skip
        Path(path).write_text(yaml.safe_dump(config))
        return str(path)

    def client(self) -> Any:
        from kubernetes import client

        configuration = client.Configuration(host=self.url)
        if self._ca_file:
            configuration.ssl_ca_cert = self._ca_file
        if self.token:
            configuration.api_key = {"authorization": f"Bearer {self.token}"}
        return client.ApiClient(configuration)

    # test setup and introspection ---------------------------------------------------------------------------------

    def add_deployment(self, namespace: str, name: str, image: str, container: str = "app", replicas: int = 2,
                       labels: dict[str, str] | None = None, progress_deadline_seconds: int = 600,
                       annotations: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
        """A Deployment already fully rolled out at revision 1, with its first ReplicaSet."""
        labels = dict(labels or {"app": name})
        deployment: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "generation": 1,
                         "creationTimestamp": timestamp(), "labels": dict(labels),
                         "annotations": {**(annotations or {}), REVISION: "1"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": container, "image": image}]}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "progressDeadlineSeconds": progress_deadline_seconds, "revisionHistoryLimit": 10},
            "status": {},
        }  # fmt: skip
        with self._lock:
            deployment["metadata"]["resourceVersion"] = str(next(self._versions))
            self._deployments[(namespace, name)] = deployment
            rs = self._new_replicaset(deployment, 1)
            self._rollouts[(namespace, name)] = {"rs": rs["metadata"]["name"], "old_available": replicas,
                                                 "start": 0, "steps": 0, "done": True, "first": None}  # fmt: skip
            scale(rs, replicas, replicas)
            deployment["status"] = deployment_status(deployment, replicas, replicas, replicas)
            set_progressing(deployment["status"], rs["metadata"]["name"], "NewReplicaSetAvailable")
            return copy.deepcopy(deployment)

    def fail_image(self, image: str, mode: str) -> None:
        """Rollouts to a template using `image` go wrong the way `mode` says."""
        if mode not in FAILURE_MODES:
            raise ValueError(f"mode must be one of {FAILURE_MODES}, not {mode!r}")
        with self._lock:
            self._fail[image] = mode

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        """A copy of the stored object; reading it here does not advance the rollout."""
        with self._lock:
            return copy.deepcopy(self._deployments[(namespace, name)])

    def replicasets(self, namespace: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(rs) for (ns, _), rs in sorted(self._replicasets.items()) if ns == namespace]

    # HTTP dispatch ------------------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, dict[str, Any] | Watch]:
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip() or None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self._requests.append(RecordedRequest(method, target, content_type, body))
        try:
            if self.token and headers.get("Authorization") != f"Bearer {self.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if raw and body is None:
                raise ApiError(400, "BadRequest", "the request body is not valid JSON")
            answer = self._route(method, target, content_type, body)
            if not isinstance(answer, Watch) and wants_table(headers.get("Accept")) and method == "GET":
                answer = self._table(answer)
            return 200, answer
        except ApiError as error:
            return error.code, error.status()

    def _route(self, method: str, target: str, content_type: str | None, body: Any) -> dict[str, Any] | Watch:
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method == "GET" and (document := discovery_document(url.path, urlsplit(self.url).netloc)) is not None:
            return document
        found = _ROUTE.match(url.path)
        if not found or (found[4] and (found[2] != "deployments" or not found[3])):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if query.get("dryRun"):
            raise ApiError(400, "BadRequest", "dryRun is not modeled by this test server")
        namespace, kind, name = found[1], found[2], found[3] or _named_by(query.get("fieldSelector"))
        if (query.get("watch") or "").lower() in ("true", "1"):
            if method != "GET" or kind != "deployments" or found[4]:
                raise ApiError(400, "BadRequest", "only Deployments can be watched on this test server")
            timeout = min(float(query.get("timeoutSeconds") or WATCH_TIMEOUT_S), WATCH_TIMEOUT_S)
            return Watch(namespace, name, query.get("labelSelector"), timeout)
        with self._lock:
            if method == "GET" and found[3] is None:
                listed = self._list(namespace, kind, query.get("labelSelector"))
                listed["items"] = [i for i in listed["items"] if name is None or i["metadata"]["name"] == name]
                return listed
            if method == "GET":
                if kind == "replicasets":
                    return copy.deepcopy(self._get(self._replicasets, kind, namespace, name or ""))
                return self._observe(namespace, name or "")
            if method == "PATCH" and kind == "deployments" and name and not found[4]:
                return self._patch(namespace, name, content_type, body)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _table(self, answer: dict[str, Any]) -> dict[str, Any]:
        """`kubectl get`'s server-side printing: a list, or one object, as a Table."""
        kind = answer.get("kind", "")
        if kind in ("DeploymentList", "ReplicaSetList"):
            return as_table(answer["items"], kind.removesuffix("List"), answer["metadata"]["resourceVersion"])
        if kind in ("Deployment", "ReplicaSet"):
            return as_table([answer], kind, answer["metadata"]["resourceVersion"])
        return answer  # discovery documents are never tables

    def watch_step(self, watch: Watch) -> list[dict[str, Any]]:
        """The watched Deployments, each observed once (a controller step: see `_observe`)."""
        with self._lock:
            names = [n for (ns, n), d in sorted(self._deployments.items())
                     if ns == watch.namespace and (watch.name is None or n == watch.name)
                     and _matches(d["metadata"].get("labels") or {}, watch.selector)]  # fmt: skip
            return [self._observe(watch.namespace, n) for n in names]

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _get(self, store: dict[tuple[str, str], Any], kind: str, namespace: str, name: str) -> dict[str, Any]:
        if (namespace, name) not in store:
            raise ApiError(404, "NotFound", f'{kind}.apps "{name}" not found')
        return store[(namespace, name)]

    def _list(self, namespace: str, kind: str, selector: str | None) -> dict[str, Any]:
        store = self._deployments if kind == "deployments" else self._replicasets
        items = [copy.deepcopy(obj) for (ns, _), obj in sorted(store.items())
                 if ns == namespace and _matches(obj["metadata"].get("labels") or {}, selector)]  # fmt: skip
        list_kind = "DeploymentList" if kind == "deployments" else "ReplicaSetList"
        return {"apiVersion": "apps/v1", "kind": list_kind,
                "metadata": {"resourceVersion": str(next(self._versions))}, "items": items}  # fmt: skip

    def _patch(self, namespace: str, name: str, content_type: str | None, body: Any) -> dict[str, Any]:
        current = self._get(self._deployments, "deployments", namespace, name)
        appliers = {"application/json-patch+json": json_patch, "application/merge-patch+json": merge_patch,
                    "application/strategic-merge-patch+json": strategic_merge_patch}  # fmt: skip
        if content_type not in appliers:
            raise ApiError(
                415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
            )
        if content_type != "application/json-patch+json" and not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "a merge patch must be a JSON object")
        try:
            patched = appliers[content_type](current, body)
        except PatchRejected as rejected:
            raise ApiError(rejected.code, _REASONS[rejected.code], rejected.message) from None
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise ApiError(422, "Invalid", "the patched object is not a Deployment")
        meta, old_meta = patched["metadata"], current["metadata"]
        if str(meta.get("resourceVersion", old_meta["resourceVersion"])) != old_meta["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on deployments.apps "{name}": {_STALE}')
        for field in ("name", "namespace", "uid", "creationTimestamp", "generation", "resourceVersion"):
            meta[field] = old_meta[field]
        patched["status"], patched["apiVersion"], patched["kind"] = current["status"], "apps/v1", "Deployment"
        if not isinstance(patched.get("spec"), dict) or not isinstance(patched["spec"].get("template"), dict):
            raise ApiError(422, "Invalid", "spec.template: Required value")
        if same(patched, current):
            return copy.deepcopy(current)  # a no-op patch writes nothing, as in the real API server
        if not same(patched["spec"], current["spec"]):
            meta["generation"] += 1
            self._start_rollout(
                patched, template_changed=not same(patched["spec"]["template"], current["spec"]["template"])
            )
        meta["resourceVersion"] = str(next(self._versions))
        self._deployments[(namespace, name)] = patched
        return copy.deepcopy(patched)

    # the deployment controller ------------------------------------------------------------------------------------

    def _start_rollout(self, deployment: dict[str, Any], template_changed: bool) -> None:
        """A spec change: a new template gets a (new or found) ReplicaSet at the next revision."""
        key = (deployment["metadata"]["namespace"], deployment["metadata"]["name"])
        rollout = self._rollouts[key]
        old_available = deployment["status"].get("availableReplicas", 0)
        if not template_changed:
            current = self._replicasets[(key[0], rollout["rs"])]
            rollout.update(steps=0, done=False, old_available=old_available, start=current["spec"]["replicas"],
                           first=None)  # fmt: skip
            return
        owned = self._owned(deployment)
        revision = 1 + max(int(rs["metadata"]["annotations"].get(REVISION, "0")) for rs in owned)
        template = deployment["spec"]["template"]
        rs = next((rs for rs in owned if same(without_hash(rs["spec"]["template"]), template)), None)
        found = rs is not None
        if rs is None:
            rs = self._new_replicaset(deployment, revision)
        else:
            annotations = rs["metadata"]["annotations"]
            history = [h for h in annotations.get(f"{REVISION}-history", "").split(",") if h]
            annotations[f"{REVISION}-history"] = ",".join([*history, annotations[REVISION]])
            annotations[REVISION] = str(revision)
            rs["metadata"]["resourceVersion"] = str(next(self._versions))
        deployment["metadata"]["annotations"] = {**(deployment["metadata"].get("annotations") or {}),
                                                 REVISION: str(revision)}  # fmt: skip
        self._rollouts[key] = {"rs": rs["metadata"]["name"], "old_available": old_available, "start": 0,
                               "steps": 0, "done": False,
                               "first": "FoundNewReplicaSet" if found else "NewReplicaSetCreated"}  # fmt: skip

    def _owned(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        uid = deployment["metadata"]["uid"]
        return [rs for rs in self._replicasets.values()
                if any(ref["uid"] == uid for ref in rs["metadata"]["ownerReferences"])]  # fmt: skip

    def _new_replicaset(self, deployment: dict[str, Any], revision: int) -> dict[str, Any]:
        meta, spec = deployment["metadata"], deployment["spec"]
        pod_hash = template_hash(spec["template"])
        template = copy.deepcopy(spec["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        copied = {k: v for k, v in (meta.get("annotations") or {}).items()
                  if k != REVISION and k != "kubectl.kubernetes.io/last-applied-configuration"}  # fmt: skip
        rs: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{pod_hash}", "namespace": meta["namespace"], "uid": str(uuid.uuid4()),
                         "resourceVersion": str(next(self._versions)), "generation": 1,
                         "creationTimestamp": timestamp(), "labels": dict(template["metadata"]["labels"]),
                         "annotations": {**copied, REVISION: str(revision)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                              "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"replicas": 0, "template": template,
                     "selector": {"matchLabels": {**spec["selector"]["matchLabels"], HASH_LABEL: pod_hash}}},
            "status": {"replicas": 0, "observedGeneration": 1},
        }  # fmt: skip
        self._replicasets[(meta["namespace"], rs["metadata"]["name"])] = rs
        return rs

    def _observe(self, namespace: str, name: str) -> dict[str, Any]:
        """One controller step per GET: observe the generation, then one more updated pod per GET."""
        deployment = self._get(self._deployments, "deployments", namespace, name)
        rollout = self._rollouts[(namespace, name)]
        if not rollout["done"]:
            rollout["steps"] += 1
            self._advance(deployment, rollout)
            deployment["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(deployment)

    def _advance(self, deployment: dict[str, Any], rollout: dict[str, Any]) -> None:
        wanted, steps = deployment["spec"].get("replicas", 1), rollout["steps"]
        rs = self._replicasets[(deployment["metadata"]["namespace"], rollout["rs"])]
        images = [c.get("image") for c in deployment["spec"]["template"].get("spec", {}).get("containers", [])]
        mode = next((self._fail[i] for i in images if i in self._fail), None)
        updated = min(wanted, rollout["start"] + steps - 1)
        if mode is None:
            available, total = min(wanted, rollout["old_available"] + updated), wanted
        else:
            available, total = rollout["old_available"], rollout["old_available"] + updated
        scale(rs, updated, 0 if mode else updated)
        status = deployment_status(deployment, total, updated, available, previous=deployment["status"])
        complete = mode is None and updated == wanted
        if complete:
            reason = "NewReplicaSetAvailable"
        elif mode == "deadline" and steps >= wanted + 2:
            reason = "ProgressDeadlineExceeded"
        elif steps == 1 and rollout["first"]:
            reason = rollout["first"]
        else:
            reason = "ReplicaSetUpdated"
        set_progressing(status, rs["metadata"]["name"], reason)
        deployment["status"] = status
        if complete:
            rollout["done"] = True
            for other in self._owned(deployment):
                if other is not rs:
                    scale(other, 0, 0)


def _handler_for(server: KubernetesApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as urllib3 expects
        disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code, payload = server.handle(self.command, self.path, self.headers, raw)
            if isinstance(payload, Watch):
                self._stream(payload)
                return
            write_answer(self, code, json.dumps(payload).encode(), {"Content-Type": "application/json"})

        def _stream(self, watch: Watch) -> None:
            """A watch's events, one JSON object a line in a chunked answer: a MODIFIED event each time a
            watched Deployment changes, until timeoutSeconds, the server stopping or the client leaving."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent: dict[str, str] = {}  # name -> the resourceVersion last sent
            deadline = time.monotonic() + watch.timeout_s
            try:
                while time.monotonic() < deadline and not server.stopping:
                    for deployment in server.watch_step(watch):
                        name, version = deployment["metadata"]["name"], deployment["metadata"]["resourceVersion"]
                        if sent.get(name) != version:
                            sent[name] = version
                            event = json.dumps({"type": "MODIFIED", "object": deployment}).encode() + b"\n"
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                            self.wfile.flush()
                    time.sleep(WATCH_POLL_S)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self.close_connection = True  # the client stopped watching

        do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not traffic
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    """With `tls` set, each connection's TLS handshake happens in its own thread, not in the accept loop."""

    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # a client that does not trust the CA, or that left: nothing to answer
        super().finish_request(request, client_address)


def _named_by(field_selector: str | None) -> str | None:
    """The name a `metadata.name=NAME` field selector picks (kubectl rollout status sends it); other field
    selectors are not modeled."""
    if not field_selector:
        return None
    found = re.fullmatch(r"metadata\.name==?([a-z0-9.-]{1,253})", field_selector)
    if not found:
        raise ApiError(400, "BadRequest", f"field selector {field_selector[:100]!r} is not modeled by this test server")
    return found.group(1)
