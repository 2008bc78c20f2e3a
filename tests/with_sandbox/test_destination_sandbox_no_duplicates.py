"""Writing against the embedded sandbox, no duplicates: a commit that loses its answer, and no
duplicate external_id whatever the batch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from with_sandbox.writing import open_session, requisition, stored, unique, vendor, write

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.sandbox import Fault, Sandbox


@pytest.fixture
def session(sandbox: Sandbox) -> Iterator[ProcurifySession]:
    with open_session(sandbox) as opened:
        yield opened


def test_a_commit_that_loses_its_answer_creates_exactly_one(
    sandbox: Sandbox, session: ProcurifySession
) -> None:
    posts_before = len(sandbox.requests_to("/api/v3/vendors", method="POST"))
    sandbox.inject(Fault("commit_then_drop", method="POST", path="/api/v3/vendors"))
    key = unique("EXT")
    [result] = write(session, {"resource": "vendors", "operation": "create"}, [vendor(key)])
    assert result.status == "created", result.error
    matching = [r for r in stored(sandbox, "vendors") if r.get("external_id") == key]
    assert len(matching) == 1
    assert result.id == matching[0]["id"]
    assert len(sandbox.requests_to("/api/v3/vendors", method="POST")) == posts_before + 1


def test_a_dropped_commit_without_lookup_is_failed_not_repeated(
    sandbox: Sandbox, session: ProcurifySession
) -> None:
    created_before = sandbox.created("requisitions")
    posts_before = len(sandbox.requests_to("/api/v3/requisitions", method="POST"))
    sandbox.inject(Fault("commit_then_drop", method="POST", path="/api/v3/requisitions"))
    [result] = write(session, {"resource": "requisitions", "operation": "create"}, [requisition()])
    assert result.status == "failed"
    assert "may have been created" in (result.error or "")
    assert len(sandbox.requests_to("/api/v3/requisitions", method="POST")) == posts_before + 1
    assert sandbox.created("requisitions") == created_before + 1


def test_an_uncertain_create_of_an_existing_key_is_rejected_and_changes_nothing(
    sandbox: Sandbox, session: ProcurifySession
) -> None:
    """The key belongs to an older vendor: the lookup after a 502 finds it, which is no proof
    that this POST created it."""
    existing = dict(stored(sandbox, "vendors")[0])
    count = len(stored(sandbox, "vendors"))
    sandbox.inject(Fault("status", status=502, method="POST", path="/api/v3/vendors"))
    [result] = write(
        session,
        {"resource": "vendors", "operation": "create"},
        [vendor(existing["external_id"], name="Totally different vendor")],
    )
    sandbox.faults.clear()
    assert result.status == "rejected", result
    assert f"already exists in Procurify (id {existing['id']})" in (result.error or "")
    assert len(stored(sandbox, "vendors")) == count
    unchanged = sandbox.record("vendors", existing["id"])
    assert unchanged is not None
    assert unchanged["name"] == existing["name"]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    keys=st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=12),
    names=st.lists(st.sampled_from(["x", "y"]), min_size=12, max_size=12),
    concurrency=st.integers(1, 8),
    drop_first_post=st.booleans(),
)
def test_random_upsert_batches_never_duplicate_an_external_id(
    sandbox: Sandbox,
    session: ProcurifySession,
    keys: list[str],
    names: list[str],
    concurrency: int,
    drop_first_post: bool,
) -> None:
    # The sandbox lives across examples: fresh keys per example make every key new here.
    prefix = unique("prop")
    if drop_first_post:
        sandbox.inject(Fault("commit_then_drop", method="POST", path="/api/v3/vendors"))
    records = [
        vendor(f"{prefix}-{key}", name=f"{key}-{name}")
        for key, name in zip(keys, names, strict=False)
    ]
    distinct = {record["external_id"] for record in records}
    creates_before = sandbox.created("vendors")
    posts_before = len(sandbox.requests_to("/api/v3/vendors", method="POST"))
    results = write(
        session, {"resource": "vendors", "operation": "upsert", "concurrency": concurrency}, records
    )
    sandbox.faults.clear()
    assert [r.index for r in results] == list(range(len(records)))
    assert all(r.status in ("created", "updated", "unchanged") for r in results), results
    # Exactly one "created" per key, and each key's results all name the same record.
    for key in distinct:
        mine = [
            r for r, record in zip(results, records, strict=True) if record["external_id"] == key
        ]
        assert [r.status for r in mine].count("created") == 1, mine
        assert mine[0].status == "created", mine
        assert len({r.id for r in mine}) == 1, mine
    # The sandbox refuses a duplicate external_id, so also count what was sent: exactly one
    # POST per new key (a commit whose answer was lost is found, never sent again) and one
    # stored creation per key.
    assert len(sandbox.requests_to("/api/v3/vendors", method="POST")) - posts_before == len(
        distinct
    )
    assert sandbox.created("vendors") - creates_before == len(distinct)
    stored_ids = {
        found["external_id"]: found["id"]
        for found in stored(sandbox, "vendors")
        if found.get("external_id") in distinct
    }
    assert stored_ids == {
        record["external_id"]: result.id for record, result in zip(records, results, strict=True)
    }
    last_name = {record["external_id"]: record["name"] for record in records}
    for found in stored(sandbox, "vendors"):
        if found.get("external_id") in last_name:
            assert found["name"] == last_name[found["external_id"]]
