"""The running campaign's snapshot: rates, retries, mean duration, ETA, drift alarms."""

from __future__ import annotations

from typing import Any

import pytest

from chaos_eval.analysis.snapshot import FAILURE_RATE, STUCK_TRIAL, snapshot_of
from chaos_eval.outcomes import TrialPhase, TrialStatus
from chaos_eval.render.progress import duration, snapshot_lines
from chaos_eval.render.prometheus import prometheus_text
from chaos_eval.spec.config import parse_campaign
from chaos_eval.store.records import TrialRow

NOW = 10_000.0


def trial(i: int, status: TrialStatus, **over: Any) -> TrialRow:
    base: dict[str, Any] = dict(
        id=i, campaign_id=1, key=f"k{i}", ordinal=i, subject="etcd", subject_type="etcd",
        fault="node_kill", params="{}", target="random", repetition=i, seed=i, status=status,
        phase=None, attempts=1 if status != TrialStatus.PENDING else 0, started_at=None,
        finished_at=None, targets="[]", recovery_s=None, measurements="{}", proof="{}",
        reasons="[]", error="",
    )
    if status.is_final:
        base.update(started_at=NOW - 1000 + 100 * i, finished_at=NOW - 1000 + 100 * i + 60)
    base.update(over)
    return TrialRow(**base)


def cfg(**over: Any) -> Any:
    d: dict[str, Any] = {"name": "c", "subjects": ["etcd"], "parallel": 2,
                         "chaos_types": [{"type": "node_kill"}]}
    d.update(over)
    return parse_campaign(d, "mem")


def test_with_a_warm_pool_the_eta_is_the_pace_kept() -> None:
    """Durations include the wait for a turn: with a pool the ETA is what is left (running
    and pending) at the pace the run has kept, not durations over `parallel`."""
    now = NOW - 1000 + 300  # 3 done over the 300 s since the first started: 36 an hour
    trials = [trial(i, TrialStatus.PASSED) for i in range(3)]  # 100 s apart, 60 s each
    trials += [trial(3, TrialStatus.RUNNING, started_at=now - 20), trial(4, TrialStatus.PENDING)]
    pooled = snapshot_of(cfg(parallel=1, warm_pool=1), trials, {}, now)
    assert pooled.trials_per_hour == pytest.approx(36.0)
    assert pooled.eta_s == pytest.approx(2 * 100)  # two left, one every 100 s
    plain = snapshot_of(cfg(parallel=1), trials, {}, now)
    assert plain.eta_s == pytest.approx(60 + (60 - 20))  # the pending one, the running rest


def test_rates_retries_mean_and_eta() -> None:
    trials = [
        trial(0, TrialStatus.PASSED),
        trial(1, TrialStatus.FAILED, attempts=2),
        trial(2, TrialStatus.ERROR),
        trial(3, TrialStatus.RUNNING, phase=TrialPhase.FAULT_ACTIVE, started_at=NOW - 20),
        trial(4, TrialStatus.PENDING),
        trial(5, TrialStatus.PENDING),
    ]
    s = snapshot_of(cfg(), trials, {3: NOW - 5}, NOW)
    assert (s.total, s.done, s.passed, s.failed, s.errors, s.retries) == (6, 3, 1, 1, 1, 1)
    assert s.completion_rate == 0.5 and s.failure_rate == 0.5
    assert s.error_rate == pytest.approx(1 / 3)
    assert s.mean_trial_s == 60.0  # the error trial's duration does not count
    # two pending x 60 s, plus the running one's remaining 40 s, over 2 slots
    assert s.eta_s == pytest.approx((2 * 60 + 40) / 2)
    assert [(r.id, r.phase, r.elapsed_s, r.phase_age_s) for r in s.running] == [
        (3, "fault_active", 20.0, 5.0)
    ]
    assert s.alarms == ()  # 2 verdicts < min_trials
    assert "3/6 done (50%)" in snapshot_lines(1, s)[0] and "ETA 1m20s" in snapshot_lines(1, s)[0]


def test_failure_rate_alarm_needs_enough_verdicts_and_the_threshold() -> None:
    four_of_five = [trial(i, TrialStatus.FAILED) for i in range(4)] + [trial(4, TrialStatus.PASSED)]
    s = snapshot_of(cfg(), four_of_five, {}, NOW)
    assert [a.kind for a in s.alarms] == [FAILURE_RATE] and "4/5" in s.alarms[0].detail
    loose = cfg(drift={"failure_rate": 0.9})
    assert snapshot_of(loose, four_of_five, {}, NOW).alarms == ()
    assert snapshot_of(cfg(), four_of_five[:4], {}, NOW).alarms == ()  # 4 < min_trials 5


def test_stuck_trial_alarm_uses_the_configured_or_derived_window() -> None:
    running = [trial(0, TrialStatus.RUNNING, phase=TrialPhase.RECOVERY, started_at=NOW - 900)]
    c = cfg(drift={"stuck_trial_s": 100})
    s = snapshot_of(c, running, {0: NOW - 101}, NOW)
    assert [a.kind for a in s.alarms] == [STUCK_TRIAL] and "recovery" in s.alarms[0].detail
    assert snapshot_of(c, running, {0: NOW - 99}, NOW).alarms == ()
    # unset: twice the longest phase (healthy_timeout_s 60 by default) + 60 s = 180 s
    assert snapshot_of(cfg(), running, {0: NOW - 170}, NOW).alarms == ()
    assert len(snapshot_of(cfg(), running, {0: NOW - 190}, NOW).alarms) == 1


def test_durations_for_people() -> None:
    assert [duration(x) for x in (None, 5, 65, 7325)] == ["-", "5s", "1m05s", "2h02m"]


def test_prometheus_text_is_valid_exposition() -> None:
    from chaos_eval.analysis.status import CampaignStatusView

    s = snapshot_of(cfg(), [trial(0, TrialStatus.PASSED), trial(1, TrialStatus.PENDING)], {}, NOW)
    view = CampaignStatusView(
        id=3, name='we"ird', status="running", reason="", trials_total=2, trials_done=1,
        by_status={}, lease_holder=None, heartbeat_age_s=None, flags=("stale",), hint="",
        snapshot=s,
    )
    text = prometheus_text([view])
    assert 'chaos_eval_campaign_trials_total{campaign="3",name="we\\"ird"} 2' in text
    assert 'chaos_eval_campaign_completion_ratio{campaign="3",name="we\\"ird"} 0.5' in text
    assert 'status="running"} 1' in text and 'status="held"} 0' in text
    assert 'flag="stale"} 1' in text
    for line in text.splitlines():  # every line a comment or `name{labels} number`
        assert line.startswith("# ") or float(line.rsplit(" ", 1)[1]) >= 0
    names = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE")]
    assert len(names) == len(set(names))
