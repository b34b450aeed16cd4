"""Judge one trial against its SLO. Pure.

Each SLO check is `pass`, `fail` or `unknown` (the evidence cannot decide: e.g. no op ran in
the fault window, or the cluster never recovered within observation). A trial fails if any
check fails; `unknown` checks are listed as reasons but do not fail the trial. A register
history whose check ran out of budget is such an `unknown`: never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chaos_eval.analysis.linearizability import CheckResult
from chaos_eval.analysis.linearizability import Verdict as Linearizability
from chaos_eval.analysis.metrics import TrialMetrics
from chaos_eval.outcomes import TrialStatus
from chaos_eval.spec.config import SLO


class Check(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    status: TrialStatus
    checks: dict[str, Check]
    reasons: tuple[str, ...]


def judge(
    m: TrialMetrics,
    recovery_s: float | None,
    recovered: bool,
    slo: SLO,
    lin: CheckResult | None = None,
) -> Verdict:
    """`lin`: the linearizability check of a register workload's history (None for the KV
    workload, whose lost writes are judged from its final reads instead)."""
    checks: dict[str, Check] = {}
    reasons: list[str] = []

    def check(name: str, ok: bool | None, why: str) -> None:
        checks[name] = Check.UNKNOWN if ok is None else (Check.PASS if ok else Check.FAIL)
        if ok is not True:
            reasons.append(("unknown: " if ok is None else "") + why)

    if not recovered:
        check("recovered", False, "the cluster did not recover within the recovery timeout")
    if slo.max_recovery_s is not None and recovery_s is not None:
        check(
            "max_recovery_s",
            recovery_s <= slo.max_recovery_s,
            f"recovery took {recovery_s:.2f}s > max_recovery_s {slo.max_recovery_s}s",
        )
    for phase, bound in (
        ("during", slo.min_availability_during_fault),
        ("after", slo.min_availability_after_fault),
    ):
        if bound is None:
            continue
        av = m.availability(phase)
        check(
            f"min_availability_{phase}_fault",
            None if av is None else av >= bound,
            f"availability {phase} the fault {_pct(av)} < {bound:.0%}"
            if av is not None
            else f"no operation ran {phase} the fault",
        )
    if lin is not None and slo.linearizable:
        decided = None if lin.verdict is Linearizability.UNKNOWN else (
            lin.verdict is Linearizability.LINEARIZABLE
        )
        check(
            "linearizable",
            decided,
            f"history not linearizable: {lin.reason}"
            if decided is False
            else f"linearizability undecided: {lin.reason}",
        )
    if slo.max_lost_writes is not None and lin is None:
        check(
            "max_lost_writes",
            m.lost_writes <= slo.max_lost_writes,
            f"{m.lost_writes} acknowledged write(s) lost > max_lost_writes {slo.max_lost_writes}",
        )
        if m.unexpected_values:
            check(
                "unexpected_values",
                False,
                f"{m.unexpected_values} read(s) returned a value that was never written",
            )
        if m.unverified_writes:
            check(
                "writes_verified",
                None,
                f"{m.unverified_writes} acknowledged write(s) could not be read back",
            )
    failed = any(c == Check.FAIL for c in checks.values())
    return Verdict(TrialStatus.FAILED if failed else TrialStatus.PASSED, checks, tuple(reasons))


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"
