"""The analysis as files for other tools: CSV (one row per cell, for spreadsheets) and
Markdown (the cell table and the commands re-running the trials that did not pass, for a pull
request or a wiki page)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from chaos_eval.analysis.analyze import Analysis, Cell
from chaos_eval.commands import rerun_command
from chaos_eval.render.numbers import num, pct
from chaos_eval.render.reruns import not_passed
from chaos_eval.store.records import trial_label

CSV_COLUMNS = (
    "subject",
    "fault",
    "params",
    "trials",
    "passed",
    "failed",
    "errors",
    "cleanup_failed",
    "pass_rate",
    "pass_rate_low",
    "pass_rate_high",
    "recovery_min_s",
    "recovery_median_s",
    "recovery_max_s",
    "recovery_p95_s",
    "availability_during",
    "availability_after",
    "latency_p50_ms",
    "latency_p99_ms",
    "lost_writes",
)


def _cell_row(c: Cell) -> list[Any]:
    return [
        c.subject,
        c.fault,
        json.dumps(c.params, sort_keys=True),
        c.trials,
        c.passed,
        c.failed,
        c.errors,
        c.cleanup_failed,
        c.pass_rate.value,
        c.pass_rate.low,
        c.pass_rate.high,
        c.recovery_s.min,
        c.recovery_s.median,
        c.recovery_s.max,
        c.recovery_s.p95,
        c.availability_during,
        c.availability_after,
        c.latency_p50_ms,
        c.latency_p99_ms,
        c.lost_writes,
    ]


def analysis_csv(a: Analysis) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c in a.cells:
        w.writerow(["" if v is None else v for v in _cell_row(c)])
    return buf.getvalue()


def analysis_markdown(a: Analysis, db: str | Path | None = None) -> str:
    c = a.campaign
    rerun = f", re-run of campaign {c.rerun_of}" if c.rerun_of is not None else ""
    lines = [
        f"# Campaign {c.id}: {c.name} ({c.status.value}{rerun})",
        "",
        "| cell | n | passed | failed | errors | cleanup_failed | pass rate (95% CI) "
        "| recovery s (min/median/max) | availability during | lost writes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in a.cells:
        pr = cell.pass_rate
        rate = "-" if pr.value is None else f"{pr.value:.0%} ({pr.low:.0%}-{pr.high:.0%})"
        r = cell.recovery_s
        lines.append(
            f"| {cell.label} | {cell.trials} | {cell.passed} | {cell.failed} | {cell.errors} "
            f"| {cell.cleanup_failed} | {rate} | {num(r.min)}/{num(r.median)}/{num(r.max)} "
            f"| {pct(cell.availability_during)} | {cell.lost_writes} |"
        )
    if bad := not_passed(a.trials):
        lines += ["", "## Trials that did not pass", ""]
        lines += ["Each command re-runs one as a new one-trial campaign (same key and seed).", ""]
        lines.append("```bash")
        for t in bad:
            label = " ".join(trial_label(t).split())  # one comment line, whatever the params
            lines.append(f"# {t.status.value}: trial {t.id}, {label}")
            lines.append(rerun_command(c.id, t.key, db))
        lines.append("```")
    return "\n".join(lines) + "\n"
