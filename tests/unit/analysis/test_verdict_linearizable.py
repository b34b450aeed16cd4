"""The `linearizable` SLO: a non-linearizable history fails the trial with the checker's
explanation; a check that ran out of budget is `unknown`, never a pass."""

from __future__ import annotations

from chaos_eval.analysis.linearizability import check
from chaos_eval.analysis.metrics import FaultWindow, compute
from chaos_eval.analysis.verdict import Check, judge
from chaos_eval.history import Op, OpKind
from chaos_eval.outcomes import OpOutcome, TrialStatus
from chaos_eval.spec.config import SLO

OK = OpOutcome.OK
STALE = [
    Op(id=1, process=0, kind=OpKind.WRITE, key="k", value="a", invoke=0, complete=1),
    Op(id=2, process=0, kind=OpKind.WRITE, key="k", value="b", invoke=2, complete=3),
    Op(id=3, process=1, kind=OpKind.READ, key="k", value="a", invoke=4, complete=5),
]
METRICS = compute([], FaultWindow(0, 1), durability=False)


def test_stale_read_fails_with_the_explanation() -> None:
    v = judge(METRICS, 1.0, True, SLO(linearizable=True), check(STALE))
    assert v.status == TrialStatus.FAILED and v.checks["linearizable"] == Check.FAIL
    assert any("history not linearizable" in r and "op #3" in r for r in v.reasons)


def test_budget_exhausted_is_unknown_not_pass() -> None:
    res = check(STALE, max_steps=1)
    v = judge(METRICS, 1.0, True, SLO(linearizable=True), res)
    assert v.checks["linearizable"] == Check.UNKNOWN
    assert v.status == TrialStatus.PASSED  # unknown checks never fail a trial, never pass it
    assert any(r.startswith("unknown: linearizability undecided") for r in v.reasons)


def test_without_the_slo_the_history_is_recorded_not_judged() -> None:
    v = judge(METRICS, 1.0, True, SLO(), check(STALE))
    assert "linearizable" not in v.checks and v.status == TrialStatus.PASSED
    assert "max_lost_writes" not in v.checks  # the register history is the durability check


def test_register_ops_have_no_unverified_writes() -> None:
    from chaos_eval.workload import Op as KVOp

    ops = [KVOp("write", "n1", "k", 0.1, 0.2, OK), KVOp("read", "n1", "k", 0.3, 0.4, OK)]
    kv = compute(ops, FaultWindow(1, 2))
    reg = compute(ops, FaultWindow(1, 2), durability=False)
    assert kv.unverified_writes == 1  # the unique-key workload expects a final read
    assert (reg.unverified_writes, reg.lost_writes, reg.acked_writes) == (0, 0, 1)
