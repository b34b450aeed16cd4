"""A running campaign's snapshot: completion, failure and error rates, retries, mean trial
duration, throughput, ETA, the trials running now, and the drift alarms
(chaos_eval.spec.drift):

- `drift_failure_rate`: failed / (passed + failed) above `drift.failure_rate` once at least
  `drift.min_trials` trials have a verdict (error trials are the harness's, not counted);
- `drift_stuck_trial`: a running trial whose phase has not advanced for the stuck window; its
  episode is that trial in that phase since that moment.

`snapshot_of` is pure; the runner records each alarm once per episode (eval/run/watch.py),
`status` only shows them.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from chaos_eval.outcomes import TrialPhase, TrialStatus
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.store.records import TrialRow, trial_label

FAILURE_RATE = "drift_failure_rate"
STUCK_TRIAL = "drift_stuck_trial"


@dataclass(frozen=True)
class RunningTrial:
    id: int
    label: str
    phase: str
    elapsed_s: float
    phase_age_s: float
    phase_since: float  # when it entered its current phase (epoch seconds)


@dataclass(frozen=True)
class Alarm:
    kind: str  # FAILURE_RATE or STUCK_TRIAL
    episode: str  # what identifies this episode (recorded once each)
    detail: str


@dataclass(frozen=True)
class Snapshot:
    total: int
    done: int
    passed: int
    failed: int
    errors: int
    retries: int
    mean_trial_s: float | None
    trials_per_hour: float | None
    eta_s: float | None
    running: tuple[RunningTrial, ...]
    alarms: tuple[Alarm, ...]

    @property
    def completion_rate(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def failure_rate(self) -> float | None:
        verdicts = self.passed + self.failed
        return self.failed / verdicts if verdicts else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.done if self.done else None

    def to_json(self) -> dict[str, object]:
        def r(x: float | None, n: int = 3) -> float | None:
            return None if x is None else round(x, n)

        return {
            "trials_total": self.total, "trials_done": self.done, "passed": self.passed,
            "failed": self.failed, "errors": self.errors, "retries": self.retries,
            "completion_rate": r(self.completion_rate), "failure_rate": r(self.failure_rate),
            "error_rate": r(self.error_rate), "mean_trial_s": r(self.mean_trial_s, 1),
            "trials_per_hour": r(self.trials_per_hour, 1), "eta_s": r(self.eta_s, 0),
            "running": [
                {"id": t.id, "trial": t.label, "phase": t.phase,
                 "elapsed_s": round(t.elapsed_s, 1), "phase_age_s": round(t.phase_age_s, 1)}
                for t in self.running
            ],
            "alarms": [{"kind": a.kind, "episode": a.episode, "detail": a.detail}
                       for a in self.alarms],
        }


def _duration(t: TrialRow) -> float | None:
    if t.started_at is None or t.finished_at is None or t.finished_at < t.started_at:
        return None
    return t.finished_at - t.started_at


def snapshot_of(
    cfg: CampaignConfig, trials: list[TrialRow], progress_at: dict[int, float], now: float,
    to_come: int = 0,
) -> Snapshot:
    """The snapshot of a campaign's trials at `now`. Pure. `to_come`: trials a sampled
    campaign will still add (chaos_eval.analysis.sampling.trials_to_come)."""
    count = {s: sum(t.status == s for t in trials) for s in TrialStatus}
    done = [t for t in trials if t.status.is_final]
    durations = [d for t in done if t.status != TrialStatus.ERROR if (d := _duration(t))]
    mean = statistics.fmean(durations) if durations else None
    running = tuple(
        RunningTrial(
            id=t.id, label=trial_label(t), phase=t.phase.value if t.phase else "started",
            elapsed_s=now - (t.started_at or now),
            phase_age_s=now - progress_at.get(t.id, t.started_at or now),
            phase_since=progress_at.get(t.id, t.started_at or now),
        )
        for t in trials if t.status == TrialStatus.RUNNING
    )
    starts = [t.started_at for t in trials if t.started_at is not None]
    span = (now - min(starts)) if starts else 0.0
    per_hour = len(done) / span * 3600 if done and span > 0 else None
    eta = None
    if mean is not None:
        left = sum(not t.status.is_final for t in trials) - len(running) + to_come
        work = left * (mean + cfg.cooldown_seconds) + sum(
            max(mean - r.elapsed_s, 0.0) for r in running
        )
        eta = work / cfg.parallel
        if cfg.warm_pool and per_hour:
            # a pool overlaps trials (the next cluster starts while one runs; a trial's
            # duration includes its wait for a turn), so durations over `parallel` overstate
            # what is left: the pace the run keeps does not
            eta = (len(trials) - len(done) + to_come) / per_hour * 3600
    return Snapshot(
        total=len(trials) + to_come, done=len(done), passed=count[TrialStatus.PASSED],
        failed=count[TrialStatus.FAILED], errors=count[TrialStatus.ERROR],
        retries=sum(max(t.attempts - 1, 0) for t in trials), mean_trial_s=mean,
        trials_per_hour=per_hour, eta_s=eta, running=running,
        alarms=tuple(_alarms(cfg, count, running)),
    )


def _alarms(
    cfg: CampaignConfig, count: dict[TrialStatus, int], running: tuple[RunningTrial, ...]
) -> list[Alarm]:
    out = []
    drift = cfg.drift
    verdicts = count[TrialStatus.PASSED] + count[TrialStatus.FAILED]
    failed = count[TrialStatus.FAILED]
    if verdicts >= drift.min_trials and failed / verdicts > drift.failure_rate:
        out.append(Alarm(
            FAILURE_RATE, "on",
            f"{failed}/{verdicts} trials failed ({failed / verdicts:.0%}), over the drift "
            f"threshold {drift.failure_rate:.0%}",
        ))
    stuck_after = drift.stuck_after_s(cfg.longest_phase_s)
    for r in running:  # waiting for a turn is waiting for another trial, not being stuck
        if r.phase_age_s > stuck_after and r.phase != TrialPhase.QUEUED.value:
            since = f"{r.phase_age_s:.0f}s"
            out.append(Alarm(
                STUCK_TRIAL, f"trial {r.id} in {r.phase} since {r.phase_since:.3f}",
                f"trial {r.id} ({r.label}) has been in phase {r.phase} for {since}",
            ))
    return out
