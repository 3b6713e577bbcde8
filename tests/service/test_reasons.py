"""Pending reasons as the loop stores them: the JSON the API shows, written only when changed."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from scheduler.backends.standalone import apply
from scheduler.core.decisions import PendingReason, ReasonItem, WaitKind
from scheduler.protocol import PendingReasonJson, ReasonItemJson
from scheduler.store import jobs
from scheduler.store.db import session_factory
from scheduler.store.tables import JobRow, QueueRow
from tests.support.seed import submit_row


def _seed(engine: Engine, job_ids: list[str]) -> None:
    with session_factory(engine)() as session:
        session.add(QueueRow(name="q", deserved_milli=0, created_at=0.0))
        session.flush()
        jobs.add_many(session, [submit_row(job_id) for job_id in job_ids])
        session.commit()


def _write(engine: Engine, reasons: dict[str, PendingReason], seen: dict[str, PendingReason]) -> None:
    with session_factory(engine)() as session:
        apply.write_reasons(session, reasons, seen)
        session.commit()


def _stored(engine: Engine) -> dict[str, object]:
    with session_factory(engine)() as session:
        return dict(session.execute(select(JobRow.id, JobRow.reason)).all())


def test_reasons_are_stored_as_the_api_shows_them_and_rewritten_only_when_changed(
    engine: Engine,
) -> None:
    _seed(engine, ["a", "b", "c"])
    gpus = ReasonItem("gpus", "no node has 2 free GPUs", {"needed": 2, "best_node": "n1"})
    counts = {"gpus": 3}
    a = PendingReason(WaitKind.UNSCHEDULABLE, (gpus, ReasonItem("jobs-ahead", "1 job ahead",
                                                               {"jobs_ahead": 1})), counts)
    # b shares a's items and node counts (as explain's memo makes them); data need not be flat
    b = PendingReason(WaitKind.UNSCHEDULABLE, (gpus, ReasonItem("gpu-model", "no H100",
                                                               {"models": ("H100",)})), counts)
    seen: dict[str, PendingReason] = {}
    _write(engine, {"a": a, "b": b}, seen)
    stored = _stored(engine)
    assert stored["a"] == {
        "kind": "unschedulable",
        "summary": "no node has 2 free GPUs",
        "items": [
            {"code": "gpus", "message": "no node has 2 free GPUs",
             "data": {"needed": 2, "best_node": "n1"}},
            {"code": "jobs-ahead", "message": "1 job ahead", "data": {"jobs_ahead": 1}},
        ],
        "node_failures": {"gpus": 3},
    }
    assert stored["b"]["items"][1]["data"] == {"models": ["H100"]}  # type: ignore[index]
    assert stored["c"] is None
    # An unchanged reason is not written again: a value changed behind the loop's back stays.
    with session_factory(engine)() as session:
        session.execute(update(JobRow).where(JobRow.id == "a").values(reason={"summary": "x"}))
        session.commit()
    _write(engine, {"a": a, "b": b}, seen)
    assert _stored(engine)["a"] == {"summary": "x"}
    # A job that stopped waiting is forgotten: were it to wait again, its reason is rewritten.
    _write(engine, {"b": b}, seen)
    assert set(seen) == {"b"}
    _write(engine, {"a": a, "b": b}, seen)
    assert _stored(engine)["a"]["kind"] == "unschedulable"  # type: ignore[index]


def test_only_pending_jobs_get_a_reason(engine: Engine) -> None:
    _seed(engine, ["a"])
    with session_factory(engine)() as session:
        session.execute(update(JobRow).values(status="cancelled"))
        session.commit()
    reason = PendingReason(WaitKind.UNRESOLVABLE, (ReasonItem("too-large", "too large", {}),))
    _write(engine, {"a": reason}, {})
    assert _stored(engine)["a"] is None


def _model_of(reason: PendingReason) -> PendingReasonJson:
    """The protocol's model of a reason, built field by field with no shortcut."""
    return PendingReasonJson(
        kind=reason.kind,
        summary=reason.summary,
        items=[ReasonItemJson(code=i.code, message=i.message, data=dict(i.data))
               for i in reason.items],
        node_failures=dict(reason.node_failures),
    )


def test_the_fast_writer_writes_exactly_the_protocol_models_json() -> None:
    shared = ReasonItem("gpus", "no node has 2 free GPUs — «H100»", {"needed": 2, "best": None})
    counts = {"gpus": 3, "cpu": 1}
    reasons = {
        "a": PendingReason(WaitKind.UNSCHEDULABLE, (shared,), counts),
        # shares `a`'s item and counts, as explain's memo makes them; then one of its own
        "b": PendingReason(WaitKind.UNSCHEDULABLE,
                           (shared, ReasonItem("ahead", 'say "1"\n', {"ahead": 1.5})), counts),
        "c": PendingReason(WaitKind.UNRESOLVABLE, (ReasonItem("too-large", "too large", {}),)),
        "d": PendingReason(WaitKind.UNSCHEDULABLE, ()),  # no items: the summary is "waiting"
    }
    texts = apply.reason_texts(reasons)
    for job_id, reason in reasons.items():
        model = _model_of(reason)
        assert texts[job_id] == model.model_dump_json()
        assert PendingReasonJson.model_validate_json(texts[job_id]) == model
