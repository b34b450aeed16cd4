"""A running campaign's progress in words: the snapshot line `status` prints under its table
(and the plain-line progress), durations written for people (`4m05s`, `2h10m`)."""

from __future__ import annotations

from chaos_eval.analysis.snapshot import Snapshot


def duration(seconds: float | None) -> str:
    """12s, 4m05s, 2h10m; "-" when unknown."""
    if seconds is None:
        return "-"
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def totals_line(s: Snapshot) -> str:
    return (
        f"{s.done}/{s.total} done ({rate(s.completion_rate)}) · failure rate "
        f"{rate(s.failure_rate)} · error rate {rate(s.error_rate)} · retries {s.retries}"
    )


def pace_line(s: Snapshot) -> str:
    per_hour = "-" if s.trials_per_hour is None else f"{s.trials_per_hour:.0f}"
    return f"mean trial {duration(s.mean_trial_s)} · {per_hour} trials/h · ETA {duration(s.eta_s)}"


def snapshot_line(s: Snapshot) -> str:
    return f"{totals_line(s)} · {pace_line(s)}"


def snapshot_lines(campaign_id: int, s: Snapshot) -> list[str]:
    """The snapshot line, one line per running trial, one per drift alarm."""
    lines = [f"campaign {campaign_id}: {snapshot_line(s)}"]
    lines += [
        f"  running: trial {r.id} {r.label}: {r.phase} ({duration(r.elapsed_s)} in)"
        for r in s.running
    ]
    lines += [f"  drift alarm ({a.kind}): {a.detail}" for a in s.alarms]
    return lines
