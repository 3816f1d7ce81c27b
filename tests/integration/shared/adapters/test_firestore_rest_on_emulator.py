"""The REST Firestore client against the emulator, with google-cloud-firestore as the oracle.

What one client writes the other reads identically; conditional writes fail as the SDK's do; batches are
all or nothing; queries and listings return what the SDK's return.
"""

from __future__ import annotations

import math
import os
import string
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.adapters.firestore_rest import (
    AlreadyExists,
    FailedPrecondition,
    FirestoreRest,
    NotFound,
)
from shared.adapters.google_rest import FixedToken, GoogleApi, JsonHttp, emulator_base, parse_rfc3339
from tests.integration.conftest import PROJECT
from tests.support.firestore_values import same

pytestmark = pytest.mark.integration

FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def rest(firestore_db: Any) -> FirestoreRest:
    api = GoogleApi(emulator_base(os.environ["FIRESTORE_EMULATOR_HOST"]) + "v1/", FixedToken("owner"), JsonHttp())
    return FirestoreRest(api, PROJECT)


# -- strategies ------------------------------------------------------------------------------------
def _field_name(name: str) -> bool:
    """Firestore refuses empty names and names like __x__ (reserved)."""
    return bool(name) and not (name.startswith("__") and name.endswith("__") and len(name) >= 4)


hex_hashes = st.from_regex(r"[0-9a-f]{2,12}", fullmatch=True)  # often starting with a digit: quoted in paths
awkward = st.sampled_from(["a.b", "x-y", "0", "with space", "é", "back`tick", "back\\slash", "v1.2-rc"])
keys = (
    hex_hashes | awkward | st.from_regex(r"[A-Za-z_][A-Za-z_0-9]{0,6}", fullmatch=True) | st.text(max_size=8)
).filter(_field_name)
zones = st.none() | st.just(UTC) | st.integers(-(23 * 60), 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30), timezones=zones)
)
# Firestore arrays cannot hold arrays directly: a list's items are scalars or maps.
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(scalars | st.dictionaries(keys, inner, max_size=3), max_size=3)
        | st.dictionaries(keys, inner, max_size=3)
    ),
    max_leaves=10,
)
documents = st.dictionaries(keys, values, max_size=5)
nested_maps = st.recursive(
    st.dictionaries(keys, scalars, max_size=3),
    lambda inner: st.dictionaries(keys, inner | scalars, max_size=3),
    max_leaves=8,
)


def stored(value: Any, *, over_rest: bool = False) -> Any:
    """What Firestore gives back for `value`: aware UTC datetimes (naive ones read as UTC).

    `over_rest`: written through the emulator's REST (JSON) front end, which stores -0.0 as 0.0 however it is
    spelled ("-0.0", -0.0, "-0"); the SDK's gRPC writes keep the sign. The unit tests check we send -0.0.
    """
    if isinstance(value, float) and value == 0 and over_rest:
        return 0.0
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dict):
        return {k: stored(v, over_rest=over_rest) for k, v in value.items()}
    if isinstance(value, list):
        return [stored(v, over_rest=over_rest) for v in value]
    return value


def fresh_id() -> str:
    return uuid.uuid4().hex


# -- writes read back by the other client ----------------------------------------------------------
@FEW
@given(data=documents)
def test_rest_set_reads_back_identically_with_the_sdk(rest: FirestoreRest, firestore_db: Any, data: dict) -> None:
    # GIVEN any document (nested maps with awkward keys, lists, NaN, -0.0, bytes, naive and aware datetimes)
    doc_id = fresh_id()

    # WHEN the REST client sets it
    rest.collection("docs").document(doc_id).set(data)

    # THEN the SDK reads back exactly that document, and so does the REST client
    theirs = firestore_db.collection("docs").document(doc_id).get().to_dict()
    assert same(theirs, stored(data, over_rest=True)), (theirs, data)
    ours = rest.collection("docs").document(doc_id).get()
    assert ours.exists and ours.id == doc_id
    assert same(ours.to_dict(), theirs)


@FEW
@given(data=documents)
def test_sdk_set_reads_back_identically_with_rest(rest: FirestoreRest, firestore_db: Any, data: dict) -> None:
    # GIVEN any document written by the SDK
    doc_id = fresh_id()
    firestore_db.collection("docs").document(doc_id).set(data)

    # WHEN the REST client reads it
    snapshot = rest.collection("docs").document(doc_id).get()

    # THEN it is what the SDK reads, with the same update time (to the microsecond)
    theirs = firestore_db.collection("docs").document(doc_id).get()
    assert same(snapshot.to_dict(), theirs.to_dict()), (snapshot.to_dict(), theirs.to_dict())
    assert snapshot.update_time is not None
    assert parse_rfc3339(snapshot.update_time) == theirs.update_time


def test_a_missing_document_reads_as_missing(rest: FirestoreRest) -> None:
    # GIVEN no document WHEN the REST client reads it THEN it does not exist, as in the SDK
    snapshot = rest.collection("docs").document("nothing-here").get()
    assert not snapshot.exists
    assert snapshot.to_dict() is None
    assert snapshot.update_time is None


def test_create_writes_once_then_raises_already_exists(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN a document created by the REST client
    ref = rest.collection("docs").document("once")
    ref.create({"n": 1, "m": {"0abc": "x"}})
    assert firestore_db.collection("docs").document("once").get().to_dict() == {"n": 1, "m": {"0abc": "x"}}

    # WHEN it is created again THEN AlreadyExists is raised, as the SDK's Conflict, and the first write stays
    with pytest.raises(AlreadyExists):
        ref.create({"n": 2})
    with pytest.raises(gexc.Conflict):
        firestore_db.collection("docs").document("once").create({"n": 3})
    assert firestore_db.collection("docs").document("once").get().to_dict() == {"n": 1, "m": {"0abc": "x"}}


@FEW
@given(base=nested_maps, patch=nested_maps)
def test_set_merge_is_the_sdks_merge(rest: FirestoreRest, firestore_db: Any, base: dict, patch: dict) -> None:
    # GIVEN the same document twice (nested maps keyed by hex hashes, dotted and dashed names)
    ours, theirs = fresh_id(), fresh_id()
    firestore_db.collection("docs").document(ours).set(base)
    firestore_db.collection("docs").document(theirs).set(base)

    # WHEN one is merged into by the REST client and the other by the SDK
    rest.collection("docs").document(ours).set(patch, merge=True)
    firestore_db.collection("docs").document(theirs).set(patch, merge=True)

    # THEN both documents are the same: sibling fields of nested maps kept, leaves replaced
    got = firestore_db.collection("docs").document(ours).get().to_dict()
    want = firestore_db.collection("docs").document(theirs).get().to_dict()
    assert same(stored(got, over_rest=True), stored(want, over_rest=True)), (got, want)  # -0.0: see stored()


@FEW
@given(patch=nested_maps)
def test_set_merge_creates_a_missing_document_as_the_sdk_does(
    rest: FirestoreRest, firestore_db: Any, patch: dict
) -> None:
    # GIVEN no document WHEN the REST client and the SDK each merge into one
    ours, theirs = fresh_id(), fresh_id()
    rest.collection("docs").document(ours).set(patch, merge=True)
    firestore_db.collection("docs").document(theirs).set(patch, merge=True)

    # THEN both exist with the same content
    got, want = (firestore_db.collection("docs").document(i).get() for i in (ours, theirs))
    assert got.exists == want.exists
    assert same(stored(got.to_dict(), over_rest=True), stored(want.to_dict(), over_rest=True))  # -0.0: stored()


def test_set_merge_keeps_siblings_of_quoted_keys(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN per-hash entries in a nested map, under keys that need quoting in a field path
    ref = rest.collection("docs").document("hashes")
    ref.set({"by_hash": {"0a1b": {"n": 1}, "ff.ee": {"n": 2}, "x-y": {"n": 3}}, "other": True})

    # WHEN one entry is merged in and one changed
    ref.set({"by_hash": {"9f00": {"n": 4}, "ff.ee": {"seen": True}}}, merge=True)

    # THEN the other entries and fields are kept, as the SDK's merge keeps them
    assert firestore_db.collection("docs").document("hashes").get().to_dict() == {
        "by_hash": {"0a1b": {"n": 1}, "ff.ee": {"n": 2, "seen": True}, "x-y": {"n": 3}, "9f00": {"n": 4}},
        "other": True,
    }


# -- update ----------------------------------------------------------------------------------------
segment = st.from_regex(r"[0-9a-f]{1,6}|[A-Za-z_][A-Za-z_0-9]{0,5}|[a-z]{1,3}-[a-z]{1,3}", fullmatch=True)
paths = st.lists(st.lists(segment, min_size=1, max_size=3).map(tuple), min_size=1, max_size=4, unique=True).filter(
    lambda ps: not any(a != b and b[: len(a)] == a for a in ps for b in ps)  # no path inside another
)


@FEW
@example(base={"A": {"v": 1.0}}, updates=[("A",)], value=-0.0)  # CI's first failure: the emulator's -0.0
@given(base=nested_maps, updates=paths, value=values)
def test_update_with_dotted_paths_is_the_sdks_update(
    rest: FirestoreRest, firestore_db: Any, base: dict, updates: list[tuple[str, ...]], value: Any
) -> None:
    # GIVEN the same document twice
    ours, theirs = fresh_id(), fresh_id()
    firestore_db.collection("docs").document(ours).set(base)
    firestore_db.collection("docs").document(theirs).set(base)
    changes = {".".join(p): {"v": value, "i": i} for i, p in enumerate(updates)}

    # WHEN one is updated by dotted field paths (hex segments starting with a digit, dashes) by the REST
    # client and the other by the SDK
    rest.collection("docs").document(ours).update(changes)
    firestore_db.collection("docs").document(theirs).update(changes)

    # THEN both documents are the same
    got = firestore_db.collection("docs").document(ours).get().to_dict()
    want = firestore_db.collection("docs").document(theirs).get().to_dict()
    assert same(stored(got, over_rest=True), stored(want, over_rest=True)), (got, want)  # -0.0: see stored()


def test_update_with_a_backtick_quoted_segment_is_the_sdks(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN a document with a map keyed by names holding dots
    for doc_id in ("ours", "theirs"):
        firestore_db.collection("docs").document(doc_id).set({"m": {"x.y": 1, "k": 2}})

    # WHEN the field `x.y` of the map is updated through a quoted path by each client
    rest.collection("docs").document("ours").update({"m.`x.y`": 5})
    firestore_db.collection("docs").document("theirs").update({"m.`x.y`": 5})

    # THEN both change that entry only
    want = {"m": {"x.y": 5, "k": 2}}
    assert firestore_db.collection("docs").document("theirs").get().to_dict() == want
    assert firestore_db.collection("docs").document("ours").get().to_dict() == want


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            {"a.b": 1, "a": 2},
            id="nested-first",
        ),
        pytest.param({"a": 2, "a.b": 1}, id="outer-first"),
    ],
)
def test_update_with_a_path_inside_another_is_refused(
    rest: FirestoreRest, firestore_db: Any, changes: dict[str, int]
) -> None:
    # GIVEN a document
    firestore_db.collection("docs").document("d").set({"a": {"b": 0, "c": 0}})

    # WHEN updated with a path and a path inside it, by either client
    # THEN both refuse before writing, and the document is unchanged
    with pytest.raises((ValueError, TypeError)):
        firestore_db.collection("docs").document("d").update(changes)
    with pytest.raises((ValueError, TypeError)):
        rest.collection("docs").document("d").update(changes)
    assert firestore_db.collection("docs").document("d").get().to_dict() == {"a": {"b": 0, "c": 0}}


def test_update_replaces_a_whole_map_and_keeps_other_fields(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN a document with a map and another field
    firestore_db.collection("docs").document("d").set({"m": {"a": 1, "b": 2}, "keep": "me"})

    # WHEN the map is updated with a map value (not a dotted path)
    rest.collection("docs").document("d").update({"m": {"c": 3}, "n.deep": None})

    # THEN the map is replaced, a new nested field made, and other fields kept, as SDK's update does
    assert firestore_db.collection("docs").document("d").get().to_dict() == {
        "m": {"c": 3},
        "n": {"deep": None},
        "keep": "me",
    }


def test_update_of_a_missing_document_raises_not_found(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN no document WHEN the REST client updates it
    # THEN NotFound is raised, as the SDK's, and no document is made
    with pytest.raises(NotFound):
        rest.collection("docs").document("missing").update({"a": 1})
    with pytest.raises(gexc.NotFound):
        firestore_db.collection("docs").document("missing").update({"a": 1})
    assert not firestore_db.collection("docs").document("missing").get().exists


# -- preconditions ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reader", ["rest", "sdk"])
def test_write_option_refuses_a_stale_update_and_delete(rest: FirestoreRest, firestore_db: Any, reader: str) -> None:
    # GIVEN a document read (by either client), then written again by another
    sdk_ref = firestore_db.collection("docs").document("guarded")
    sdk_ref.set({"v": 1})
    if reader == "rest":
        stale = rest.collection("docs").document("guarded").get().update_time
    else:
        stale = sdk_ref.get().update_time.isoformat().replace("+00:00", "Z")
    sdk_ref.set({"v": 2})
    option = rest.write_option(last_update_time=stale)
    ref = rest.collection("docs").document("guarded")

    # WHEN the REST client updates or deletes it on the stale update time
    # THEN both raise FailedPrecondition and the document is unchanged
    with pytest.raises(FailedPrecondition):
        ref.update({"v": 3}, option=option)
    with pytest.raises(FailedPrecondition):
        ref.delete(option=option)
    assert sdk_ref.get().to_dict() == {"v": 2}

    # AND the SDK refuses the same stale write the same way
    with pytest.raises(gexc.FailedPrecondition):
        sdk_ref.update({"v": 3}, option=firestore_db.write_option(last_update_time=parse_rfc3339(stale)))


def test_write_option_accepts_the_current_update_time(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN a document and its current update time as the REST client read it
    ref = rest.collection("docs").document("guarded")
    ref.set({"v": 1})
    current = ref.get().update_time

    # WHEN updated on that time THEN it is written; WHEN then deleted on the new time THEN it is gone
    ref.update({"v": 2}, option=rest.write_option(last_update_time=current))
    assert firestore_db.collection("docs").document("guarded").get().to_dict() == {"v": 2}
    ref.delete(option=rest.write_option(last_update_time=ref.get().update_time))
    assert not firestore_db.collection("docs").document("guarded").get().exists


def test_write_option_on_a_missing_document_raises(rest: FirestoreRest) -> None:
    # GIVEN a snapshot of no document WHEN its (absent) update time is made an option THEN it raises
    with pytest.raises(ValueError):
        rest.write_option(last_update_time=rest.collection("docs").document("none").get().update_time)


def test_delete_of_a_missing_document_succeeds_as_in_the_sdk(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN no document WHEN both clients delete it THEN neither raises
    rest.collection("docs").document("none").delete()
    firestore_db.collection("docs").document("none").delete()
    assert not firestore_db.collection("docs").document("none").get().exists


# -- batches ---------------------------------------------------------------------------------------
def test_a_batch_writes_everything_together(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN documents to update and delete
    firestore_db.collection("docs").document("u").set({"n": 1, "m": {"0f": 1}})
    firestore_db.collection("docs").document("gone").set({"n": 1})

    # WHEN one batch creates, sets, merges, updates and deletes
    batch = rest.batch()
    batch.create(rest.collection("docs").document("c"), {"n": 1})
    batch.set(rest.collection("docs").document("s"), {"n": 2})
    batch.set(rest.collection("docs").document("u"), {"m": {"1e": 2}}, merge=True)
    batch.update(rest.collection("docs").document("u"), {"n": 5})
    batch.delete(rest.collection("docs").document("gone"))
    batch.commit()

    # THEN the SDK sees every write, applied in order
    docs = {d.id: d.to_dict() for d in firestore_db.collection("docs").stream()}
    assert docs == {"c": {"n": 1}, "s": {"n": 2}, "u": {"n": 5, "m": {"0f": 1, "1e": 2}}}


@pytest.mark.parametrize("failing", ["create-existing", "update-missing", "stale-update", "stale-delete"])
def test_a_batch_with_one_failing_precondition_writes_nothing(
    rest: FirestoreRest, firestore_db: Any, failing: str
) -> None:
    # GIVEN a document, a stale update time for it, and no document "missing"
    sdk_docs = firestore_db.collection("docs")
    sdk_docs.document("exists").set({"v": 1})
    stale = rest.collection("docs").document("exists").get().update_time
    sdk_docs.document("exists").set({"v": 2})
    sdk_docs.document("other").set({"v": 1})
    existing, missing = rest.collection("docs").document("exists"), rest.collection("docs").document("missing")

    # WHEN a batch holds good writes and one whose precondition fails
    batch = rest.batch()
    batch.set(rest.collection("docs").document("new"), {"v": 1})
    batch.update(rest.collection("docs").document("other"), {"touched": True})
    expected: type[Exception]
    if failing == "create-existing":
        batch.create(existing, {"v": 9})
        expected = AlreadyExists
    elif failing == "update-missing":
        batch.update(missing, {"v": 9})
        expected = NotFound
    elif failing == "stale-update":
        batch.update(existing, {"v": 9}, option=rest.write_option(last_update_time=stale))
        expected = FailedPrecondition
    else:
        batch.delete(existing, option=rest.write_option(last_update_time=stale))
        expected = FailedPrecondition
    batch.set(rest.collection("docs").document("after"), {"v": 1})

    # THEN the commit raises that precondition's error and none of the batch is written
    with pytest.raises(expected):
        batch.commit()
    assert {d.id: d.to_dict() for d in sdk_docs.stream()} == {"exists": {"v": 2}, "other": {"v": 1}}


def test_an_empty_batch_commits_nothing(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN an empty batch WHEN committed THEN nothing is written and nothing raises
    rest.batch().commit()
    assert list(firestore_db.collection("docs").stream()) == []


# -- queries ---------------------------------------------------------------------------------------
@pytest.fixture
def population(firestore_db: Any) -> Any:
    """Twenty documents written by the SDK, with repeating values to filter on."""
    batch = firestore_db.batch()
    for i in range(20):
        batch.set(
            firestore_db.collection("pop").document(f"p{i:02d}"),
            {
                "k": i % 4,
                "s": ["red", "green", "blue"][i % 3],
                "flag": i % 2 == 0,
                "at": datetime(2026, 1, 1 + i % 5, tzinfo=UTC),
                "m": {"0a": i % 3, "lvl": {"x": i % 2}},
                "other": f"o{i}",
            },
        )
    # And one in a subcollection of the same name, which a collection query does not return
    batch.set(firestore_db.collection("pop").document("p00").collection("pop").document("sub"), {"k": 0})
    batch.commit()
    return firestore_db


filters = st.tuples(
    st.sampled_from(["k", "m.`0a`", "m.lvl.x"]),
    st.sampled_from(["==", "<", "<=", ">", ">="]),
    st.integers(-1, 4),
) | st.tuples(
    st.sampled_from(["s", "flag", "at"]),
    st.just("=="),
    st.sampled_from(["red", "blue", "nope", True, False, datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 9)]),
)


@FEW
@given(
    conditions=st.lists(filters, min_size=1, max_size=3),
    selected=st.none() | st.sampled_from([["k"], ["s", "m.lvl"], ["m.`0a`", "other"]]),
)
def test_where_select_stream_match_the_sdk(
    rest: FirestoreRest, population: Any, conditions: list[tuple[str, str, Any]], selected: list[str] | None
) -> None:
    # GIVEN the population and a query of one filter or an AND of several, with or without select
    ours, theirs = rest.collection("pop"), population.collection("pop")
    equality_only = [c for c in conditions if c[1] == "=="] or conditions[:1]  # the emulator allows either
    for field, op, value in equality_only:
        ours, theirs = ours.where(field, op, value), theirs.where(filter=FieldFilter(field, op, value))
    if selected is not None:
        ours, theirs = ours.select(selected), theirs.select(selected)

    # WHEN both clients stream it
    got = {d.id: d.to_dict() for d in ours.stream()}
    want = {d.id: d.to_dict() for d in theirs.stream()}

    # THEN they return the same documents with the same fields
    assert same(got, want), (equality_only, selected, got, want)


def test_query_references_are_the_documents(rest: FirestoreRest, population: Any) -> None:
    # GIVEN the population WHEN queried by the REST client
    snapshots = rest.collection("pop").where("k", "==", 1).where("s", "==", "green").get()

    # THEN each result's reference is its document: it reads back the same, by path
    assert (
        [s.id for s in snapshots]
        == ["p01", "p13"]
        == [
            d.id
            for d in population.collection("pop")
            .where(filter=FieldFilter("k", "==", 1))
            .where(filter=FieldFilter("s", "==", "green"))
            .stream()
        ]
    )
    assert snapshots[0].reference.path == "pop/p01"
    assert snapshots[0].reference.get().to_dict() == snapshots[0].to_dict()
    assert snapshots[0].get("m.lvl.x") == population.collection("pop").document("p01").get().get("m.lvl.x") == 1


def test_a_subcollection_query_returns_only_its_documents(rest: FirestoreRest, population: Any) -> None:
    # GIVEN a subcollection with the same id as a root collection WHEN it is queried
    got = [(d.reference.path, d.to_dict()) for d in rest.collection("pop").document("p00").collection("pop").stream()]

    # THEN only its document comes back, as from the SDK
    want = [(d.reference.path, d.to_dict()) for d in population.document("pop/p00").collection("pop").stream()]
    assert got == want == [("pop/p00/pop/sub", {"k": 0})]


def test_limit_returns_that_many(rest: FirestoreRest, population: Any) -> None:
    # GIVEN the population WHEN a query is limited THEN it returns at most that many of its matches
    got = [d.id for d in rest.collection("pop").where("flag", "==", True).limit(3).stream()]
    assert len(got) == 3
    assert set(got) <= {f"p{i:02d}" for i in range(0, 20, 2)}


def test_where_equal_none_matches_the_sdk(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN one document whose field is null and one whose field is set
    firestore_db.collection("n").document("null").set({"x": None})
    firestore_db.collection("n").document("set").set({"x": 1})

    # WHEN both clients query for x == None THEN both return the null one
    want = [d.id for d in firestore_db.collection("n").where(filter=FieldFilter("x", "==", None)).stream()]
    assert want == ["null"]
    assert [d.id for d in rest.collection("n").where("x", "==", None).stream()] == want


def test_where_equal_nan_matches_the_sdk(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN one document whose field is NaN and one whose field is a number
    firestore_db.collection("n").document("nan").set({"x": math.nan})
    firestore_db.collection("n").document("num").set({"x": 1.0})

    # WHEN both clients query for x == NaN THEN both return the NaN one
    want = [d.id for d in firestore_db.collection("n").where(filter=FieldFilter("x", "==", math.nan)).stream()]
    assert want == ["nan"]
    assert [d.id for d in rest.collection("n").where("x", "==", math.nan).stream()] == want


# -- listing and ids -------------------------------------------------------------------------------
def test_list_documents_includes_documents_that_only_hold_subcollections(
    rest: FirestoreRest, firestore_db: Any
) -> None:
    # GIVEN a document and a missing document that only holds a subcollection
    firestore_db.collection("models").document("plain").set({"a": 1})
    firestore_db.collection("models").document("only-sub").collection("envs").document("dev").set({"v": 1})

    # WHEN the REST client lists the collection
    got = sorted(r.id for r in rest.collection("models").list_documents())

    # THEN both are listed, as the SDK lists them, and each reference reads as the SDK reads it
    assert got == sorted(r.id for r in firestore_db.collection("models").list_documents()) == ["only-sub", "plain"]
    assert not rest.collection("models").document("only-sub").get().exists
    assert [r.path for r in rest.collection("models").document("only-sub").collection("envs").list_documents()] == [
        "models/only-sub/envs/dev"
    ]


def test_list_documents_pages_past_one_page(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN more documents than one page (300) holds
    ids = {f"d{i:04d}" for i in range(650)}
    for chunk in (sorted(ids)[:400], sorted(ids)[400:]):
        batch = firestore_db.batch()
        for doc_id in chunk:
            batch.set(firestore_db.collection("many").document(doc_id), {"i": doc_id})
        batch.commit()

    # WHEN listed THEN every one comes back once
    got = [r.id for r in rest.collection("many").list_documents()]
    assert len(got) == len(ids)
    assert set(got) == ids == {r.id for r in firestore_db.collection("many").list_documents()}


def test_list_documents_of_an_empty_collection_is_empty(rest: FirestoreRest) -> None:
    assert list(rest.collection("nothing").list_documents()) == []


def test_auto_ids_are_twenty_distinct_letters_and_digits(rest: FirestoreRest, firestore_db: Any) -> None:
    # GIVEN many automatic ids WHEN documents are created with them
    refs = [rest.collection("auto").document() for _ in range(200)]
    batch = rest.batch()
    for ref in refs[:20]:
        batch.create(ref, {"id": ref.id})
    batch.commit()

    # THEN each is 20 letters and digits, all distinct, and the documents are there under them
    assert all(len(r.id) == 20 and set(r.id) <= set(string.ascii_letters + string.digits) for r in refs)
    assert len({r.id for r in refs}) == len(refs)
    assert {d.id: d.to_dict()["id"] for d in firestore_db.collection("auto").stream()} == {
        r.id: r.id for r in refs[:20]
    }


@pytest.mark.parametrize("bad", ["", "a/b"])
def test_ids_with_a_slash_or_empty_are_refused(rest: FirestoreRest, bad: str) -> None:
    # GIVEN an id that is not one path segment WHEN used THEN it raises ValueError, as in the SDK
    with pytest.raises(ValueError):
        rest.collection("docs").document(bad)
    with pytest.raises(ValueError):
        rest.collection(bad)


document_ids = st.text(min_size=1, max_size=12).filter(
    lambda s: "/" not in s and s not in (".", "..") and not (s.startswith("__") and s.endswith("__"))
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@example(doc_id="q?x")
@example(doc_id="h#x")
@example(doc_id="p%41")
@example(doc_id="a b")
@example(doc_id="é")
@given(doc_id=document_ids)
def test_any_document_id_reads_back(rest: FirestoreRest, firestore_db: Any, doc_id: str) -> None:
    # GIVEN a document whose id is any text without a slash, written by the REST client
    rest.collection("ids").document(doc_id).set({"id": doc_id})
    assert firestore_db.collection("ids").document(doc_id).get().to_dict() == {"id": doc_id}

    # WHEN the REST client reads it (its name in a :batchGet body)
    snapshot = rest.collection("ids").document(doc_id).get()

    # THEN it is there, with its data
    assert snapshot.exists and snapshot.to_dict() == {"id": doc_id}
    # AND a subcollection under it lists. Listing puts the parent's id in the URL path, where the emulator
    # drops leading and trailing whitespace of a segment (`0%20` reads as `0`): our adapters list only the
    # root collection, so ids with such whitespace are left out of this part.
    if doc_id == doc_id.strip():
        firestore_db.collection("ids").document(doc_id).collection("sub").document("x").set({})
        listed = [r.path for r in rest.collection("ids").document(doc_id).collection("sub").list_documents()]
        assert listed == [f"ids/{doc_id}/sub/x"]
