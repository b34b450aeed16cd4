"""`status --format prometheus`: the Prometheus text exposition format (version 0.0.4), for
node-exporter's textfile collector (write it to `<dir>/chaos_eval.prom` from cron or a
loop; node-exporter serves it). One gauge family per quantity, labelled by campaign id and
name; a campaign without a snapshot (not running) has only its progress and status."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chaos_eval.outcomes import CampaignStatus

Metric = tuple[str, str, Callable[[Any], float | None]]  # name, help, value of a view

CAMPAIGN: tuple[Metric, ...] = (
    ("chaos_eval_campaign_trials_total", "Trials planned.", lambda v: v.trials_total),
    ("chaos_eval_campaign_trials_done", "Trials with a final status.", lambda v: v.trials_done),
)
SNAPSHOT: tuple[Metric, ...] = (
    ("chaos_eval_campaign_completion_ratio", "Done / planned.", lambda s: s.completion_rate),
    ("chaos_eval_campaign_failure_ratio", "Failed / (passed + failed).", lambda s: s.failure_rate),
    ("chaos_eval_campaign_error_ratio", "Harness errors / done.", lambda s: s.error_rate),
    ("chaos_eval_campaign_retries", "Attempts beyond each trial's first.", lambda s: s.retries),
    ("chaos_eval_campaign_trial_seconds_mean", "Mean trial duration.", lambda s: s.mean_trial_s),
    ("chaos_eval_campaign_trials_per_hour", "Throughput.", lambda s: s.trials_per_hour),
    ("chaos_eval_campaign_eta_seconds", "Estimated time to finish.", lambda s: s.eta_s),
    ("chaos_eval_campaign_running_trials", "Trials running now.", lambda s: len(s.running)),
)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**kv: object) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in kv.items()) + "}"


def _value(x: float) -> str:
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


def prometheus_text(views: Sequence[Any]) -> str:
    """The exposition text of `status` views (chaos_eval.analysis.status)."""
    out: list[str] = []

    def family(name: str, help_: str, samples: Sequence[tuple[str, float | None]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} gauge")
        out.extend(f"{name}{labels} {_value(v)}" for labels, v in samples if v is not None)

    ids = [(v, _labels(campaign=v.id, name=v.name)) for v in views]
    for name, help_, get in CAMPAIGN:
        family(name, help_, [(lab, get(v)) for v, lab in ids])
    family(
        "chaos_eval_campaign_status", "1 for the campaign's current status.",
        [(_labels(campaign=v.id, name=v.name, status=s.value), float(v.status == s.value))
         for v, _ in ids for s in CampaignStatus],
    )
    for name, help_, get in SNAPSHOT:
        samples = [(lab, x) for v, lab in ids if v.snapshot and (x := get(v.snapshot)) is not None]
        family(name, help_, samples)
    family(
        "chaos_eval_campaign_drift_alarms", "Drift alarms active now, by kind.",
        [(_labels(campaign=v.id, name=v.name, kind=k),
          float(sum(a.kind == k for a in v.snapshot.alarms)))
         for v, _ in ids if v.snapshot for k in ("drift_failure_rate", "drift_stuck_trial")],
    )
    family(
        "chaos_eval_campaign_flagged", "1 while a status flag (stale, stuck, held) is raised.",
        [(_labels(campaign=v.id, name=v.name, flag=f), 1.0) for v, _ in ids for f in v.flags],
    )
    return "\n".join(out) + "\n"
