"""Render analyses and statuses: rich tables, JSON, CSV, Markdown, JUnit XML.

Only this module and cli.py print. Renderers take a rich Console so tests can render into
an in-memory console.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from eval.analysis.analyze import Analysis, Cell
from eval.analysis.compare import Comparison, MetricChange
from eval.outcomes import TrialStatus
from eval.run.rerun import not_passed, rerun_command, rerun_lines, trial_label


def _f(v: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def cells_table(a: Analysis) -> Table:
    """Eight narrow columns, so the table stays legible in an 80-column terminal."""
    c = a.campaign
    rerun = f" · re-run of campaign {c.rerun_of}" if c.rerun_of is not None else ""
    t = Table(
        title=f"campaign {c.id} · {c.name} · {c.status.value}{rerun}",
        caption=TABLE_KEY,
        show_lines=True,
        caption_justify="left",
    )
    t.add_column("cell", overflow="fold", min_width=14)
    for col in ("n", "p/f/e/c", "pass rate", "recovery s", "avail", "p99 ms", "lost"):
        t.add_column(col, justify="right", no_wrap=False)
    for cell in a.cells:
        pr = cell.pass_rate
        outcome = "/".join(
            [
                str(cell.passed),
                f"[red]{cell.failed}[/]" if cell.failed else "0",
                f"[yellow]{cell.errors}[/]" if cell.errors else "0",
                f"[bold red]{cell.cleanup_failed}[/]" if cell.cleanup_failed else "0",
            ]
        )
        params = ", ".join(f"{k}={v}" for k, v in sorted(cell.params.items()))
        r = cell.recovery_s
        t.add_row(
            f"{cell.subject} / {cell.fault}" + (f"\n[dim]{params}[/]" if params else ""),
            str(cell.trials),
            outcome,
            "-" if pr.value is None else f"{pr.value:.0%}\n[dim][{pr.low:.0%}-{pr.high:.0%}][/]",
            f"{_f(r.median)}\n[dim]{_f(r.min)}-{_f(r.max)}[/]",
            f"{_pct(cell.availability_during)}\n[dim]{_pct(cell.availability_after)}[/]",
            _f(cell.latency_p99_ms, "{:.0f}"),
            f"[red]{cell.lost_writes}[/]" if cell.lost_writes else "0",
        )
    return t


TABLE_KEY = (
    "p/f/e/c: passed/failed/error/cleanup_failed · pass rate: Wilson 95% interval below · "
    "recovery s: median, min-max below · avail: during the fault, after it below · "
    "p99 ms: latency during the fault"
)


def render_analysis(
    a: Analysis, fmt: str, console: Console, db: str | Path | None = None
) -> None:
    """`db` is named in the re-run commands (omitted: the default eval.db)."""
    if fmt == "json":
        console.print_json(json.dumps(a.to_json(db)))
        return
    if fmt == "csv":
        console.out(analysis_csv(a), end="", highlight=False)
        return
    if fmt == "markdown":
        console.out(analysis_markdown(a, db), end="", highlight=False)
        return
    console.print(cells_table(a))
    cleanup = [t for t in a.trials if t.status == TrialStatus.CLEANUP_FAILED]
    if cleanup:
        console.print(
            f"[bold red]{len(cleanup)} trial(s) could not prove their fault was removed "
            f"(cleanup_failed): trials {[t.id for t in cleanup]}. "
            "Those clusters were not reused.[/]"
        )
    for cell in a.cells:
        for reason in cell.reasons[:3]:
            console.print(f"  [dim]{cell.label}:[/] {reason}")
    for line in rerun_lines(a.campaign.id, a.trials, db):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


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
            f"| {cell.cleanup_failed} | {rate} | {_f(r.min)}/{_f(r.median)}/{_f(r.max)} "
            f"| {_pct(cell.availability_during)} | {cell.lost_writes} |"
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


def junit_xml(a: Analysis, db: str | Path | None = None) -> str:
    """One <testcase> per trial, one <testsuite> per cell; failures and errors carry the
    reasons and the command that re-runs that trial (`--db db` when one is named)."""
    root = ET.Element(
        "testsuites",
        name=f"chaos-eval campaign {a.campaign.id}",
        tests=str(sum(c.trials for c in a.cells)),
        failures=str(sum(c.failed for c in a.cells)),
        errors=str(sum(c.errors + c.cleanup_failed for c in a.cells)),
        skipped=str(sum(c.unfinished for c in a.cells)),
    )
    by_id = {t.id: t for t in a.trials}
    for cell in a.cells:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=cell.label,
            tests=str(cell.trials),
            failures=str(cell.failed),
            errors=str(cell.errors + cell.cleanup_failed),
            skipped=str(cell.unfinished),
        )
        for tid in cell.trial_ids:
            t = by_id[tid]
            wall = t.measurements_dict.get("wall_s")
            case = ET.SubElement(
                suite,
                "testcase",
                classname=cell.label,
                name=f"trial {t.id} rep {t.repetition} ({t.key[:8]})",
                time=str(wall if wall is not None else 0),
            )
            reasons = "; ".join(json.loads(t.reasons)) or t.error
            rerun = f"re-run: {rerun_command(a.campaign.id, t.key, db)}"
            if t.status == TrialStatus.FAILED:
                ET.SubElement(case, "failure", message=reasons or "missed SLO").text = \
                    f"{reasons}\n{rerun}"
            elif t.status in (TrialStatus.ERROR, TrialStatus.CLEANUP_FAILED):
                ET.SubElement(case, "error", message=f"{t.status.value}: {reasons}").text = \
                    f"{reasons}\n{rerun}"
            elif not t.status.is_final:
                ET.SubElement(case, "skipped", message=t.status.value)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _change(m: MetricChange, fmt: str) -> str:
    """'a -> b' with p below; red and flagged when it regressed."""
    if m.p is None:
        return "-"
    text = f"{_f(m.a, fmt)} → {_f(m.b, fmt)}\n[dim]p={m.p:.3f}[/]"
    return f"[bold red]{text} REGRESSED[/]" if m.regressed else text


def comparison_table(c: Comparison) -> Table:
    t = Table(
        title=f"campaign {c.a.campaign.id} ({c.a.campaign.name}) → "
        f"{c.b.campaign.id} ({c.b.campaign.name})",
        caption=f"A → B: recovery median s, availability during the fault (mean); p: two-sided "
        f"Mann-Whitney U; REGRESSED: B worse at p < {c.alpha}",
        caption_justify="left",
        show_lines=True,
    )
    t.add_column("cell", overflow="fold", min_width=14)
    for col in ("n A/B", "recovery s", "avail during"):
        t.add_column(col, justify="right")
    for cell in c.cells:
        r, av = cell.recovery_s, cell.availability_during
        t.add_row(cell.label, f"{r.n_a}/{r.n_b}", _change(r, "{:.2f}"), _change(av, "{:.3f}"))
    return t


def render_comparison(c: Comparison, fmt: str, console: Console) -> None:
    if fmt == "json":
        console.print_json(json.dumps(c.to_json()))
        return
    console.print(comparison_table(c))
    for side, cells in (("A", c.only_a), ("B", c.only_b)):
        for cell in cells:
            console.print(f"[yellow]unmatched:[/] only in {side}: {cell.label}")
    n = len(c.regressions)
    console.print(f"[bold red]{n} cell(s) regressed[/]" if n else "no significant regression")


def status_table(views: Sequence[Any]) -> Table:
    t = Table(title="campaigns")
    for col in ("id", "name", "status", "done/total", "by status", "lease", "heartbeat", "flags"):
        t.add_column(col)
    for v in views:
        t.add_row(
            str(v.id),
            v.name + (f"\n[dim]re-run of {v.rerun_of}[/]" if v.rerun_of is not None else ""),
            v.status,
            f"{v.trials_done}/{v.trials_total}",
            " ".join(f"{k}={n}" for k, n in v.by_status.items()),
            v.lease_holder or "-",
            "-" if v.heartbeat_age_s is None else f"{v.heartbeat_age_s:.0f}s ago",
            f"[bold yellow]{' '.join(v.flags)}[/]" if v.flags else "",
        )
    return t


def render_status(views: Sequence[Any], fmt: str, console: Console) -> None:
    """The status table and each campaign's hint (how to resume it), or JSON."""
    if fmt == "json":
        console.print_json(json.dumps([v.to_json() for v in views]))
        return
    console.print(status_table(views))
    for v in views:
        if v.hint:
            flags = ", ".join(v.flags) or v.status
            console.print(f"campaign {v.id}: {flags}: {v.hint}", markup=False, highlight=False)


def render_lines(console: Console, lines: Sequence[str]) -> None:
    for line in lines:
        console.print(line, highlight=False)
