"""The patch formats of the Kubernetes API test server, as pure functions (the server's tests drive them over HTTP)."""

from __future__ import annotations

import copy

import pytest

from tooling.localcloud.k8s_patch import PatchRejected, json_patch, merge_patch
from tooling.localcloud.k8s_strategic_merge import strategic_merge_patch

DEPLOYMENT = {
    "metadata": {"name": "scorer", "labels": {"app": "scorer", "tier": "ml"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [{"name": "app", "image": "old", "args": ["--a"]}, {"name": "side", "image": "proxy"}]
            }
        },
    },
}


def _containers(containers: list[dict]) -> dict:
    return {"spec": {"template": {"spec": {"containers": containers}}}}


def rejected(apply, *args) -> tuple[int, str]:
    with pytest.raises(PatchRejected) as raised:
        apply(*args)
    return raised.value.code, raised.value.message


def test_json_patch_applies_every_operation_to_a_copy():
    # GIVEN a deployment and a patch that tests, replaces, adds and removes
    doc = copy.deepcopy(DEPLOYMENT)
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "new"},
        {"op": "add", "path": "/metadata/labels/owner", "value": "team"},
        {"op": "remove", "path": "/spec/template/spec/containers/1"},
    ]

    # WHEN it is applied
    patched = json_patch(doc, ops)

    # THEN the result has every change, and the input is untouched
    assert patched["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": "new", "args": ["--a"]}]
    assert patched["metadata"]["labels"] == {"app": "scorer", "tier": "ml", "owner": "team"}
    assert doc == DEPLOYMENT


@pytest.mark.parametrize(
    ("ops", "code", "message"),
    [
        ({"op": "add"}, 400, "a JSON patch must be a list of operation objects"),
        ([{"op": "test", "path": "/spec/replicas", "value": 3}], 422, "testing value /spec/replicas failed"),
        ([{"op": "remove", "path": "/spec/paused"}], 422, "remove operation does not apply: doc is missing path"),
        ([{"op": "replace", "path": "/spec/template/spec/containers/5", "value": {}}], 422, "does not apply"),
        ([{"op": "add", "path": "spec", "value": 1}], 422, "invalid JSON pointer 'spec'"),
        ([{"op": "move", "from": "/spec", "path": "/x"}], 422, "invalid JSON patch: Unknown operation 'move'"),
        ([{"op": "copy", "from": "/spec", "path": "/x"}], 422, "invalid JSON patch: Unknown operation 'copy'"),
    ],
)
def test_json_patch_refuses_what_does_not_apply(ops, code, message):
    # GIVEN a patch that is malformed, fails its test, misses a path or uses an unmodeled operation
    # WHEN it is applied THEN it is refused with the API server's code, naming what failed
    got_code, got_message = rejected(json_patch, DEPLOYMENT, ops)
    assert got_code == code
    assert message in got_message


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists():
    # GIVEN a merge patch that changes a label, deletes one and sends a one-container list
    patch = {"metadata": {"labels": {"tier": None, "owner": "team"}}, **_containers([{"name": "app", "image": "new"}])}

    # WHEN it is applied
    patched = merge_patch(DEPLOYMENT, patch)

    # THEN maps merged, the null deleted, the list replaced whole; neither argument changed nor shared
    assert patched["metadata"]["labels"] == {"app": "scorer", "owner": "team"}
    assert patched["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": "new"}]
    assert patched["spec"]["replicas"] == 2
    patched["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "new"
    assert DEPLOYMENT["metadata"]["labels"]["tier"] == "ml"


def test_strategic_merge_merges_containers_by_name():
    # GIVEN a strategic patch naming one existing container (dropping a field) and one new one
    app, init = {"name": "app", "image": "new", "args": None}, {"name": "init", "image": "busybox", "x": None}
    patch = _containers([app, init])

    # WHEN it is applied
    patched = strategic_merge_patch(DEPLOYMENT, patch)

    # THEN the named container merged in place, the other kept, the new one appended without its nulls
    assert patched["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "new"},
        {"name": "side", "image": "proxy"},
        {"name": "init", "image": "busybox"},
    ]
    assert DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]["image"] == "old"


def test_strategic_merge_orders_containers_as_set_element_order_says():
    # GIVEN the patch `kubectl set image` computes: the changed container and the list's order
    spec = {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "new"}],
    }
    patch = {"spec": {"template": {"spec": spec}}}

    # WHEN it is applied
    patched = strategic_merge_patch(DEPLOYMENT, patch)

    # THEN the image changed and the containers are in the order given; an order alone only reorders
    assert patched["spec"]["template"]["spec"]["containers"] == [
        {"name": "side", "image": "proxy"},
        {"name": "app", "image": "new", "args": ["--a"]},
    ]
    order_only = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}]}}}}
    reordered = strategic_merge_patch(DEPLOYMENT, order_only)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in reordered] == ["side", "app"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"$retainKeys": ["replicas"]}}, "strategic merge directive $retainKeys is not modeled"),
        ({"spec": {"$setElementOrder/volumes": [{"name": "v"}]}}, "strategic merge directive $setElementOrder/volumes"),
        (
            {"spec": {"template": {"spec": {"$setElementOrder/containers": ["app"]}}}},
            "spec.template.spec.containers: $setElementOrder must list {name: ...} items",
        ),
        (_containers([{"name": "app", "$patch": "delete"}]), "strategic merge directive $patch is not modeled"),
        (_containers([{"image": "new"}]), "spec.template.spec.containers: element does not contain merge key: name"),
    ],
)
def test_strategic_merge_refuses_directives_and_items_without_a_name(patch, message):
    # GIVEN a strategic patch with a `$` directive or a container without its merge key
    # WHEN it is applied THEN it is a 400 saying why
    code, said = rejected(strategic_merge_patch, DEPLOYMENT, patch)
    assert (code, said.startswith(message)) == (400, True), said
