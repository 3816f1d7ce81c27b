"""The Kubernetes API test server, driven by the real `kubernetes` client over HTTP.

What the rollout Lambda's tests rely on is proved here: the shapes the client deserializes, the content types it
sends, the controller's revision bookkeeping, and the status progression `kubectl rollout status` reads.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tooling.localcloud.k8s_api_server import HASH_LABEL, REVISION, KubernetesApiServer

NS = "ml"
OLD = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/scorer@sha256:" + "a" * 64
NEW = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/scorer@sha256:" + "b" * 64
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture
def server():
    with KubernetesApiServer() as running:
        yield running


@pytest.fixture
def api_client(server):
    with server.client() as api_client:
        yield api_client


@pytest.fixture
def apps(api_client) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


def image_patch(image: str, container: str = "app") -> dict:
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}


def rollout_state(d: client.V1Deployment) -> str:
    """What `kubectl rollout status` concludes from one read (its status viewer's rules)."""
    if d.metadata.generation > (d.status.observed_generation or 0):
        return "waiting: spec update not observed"
    progressing = next((c for c in d.status.conditions or [] if c.type == "Progressing"), None)
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        return "failed: progress deadline exceeded"
    updated, available, total = (d.status.updated_replicas or 0), (d.status.available_replicas or 0), d.status.replicas
    if updated < d.spec.replicas:
        return "waiting: updating"
    if (total or 0) > updated:
        return "waiting: old replicas pending termination"
    if available < updated:
        return "waiting: updated replicas not available"
    return "complete"


def condition(d: client.V1Deployment, kind: str) -> client.V1DeploymentCondition:
    return next(c for c in d.status.conditions if c.type == kind)


def rs_by_revision(apps: client.AppsV1Api, revision: str, selector: str = "app=scorer") -> client.V1ReplicaSet:
    items = apps.list_namespaced_replica_set(NS, label_selector=selector).items
    return next(rs for rs in items if rs.metadata.annotations[REVISION] == revision)


def read_until_complete(apps: client.AppsV1Api, limit: int = 10) -> list[client.V1Deployment]:
    reads = []
    while not reads or rollout_state(reads[-1]) != "complete":
        assert len(reads) < limit, [rollout_state(r) for r in reads]
        reads.append(apps.read_namespaced_deployment("scorer", NS))
    return reads


def rollback_body(api_client: client.ApiClient, rs: client.V1ReplicaSet) -> list[dict]:
    """What `kubectl rollout undo` sends: the old ReplicaSet's template without its pod-template-hash label."""
    template = api_client.sanitize_for_serialization(rs.spec.template)
    del template["metadata"]["labels"][HASH_LABEL]
    return [{"op": "replace", "path": "/spec/template", "value": template}]


def test_add_deployment_reads_back_as_a_rolled_out_revision_1(server, apps):
    # GIVEN a deployment created through the setup API
    server.add_deployment(NS, "scorer", OLD, replicas=3, annotations={"team": "ml"})

    # WHEN the real client reads it and its replica sets
    d = apps.read_namespaced_deployment("scorer", NS)
    (rs,) = apps.list_namespaced_replica_set(NS).items

    # THEN it is revision 1, fully rolled out, with its image stored as given
    assert (d.metadata.generation, d.status.observed_generation) == (1, 1)
    assert d.metadata.annotations == {"team": "ml", REVISION: "1"}
    assert d.metadata.uid and d.metadata.resource_version and d.metadata.creation_timestamp
    assert d.spec.template.spec.containers[0].image == OLD
    assert d.spec.selector.match_labels == {"app": "scorer"}
    assert (d.spec.progress_deadline_seconds, d.spec.revision_history_limit) == (600, 10)
    assert (d.status.replicas, d.status.updated_replicas, d.status.available_replicas) == (3, 3, 3)
    assert d.status.unavailable_replicas is None  # omitted when zero, as the real API does
    assert (condition(d, "Progressing").reason, condition(d, "Available").status) == ("NewReplicaSetAvailable", "True")
    assert rollout_state(d) == "complete"
    # AND its first replica set is owned by it, labelled with the template hash, at revision 1
    pod_hash = rs.metadata.labels[HASH_LABEL]
    assert rs.metadata.name == f"scorer-{pod_hash}"
    assert rs.metadata.owner_references[0].uid == d.metadata.uid
    assert rs.metadata.annotations[REVISION] == "1"
    assert rs.spec.template.metadata.labels == {"app": "scorer", HASH_LABEL: pod_hash}
    assert rs.spec.template.spec.containers[0].image == OLD
    assert apps.read_namespaced_replica_set(rs.metadata.name, NS).metadata.uid == rs.metadata.uid


def test_strategic_patch_of_an_image_starts_a_rollout_that_completes_over_reads(server, apps):
    # GIVEN a rolled-out deployment of 2 replicas
    server.add_deployment(NS, "scorer", OLD)

    # WHEN the client patches the container image with a dict body
    patched = apps.patch_namespaced_deployment("scorer", NS, image_patch(NEW))

    # THEN the client sent a strategic merge patch, and a rollout started without the status jumping
    method, path, content_type, body = server.requests[-1]
    assert (method, path, content_type, body) == (
        "PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/scorer", STRATEGIC, image_patch(NEW),
    )  # fmt: skip
    assert (patched.metadata.generation, patched.status.observed_generation) == (2, 1)
    assert patched.metadata.annotations[REVISION] == "2"
    assert patched.spec.template.spec.containers[0].image == NEW
    new_rs = rs_by_revision(apps, "2")
    assert new_rs.spec.template.spec.containers[0].image == NEW
    assert len(server.replicasets(NS)) == 2
    assert rollout_state(patched) == "waiting: spec update not observed"

    # AND each read advances one step: observe, then one updated pod per read, then complete
    reads = read_until_complete(apps)
    assert [(r.status.observed_generation, r.status.updated_replicas or 0) for r in reads] == [(2, 0), (2, 1), (2, 2)]
    assert condition(reads[0], "Progressing").reason == "NewReplicaSetCreated"
    done = reads[-1]
    assert (done.status.replicas, done.status.updated_replicas, done.status.available_replicas) == (2, 2, 2)
    assert condition(done, "Progressing").message == f'ReplicaSet "{new_rs.metadata.name}" has successfully progressed.'
    assert condition(done, "Available").status == "True"
    old_rs = rs_by_revision(apps, "1")
    assert (old_rs.spec.replicas, rs_by_revision(apps, "2").status.available_replicas) == (0, 2)


def test_strategic_patch_merges_containers_by_name(server, apps):
    # GIVEN a deployment to which a sidecar was added by a strategic patch
    server.add_deployment(NS, "scorer", OLD)
    apps.patch_namespaced_deployment("scorer", NS, image_patch("envoy:1.30", container="proxy"))

    # WHEN only the app container's image is patched
    patched = apps.patch_namespaced_deployment("scorer", NS, image_patch(NEW))

    # THEN both containers stay, each with its own image
    assert [(c.name, c.image) for c in patched.spec.template.spec.containers] == [("app", NEW), ("proxy", "envoy:1.30")]


def test_merge_patch_replaces_lists_whole(server, api_client):
    # GIVEN a deployment whose template has two containers
    server.add_deployment(NS, "scorer", OLD)
    apps = client.AppsV1Api(api_client)
    apps.patch_namespaced_deployment("scorer", NS, image_patch("envoy:1.30", container="proxy"))

    # WHEN a JSON merge patch (RFC 7386) names only one container
    api_client.call_api(
        f"/apis/apps/v1/namespaces/{NS}/deployments/scorer", "PATCH",
        header_params={"Content-Type": "application/merge-patch+json"}, body=image_patch(NEW),
        response_type="V1Deployment", auth_settings=["BearerToken"], _return_http_data_only=True,
    )  # fmt: skip

    # THEN the list was replaced, not merged
    assert server.requests[-1].content_type == "application/merge-patch+json"
    stored = server.deployment(NS, "scorer")
    assert stored["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": NEW}]


def test_json_patch_back_to_the_revision_1_template_reuses_that_replica_set_as_revision_3(server, api_client):
    # GIVEN a deployment rolled out to revision 2
    apps = client.AppsV1Api(api_client)
    server.add_deployment(NS, "scorer", OLD)
    apps.patch_namespaced_deployment("scorer", NS, image_patch(NEW))
    read_until_complete(apps)
    first = rs_by_revision(apps, "1")

    # WHEN the client re-applies revision 1's template with a list body, as `kubectl rollout undo` does
    patched = apps.patch_namespaced_deployment("scorer", NS, rollback_body(api_client, first))

    # THEN it went as a JSON patch, and the controller found the old replica set instead of creating one
    assert server.requests[-1].content_type == JSON_PATCH
    assert (patched.metadata.generation, patched.metadata.annotations[REVISION]) == (3, "3")
    assert patched.spec.template.spec.containers[0].image == OLD
    assert len(server.replicasets(NS)) == 2
    reused = apps.read_namespaced_replica_set(first.metadata.name, NS)
    assert reused.metadata.annotations[REVISION] == "3"
    assert reused.metadata.annotations[f"{REVISION}-history"] == "1"
    # AND the rollback progresses to complete
    reads = read_until_complete(apps)
    assert condition(reads[0], "Progressing").reason == "FoundNewReplicaSet"
    assert (
        condition(reads[-1], "Progressing").message
        == f'ReplicaSet "{first.metadata.name}" has successfully progressed.'
    )


def test_never_available_image_never_finishes_until_rolled_back(server, api_client):
    # GIVEN an image whose pods never become available
    apps = client.AppsV1Api(api_client)
    server.add_deployment(NS, "scorer", OLD)
    server.fail_image(NEW, "never_available")
    apps.patch_namespaced_deployment("scorer", NS, image_patch(NEW))
    new_rs = rs_by_revision(apps, "2")

    # WHEN the rollout is watched for many reads
    reads = [apps.read_namespaced_deployment("scorer", NS) for _ in range(8)]

    # THEN pods get updated but the old ones stay the only available ones; it never fails, never finishes
    last = reads[-1]
    assert {rollout_state(r) for r in reads[2:]} == {"waiting: old replicas pending termination"}
    assert (last.status.replicas, last.status.updated_replicas, last.status.available_replicas) == (4, 2, 2)
    progressing = condition(last, "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "ReplicaSetUpdated")
    assert progressing.message == f'ReplicaSet "{new_rs.metadata.name}" is progressing.'
    stuck_rs = apps.read_namespaced_replica_set(new_rs.metadata.name, NS)
    assert (stuck_rs.spec.replicas, stuck_rs.status.replicas, stuck_rs.status.available_replicas) == (2, 2, None)

    # AND rolling back to revision 1's template (a healthy image) completes
    apps.patch_namespaced_deployment("scorer", NS, rollback_body(api_client, rs_by_revision(apps, "1")))
    done = read_until_complete(apps)[-1]
    assert done.spec.template.spec.containers[0].image == OLD
    assert done.metadata.annotations[REVISION] == "3"


def test_deadline_image_reports_progress_deadline_exceeded_after_replicas_plus_2_reads(server, apps):
    # GIVEN an image whose rollout times out, on a 3-replica deployment
    server.add_deployment(NS, "scorer", OLD, replicas=3)
    server.fail_image(NEW, "deadline")
    apps.patch_namespaced_deployment("scorer", NS, image_patch(NEW))
    new_rs = rs_by_revision(apps, "2")

    # WHEN it is read replicas + 2 times
    reads = [apps.read_namespaced_deployment("scorer", NS) for _ in range(5)]

    # THEN it keeps progressing for replicas + 1 reads, then the Progressing condition turns False
    assert [condition(r, "Progressing").status for r in reads] == ["True"] * 4 + ["False"]
    timed_out = condition(reads[-1], "Progressing")
    assert timed_out.reason == "ProgressDeadlineExceeded"
    assert timed_out.message == f'ReplicaSet "{new_rs.metadata.name}" has timed out progressing.'
    assert rollout_state(reads[-1]) == "failed: progress deadline exceeded"
    assert condition(apps.read_namespaced_deployment("scorer", NS), "Progressing").status == "False"


def test_missing_deployment_is_a_404_status(server, apps):
    # GIVEN no deployment named "absent"
    # WHEN the client reads it
    with pytest.raises(ApiException) as raised:
        apps.read_namespaced_deployment("absent", NS)

    # THEN it gets a k8s Status object with 404 NotFound
    assert raised.value.status == 404
    status = json.loads(raised.value.body)
    assert (status["kind"], status["status"], status["reason"], status["code"]) == (
        "Status",
        "Failure",
        "NotFound",
        404,
    )
    with pytest.raises(ApiException) as also:
        apps.patch_namespaced_deployment("absent", NS, image_patch(NEW))
    assert also.value.status == 404


def test_token_is_required_and_a_written_kubeconfig_carries_it(tmp_path, monkeypatch):
    # GIVEN a server that wants a bearer token, and a default client configuration restored after the test
    monkeypatch.setattr(client.Configuration, "_default", None)
    with KubernetesApiServer(token="s3cret") as server:
        server.add_deployment(NS, "scorer", OLD)

        # WHEN a client without the token asks
        anonymous = client.AppsV1Api(client.ApiClient(client.Configuration(host=server.url)))
        with pytest.raises(ApiException) as raised:
            anonymous.read_namespaced_deployment("scorer", NS)

        # THEN it is refused with a 401 Status
        assert raised.value.status == 401
        assert json.loads(raised.value.body)["reason"] == "Unauthorized"

        # AND a client loaded from the kubeconfig the server writes gets in
        config.load_kube_config(config_file=server.kubeconfig(tmp_path / "kubeconfig"))
        assert client.AppsV1Api().read_namespaced_deployment("scorer", NS).spec.template.spec.containers[0].image == OLD
        with server.client() as configured:
            assert client.AppsV1Api(configured).list_namespaced_deployment(NS).items[0].metadata.name == "scorer"


def test_label_selectors_filter_replica_sets_and_deployments(server, apps):
    # GIVEN two deployments with different labels
    server.add_deployment(NS, "scorer", OLD, labels={"app": "scorer", "tier": "online"})
    server.add_deployment(NS, "trainer", OLD, labels={"app": "trainer", "tier": "batch"})
    server.add_deployment("other", "scorer", OLD)

    # WHEN replica sets and deployments are listed by label
    def rs_names(selector: str) -> list[str]:
        return [rs.metadata.labels["app"] for rs in apps.list_namespaced_replica_set(NS, label_selector=selector).items]

    # THEN only the matching ones come back, from that namespace only
    assert rs_names("app=scorer") == ["scorer"]
    assert rs_names("app=scorer,tier=batch") == []
    assert rs_names("tier!=online") == ["trainer"]
    assert sorted(rs_names("")) == ["scorer", "trainer"]
    listed = apps.list_namespaced_deployment(NS, label_selector="tier=batch")
    assert (listed.kind, [d.metadata.name for d in listed.items]) == ("DeploymentList", ["trainer"])
    assert apps.list_namespaced_replica_set(NS).kind == "ReplicaSetList"


def test_annotation_only_patch_bumps_resource_version_not_generation(server, apps):
    # GIVEN a rolled-out deployment
    before = server.add_deployment(NS, "scorer", OLD)

    # WHEN only an annotation is patched
    body = {"metadata": {"annotations": {"kubernetes.io/change-cause": "promote model v7"}}}
    patched = apps.patch_namespaced_deployment("scorer", NS, body)

    # THEN the object changed but no rollout started
    assert patched.metadata.resource_version != before["metadata"]["resourceVersion"]
    assert (patched.metadata.generation, patched.metadata.annotations[REVISION]) == (1, "1")
    assert patched.metadata.annotations["kubernetes.io/change-cause"] == "promote model v7"
    assert len(server.replicasets(NS)) == 1
    assert rollout_state(apps.read_namespaced_deployment("scorer", NS)) == "complete"
    # AND patching the same again writes nothing
    again = apps.patch_namespaced_deployment("scorer", NS, body)
    assert again.metadata.resource_version == patched.metadata.resource_version


def test_failing_json_patch_test_op_answers_422_and_changes_nothing(server, apps):
    # GIVEN a deployment
    before = server.add_deployment(NS, "scorer", OLD)

    # WHEN a JSON patch replaces the image but its `test` op does not hold
    ops = [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": NEW},
        {"op": "test", "path": "/metadata/annotations/deployment.kubernetes.io~1revision", "value": "7"},
    ]
    with pytest.raises(ApiException) as raised:
        apps.patch_namespaced_deployment("scorer", NS, ops)

    # THEN it is 422 Invalid, and nothing was applied
    assert raised.value.status == 422
    assert json.loads(raised.value.body)["reason"] == "Invalid"
    assert server.deployment(NS, "scorer") == before
    # AND the same patch with a `test` that holds goes through
    ops[1]["value"] = "1"
    assert apps.patch_namespaced_deployment("scorer", NS, ops).metadata.annotations[REVISION] == "2"


def test_stale_resource_version_in_a_patch_is_a_409_conflict(server, apps):
    # GIVEN a deployment read once, then changed by someone else
    server.add_deployment(NS, "scorer", OLD)
    stale = apps.read_namespaced_deployment("scorer", NS).metadata.resource_version
    apps.patch_namespaced_deployment("scorer", NS, {"metadata": {"labels": {"owner": "other"}}})

    # WHEN a patch carries the old resourceVersion
    body = {"metadata": {"resourceVersion": stale}, **image_patch(NEW)}
    with pytest.raises(ApiException) as raised:
        apps.patch_namespaced_deployment("scorer", NS, body)

    # THEN it is a conflict, and the image is unchanged
    assert raised.value.status == 409
    assert json.loads(raised.value.body)["reason"] == "Conflict"
    assert server.deployment(NS, "scorer")["spec"]["template"]["spec"]["containers"][0]["image"] == OLD


def test_unknown_paths_and_bad_bodies_answer_status_objects(server):
    # GIVEN a running server with one deployment
    server.add_deployment(NS, "scorer", OLD)

    def call(method: str, path: str, body: bytes | None = None, content_type: str = STRATEGIC) -> tuple[int, dict]:
        request = urllib.request.Request(server.url + path, data=body, method=method)
        request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    # WHEN paths it does not serve, a body that is not JSON, or a watch it does not model are asked for
    # THEN each answers a Status object with the right code
    target = f"/apis/apps/v1/namespaces/{NS}/deployments/scorer"
    assert call("GET", "/api/v1/namespaces/ml/pods")[1]["code"] == 404
    assert call("DELETE", target)[1]["reason"] == "NotFound"
    assert call("PATCH", target, b"{not json")[0] == 400
    assert call("PATCH", target, b"{}", content_type="application/apply-patch+yaml")[0] == 415
    assert call("GET", f"/apis/apps/v1/namespaces/{NS}/replicasets?watch=true")[0] == 400
    assert call("GET", f"/apis/apps/v1/namespaces/{NS}/deployments?fieldSelector=status.phase%3DRunning")[0] == 400
    assert call("GET", target + "/status")[1]["kind"] == "Deployment"


def test_over_tls_the_client_trusts_only_the_servers_ca_and_watches_a_rollout_to_its_end():
    # GIVEN the server over HTTPS and a Deployment whose image then changes
    with KubernetesApiServer(token="t0ken", tls=True) as server:
        assert server.url.startswith("https://")
        server.add_deployment(NS, "scorer", OLD)
        with server.client() as api_client:
            apps = client.AppsV1Api(api_client)
            apps.patch_namespaced_deployment("scorer", NS, _containers_patch(NEW))

            # WHEN the client watches it (as kubectl rollout status does, by a field selector)
            from kubernetes import watch

            events = []
            for event in watch.Watch().stream(
                apps.list_namespaced_deployment, NS, field_selector="metadata.name=scorer", timeout_seconds=10
            ):
                events.append(event)
                status = event["object"].status
                if status.updated_replicas == 2 and status.available_replicas == 2:
                    break

        # THEN each event is a MODIFIED Deployment, each a step further, ending rolled out
        assert {e["type"] for e in events} == {"MODIFIED"} and len(events) >= 2
        versions = [int(e["object"].metadata.resource_version) for e in events]
        assert versions == sorted(set(versions))
        # and a client that does not trust the CA is refused at the handshake
        import ssl

        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(server.url + "/version", timeout=5, context=ssl.create_default_context())
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def _containers_patch(image: str) -> dict:
    return {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
