"""plan's estimate: per-cell medians from history, phases + measured or assumed overhead,
and the runner's schedule (pilot gate, parallel slots, cooldown)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from chaos_eval.analysis.forecast import (
    ASSUMED_OVERHEAD_S,
    History,
    forecast,
    history_of,
    makespan,
)
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand, spec_json
from chaos_eval.store.records import CampaignRow
from tests.unit.analysis.test_snapshot import trial

CFG = parse_campaign(
    {"name": "c", "subjects": ["etcd"], "parallel": 2, "trials_per_combination": 2,
     "chaos_types": [{"type": "node_kill"}, {"type": "latency", "params": {"delay_ms": 100}}],
     "timing": {"warmup_s": 2, "fault_duration_s": 3}},
    "mem",
)
PLANNED = [p for p, _ in expand(CFG)]


def campaign(spec: str) -> CampaignRow:
    return CampaignRow(
        id=1, uid="u", name="c", spec_hash="h", spec_json=spec, config_path="f",
        status=CampaignStatus.FINISHED, reason="", seed=1, harness_version="v", git_sha="s",
        argv="[]", created_at=0, updated_at=0, finished_at=0, lease_token=None, lease_pid=None,
        lease_host=None, lease_heartbeat=None, rerun_of=None,
    )


def done(i: int, fault: str, params: str, seconds: float, **over: Any) -> Any:
    """A trial run alone (each starts after the one before it could have finished)."""
    t = trial(i, TrialStatus.PASSED, fault=fault, params=params, **over)
    return replace(t, started_at=1000.0 * i, finished_at=1000.0 * i + seconds)


def test_no_history_means_phases_plus_assumed_overhead() -> None:
    f = forecast(CFG, PLANNED, {p.key for p in PLANNED}, "new", History({}, {}))
    per = 2 + 3 + ASSUMED_OVERHEAD_S
    assert {c.seconds for c in f.cells} == {per}
    assert all("assumed" in c.source for c in f.cells)
    # 1 baseline alone; then 4 matrix trials on 2 slots in two rounds, each pair sharing the
    # machine for its work (2 x 30 s) and then waiting out its phases (5 s)
    assert f.fresh_s == pytest.approx(per + 2 * (2 * ASSUMED_OVERHEAD_S + 5))
    assert (f.trials, f.todo) == (5, 5)


def test_history_of_the_same_cell_and_timing_gives_its_median() -> None:
    same = campaign(spec_json(CFG))
    other_timing = campaign(json.dumps({"timing": {"warmup_s": 10, "fault_duration_s": 10}}))
    runs = [
        (same, [done(1, "node_kill", "{}", 40), done(2, "node_kill", "{}", 50),
                done(3, "node_kill", "{}", 90),
                replace(done(4, "node_kill", "{}", 999), status=TrialStatus.ERROR)]),
        (other_timing, [done(5, "latency", '{"delay_ms": 100}', 45)]),
    ]
    h = history_of(CFG, runs)
    f = forecast(CFG, PLANNED, {p.key for p in PLANNED}, "new", h)
    by = {c.fault: c for c in f.cells}
    assert by["node_kill"].seconds == 50 and "median of 3" in by["node_kill"].source
    # the latency cell ran only under another timing: phases + the measured work (its
    # duration less its own phases: median of 35, 45, 85 and 25 = 40)
    assert by["latency"].seconds == 5 + 40 and "measured overhead 40s" in by["latency"].source


def test_a_wait_for_a_warm_pool_turn_is_not_work_of_the_cell() -> None:
    """A trial that waited 20 s (healthy, queued) for its turn ran 5 s of phases and 35 s of
    work in its 60 s: the cell's estimate is 40 s a trial, not 60."""
    same = campaign(spec_json(CFG))
    queued = done(1, "node_kill", "{}", 60, measurements=json.dumps({"queued_s": 20.0}))
    bad = done(2, "node_kill", "{}", 40, measurements="{not json")
    h = history_of(CFG, [(same, [queued, bad])])
    assert h.by_cell[("etcd", "node_kill", "{}")] == [pytest.approx(35.0)] * 2


def test_makespan_keeps_the_pilot_gate_parallel_and_cooldown() -> None:
    seconds = {(p.subject, p.fault, p.params): 10.0 for p in PLANNED}
    # no phases: pure shared work, parallel slots buy nothing on a saturated machine
    assert makespan(PLANNED, seconds, 2, 0, 0) == pytest.approx(50)
    # 8 s of each 10 are waits: two at a time overlap them
    assert makespan(PLANNED, seconds, 2, 0, 8) == pytest.approx(10 + 2 * (4 + 8))
    assert makespan(PLANNED, seconds, 1, 1, 8) == pytest.approx(5 * 11)
    only_matrix = [p for p in PLANNED if p.fault != "baseline"][:3]
    assert makespan(only_matrix, seconds, 2, 0, 8) == pytest.approx((4 + 8) + 10)


def test_work_shares_and_shared_makespan() -> None:
    from chaos_eval.analysis.sharing import shared_makespan, work_shares

    # two side by side for 74 s, then one alone for 27 s (measured on a 2-core host)
    assert work_shares([(0, 74), (0, 74), (74, 101)]) == pytest.approx([37, 37, 27])
    assert work_shares([(0, 10), (5, 15)]) == pytest.approx([7.5, 7.5])
    assert shared_makespan([37, 37, 27], 2, 0) == pytest.approx(74 + 27)
    assert shared_makespan([10, 10], 1, 2) == pytest.approx(24)
    assert shared_makespan([], 2, 0, start=5) == 5


def test_what_is_left_is_estimated_apart_from_a_fresh_run() -> None:
    left = {p.key for p in PLANNED[-2:]}
    f = forecast(CFG, PLANNED, left, "continues", History({}, {}))
    assert f.todo == 2 and f.todo_s < f.fresh_s
