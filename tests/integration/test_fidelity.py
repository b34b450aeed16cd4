"""Measurement fidelity: do the numbers the harness records match what the fault physically
does? One real campaign (tests/integration/campaigns/fidelity.yaml: a baseline, then latency
200 ms on a follower, SIGKILL of a follower, and the leader cut off) run through the real
CLI in its own process on a real 3-member etcd cluster; every figure checked here is read
back from eval.db (trial measurements, proof, and the recorded ops via Store.ops), exactly
as `chaos-eval analyze` and `chaos-eval report` see it.

The fault window on the trial clock is [injected_at, removed_at): it opens when `inject`
starts and closes when `cleanup_chaos` returns, so it also spans injecting, proving and
removing the fault, which take seconds each on a loaded machine (20 s and 36 s were seen).
The harness therefore also reports the `active` phase: ops that started and ended while the
fault was proven in force (verify_active returned .. cleanup started). Checks that need the
fault to be in force use the harness's per-node `active` figures; the others its `during`.

Tolerances (each with its physical reason) are stated at the assertion. The machine has two
cores shared with other engineers' clusters, so latency bounds are wide on the slow side.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos_eval.images.build import BuildResult
from chaos_eval.outcomes import OpOutcome, TrialStatus
from chaos_eval.store.access import Access
from chaos_eval.store.records import TrialRow
from chaos_eval.store.store import Store
from chaos_eval.workload import Op, OpKind

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "fidelity.yaml"
DELAY_MS = 200  # the latency entry's delay_ms in fidelity.yaml
OP_TIMEOUT_S = 2.0  # fidelity.yaml workload.op_timeout_s

# a whole campaign runs in its fixture (bounded at 1200 s)
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]
log = logging.getLogger("figures")


@dataclass(frozen=True)
class Trial:
    row: TrialRow
    ops: tuple[Op, ...]

    @property
    def m(self) -> dict[str, Any]:
        metrics: dict[str, Any] = self.row.measurements_dict["metrics"]
        return metrics

    @property
    def target(self) -> str:
        (name,) = json.loads(self.row.targets)
        return str(name)

    def node(self, name: str, phase: str) -> dict[str, Any]:
        figures: dict[str, Any] = self.m["per_node"][name][phase]
        return figures

    @property
    def proven_active(self) -> tuple[float, float]:
        """From verify_active returning to cleanup_chaos starting, on the trial clock."""
        w = self.row.measurements_dict["window"]
        return w["active_from"], w["active_to"]

    def live(self, node: str | None = None) -> list[Op]:
        return [o for o in self.ops if o.kind != OpKind.FINAL_READ and node in (None, o.node)]


async def _load(db: Path) -> dict[str, Trial]:
    async with await Store.open(db, Access.READ) as store:
        (campaign,) = await store.campaigns()
        return {t.fault: Trial(t, tuple(await store.ops(t.id)))
                for t in await store.trials(campaign.id)}


@pytest.fixture(scope="module")
def trials(
    tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, BuildResult]
) -> Iterator[dict[str, Trial]]:
    """Run the fidelity campaign once through the CLI (no skipping: an unreachable Docker
    engine errors in `built_images` or fails the run)."""
    db = tmp_path_factory.mktemp("fidelity") / "eval.db"
    run = subprocess.run(
        [sys.executable, "-m", "chaos_eval", "run", "campaign", str(CAMPAIGN), "--db", str(db)],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    loaded = asyncio.run(_load(db))
    assert set(loaded) == {"baseline", "latency", "node_kill", "partition"}
    for t in loaded.values():
        assert t.row.status == TrialStatus.PASSED, (t.row.fault, t.row.reasons, t.row.error)
    yield loaded


def test_latency_on_a_follower_adds_about_the_delay_there_only(trials: dict[str, Trial]) -> None:
    """Tolerance: the target's p50 (ops while the delay was proven in force) rises by
    >= 0.7 D and <= 3.5 D over its p50 before the fault. Every op through the target leaves
    its delayed egress at least once (the reply), so >= D is physics; 0.3 D of slack is for a
    loaded machine's scheduling noise in either p50. A write or linearizable read through a
    follower crosses it about twice (forward/ReadIndex to the leader, then the reply), so
    ~2 D is expected; 3.5 D allows a third crossing (a reconnect's SYN-ACK) and load.
    Untouched members add < 0.5 D: the leader commits with the other follower's ack."""
    t = trials["latency"]
    added = {n: t.node(n, "active")["p50_ms"] - t.node(n, "before")["p50_ms"]
             for n in t.m["per_node"]}
    log.info("latency %d ms on follower %s: p50 added per node while proven (ms): %s; before "
             "%s; target's p50 over the whole window %.1f; inject_s %.2f cleanup_s %.2f",
             DELAY_MS, t.target, {n: round(a, 1) for n, a in added.items()},
             {n: round(t.node(n, "before")["p50_ms"], 1) for n in added},
             t.node(t.target, "during")["p50_ms"], t.row.measurements_dict["inject_s"],
             t.row.measurements_dict["cleanup_s"])
    assert 0.7 * DELAY_MS <= added[t.target] <= 3.5 * DELAY_MS, added
    for n, a in added.items():
        if n != t.target:
            assert a < 0.5 * DELAY_MS, (n, added)
    assert t.m["availability"]["during"] == pytest.approx(1.0, abs=0.02)


def test_killing_a_follower_keeps_the_live_members_available(trials: dict[str, Trial]) -> None:
    """Tolerance: each live member >= 0.9 during the kill (two of three members keep a
    quorum, so every op through them should succeed; 0.1 is for one stray timeout), overall
    >= 0.6 (round-robin sends a third of the ops to the dead member: 2/3 at best), and the
    killed member acknowledges nothing once its death is proven (a stopped container answers
    no request; over the whole window, ops before the kill landed may succeed)."""
    t = trials["node_kill"]
    during = {n: t.node(n, "during")["availability"] for n in t.m["per_node"]}
    overall = t.m["availability"]["during"]
    dead = t.node(t.target, "active")
    log.info("node_kill follower %s: availability during per node %s, overall %.3f, "
             "errors %s; killed member while proven dead ok/fail/unknown %d/%d/%d", t.target,
             {n: round(a, 3) for n, a in during.items()}, overall, t.m["errors"], dead["ok"],
             dead["fail"], dead["unknown"])
    assert overall >= 0.6, overall
    assert dead["ok"] == 0 and dead["fail"] + dead["unknown"] >= 5, dead
    for n, a in during.items():
        if n != t.target:
            assert a >= 0.9, (n, during)


def test_isolating_the_leader_elects_a_new_one_and_recovers_in_election_time(
    trials: dict[str, Trial],
) -> None:
    """A new leader was elected during the fault: the majority acknowledged writes while the
    old leader was proven cut off (only a leader they can reach commits them), and the proof's
    state_after names another leader at a higher term.

    Once the cut is proven, the majority's longest gap between acknowledged ops is at most
    2 op timeouts + 1 s: its leader is elected by then, and the only stall left is the
    workload's concurrency slots held by ops to the isolated member until their 2 s timeout.
    (The gap around the cut itself is not asserted: the isolate rules go in node by node, and
    the half-cut states in between can disrupt the majority for several seconds.)

    Recovery after removal < 10 s: about one election (etcd runs without pre-vote here, so
    the healed member rejoins at a higher term and forces one: 1-2 s randomized election
    timeout) plus the health probe's write and linearizable read through every member."""
    t = trials["partition"]
    proof = json.loads(t.row.proof)
    before, after = proof["state_before"], proof["state_after"]
    assert before["leader"] == t.target
    assert after["leader"] not in (None, t.target) and after["term"] > before["term"], proof
    active_from, active_to = t.proven_active
    majority = [o for o in t.live() if o.node != t.target]
    acked = [o for o in majority if o.kind == OpKind.WRITE and o.outcome == OpOutcome.OK
             and active_from <= o.start and o.end <= active_to]
    assert len(acked) >= 5, "the majority acknowledged no writes while the leader was cut off"

    def longest_gap(lo: float, hi: float) -> float:
        ok = sorted(o.end for o in majority if o.outcome == OpOutcome.OK and lo <= o.end <= hi)
        ends = [lo, *ok, hi]
        return max(b - a for a, b in itertools.pairwise(ends))

    w = t.row.measurements_dict["window"]
    proven_gap = longest_gap(active_from, active_to)
    log.info("partition isolate leader %s: leader %s term %s -> %s term %s; majority's longest "
             "gap: %.2fs while proven cut off, %.2fs over the whole window; recovery_s %.2f; "
             "workload recovery %s s; %d majority writes acked while proven cut off; inject_s "
             "%.2f cleanup_s %.2f", t.target, before["leader"], before["term"],
             after["leader"], after["term"], proven_gap,
             longest_gap(w["injected_at"], w["removed_at"]), t.row.recovery_s,
             t.m["workload_recovery_s"], len(acked), t.row.measurements_dict["inject_s"],
             t.row.measurements_dict["cleanup_s"])
    assert proven_gap <= 2 * OP_TIMEOUT_S + 1.0, proven_gap
    assert t.row.recovery_s is not None and t.row.recovery_s < 10.0, t.row.recovery_s


def test_a_partitioned_minority_acknowledges_nothing(trials: dict[str, Trial]) -> None:
    """Every op sent to the isolated member that started after the cut was proven and ended
    before cleanup began is `fail` or `unknown`, never `ok`: alone it cannot commit a write
    nor confirm a linearizable read. (Ops at the window's edges may succeed: the window opens
    before the rules are in place and cleanup heals the network before it returns.)"""
    t = trials["partition"]
    active_from, active_to = t.proven_active
    inside, whole = t.node(t.target, "active"), t.node(t.target, "during")
    log.info("partition: isolated %s, while proven cut off (%.2f-%.2f) ok/fail/unknown "
             "%d/%d/%d; over the whole window %d/%d/%d", t.target, active_from, active_to,
             inside["ok"], inside["fail"], inside["unknown"], whole["ok"], whole["fail"],
             whole["unknown"])
    assert inside["fail"] + inside["unknown"] >= 3, "too few ops on the isolated member"
    assert inside["ok"] == 0, inside


def test_no_acknowledged_write_is_lost(trials: dict[str, Trial]) -> None:
    """Zero tolerance: etcd acknowledges a write only once a quorum has it durably."""
    figures = {f: (t.m["acked_writes"], t.m["lost_writes"], t.m["unexpected_values"],
                   t.m["unverified_writes"]) for f, t in trials.items()}
    log.info("acked/lost/unexpected/unverified writes per trial: %s", figures)
    for fault, (acked, lost, unexpected, unverified) in figures.items():
        assert acked > 0 and lost == 0 and unexpected == 0 and unverified == 0, (fault, figures)
        finals = [o for o in trials[fault].ops if o.kind == OpKind.FINAL_READ]
        assert len(finals) >= acked, fault  # every acknowledged write was read back
