"""Render analyses, comparisons and statuses for a terminal: rich tables (and JSON; CSV and
Markdown are eval/render/exports.py, JUnit XML eval/render/junit.py).

Only render and cli print. Renderers take a rich Console so tests can render into
an in-memory console.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chaos_eval.analysis.analyze import Analysis
from chaos_eval.analysis.compare import Comparison, MetricChange
from chaos_eval.outcomes import TrialStatus
from chaos_eval.render.exports import analysis_csv, analysis_markdown
from chaos_eval.render.json_text import write_json
from chaos_eval.render.numbers import num, pct
from chaos_eval.render.progress import snapshot_lines
from chaos_eval.render.prometheus import prometheus_text
from chaos_eval.render.reruns import rerun_lines


def cells_table(a: Analysis) -> Table:
    """Eight narrow columns, so the table stays legible in an 80-column terminal."""
    c = a.campaign
    rerun = f" · re-run of campaign {c.rerun_of}" if c.rerun_of is not None else ""
    lin = any(x.histories is not None for x in a.cells)  # register workload histories
    t = Table(
        title=f"campaign {c.id} · {c.name} · {c.status.value}{rerun}",
        caption=TABLE_KEY + (LIN_KEY if lin else ""),
        show_lines=True,
        caption_justify="left",
    )
    t.add_column("cell", overflow="fold", min_width=14)
    for col in ("n", "p/f/e/c", "pass rate", "recovery s", "avail", "p99 ms", "lost"):
        t.add_column(col, justify="right", no_wrap=False)
    if lin:
        t.add_column("lin/not/unk", justify="right", no_wrap=False)
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
        row = [
            f"{cell.subject} / {cell.fault}" + (f"\n[dim]{params}[/]" if params else ""),
            str(cell.trials),
            outcome,
            "-" if pr.value is None else f"{pr.value:.0%}\n[dim][{pr.low:.0%}-{pr.high:.0%}][/]",
            f"{num(r.median)}\n[dim]{num(r.min)}-{num(r.max)}[/]",
            f"{pct(cell.availability_during)}\n[dim]{pct(cell.availability_after)}[/]",
            num(cell.latency_p99_ms, "{:.0f}"),
            f"[red]{cell.lost_writes}[/]" if cell.lost_writes else "0",
        ]
        if lin:
            row.append(history_counts(cell.histories))
        t.add_row(*row)
    return t


def history_counts(h: dict[str, int] | None) -> str:
    """linearizable/not/unknown histories of a cell ("-": it has none)."""
    if h is None:
        return "-"
    bad = h.get("not_linearizable", 0)
    return "/".join(
        [str(h.get("linearizable", 0)), f"[red]{bad}[/]" if bad else "0",
         f"[yellow]{h.get('unknown', 0)}[/]" if h.get("unknown") else "0"]
    )


TABLE_KEY = (
    "p/f/e/c: passed/failed/error/cleanup_failed · pass rate: Wilson 95% interval below · "
    "recovery s: median, min-max below · avail: during the fault, after it below · "
    "p99 ms: latency during the fault"
)
LIN_KEY = (
    " · lin/not/unk: register histories linearizable / not linearizable / undecided "
    "(the checker's budget ran out)"
)


def print_json(console: Console, data: object) -> None:
    """The text rich's print_json writes (2-space indent, non-ASCII kept), straight to the
    console's file: highlighting (or even segmenting) a 100k-trial analysis costs minutes
    and hundreds of MB."""
    write_json(data, console.file)  # json.dump's indent=2 text, at the C encoder's speed
    console.file.write("\n")
    console.file.flush()


def render_analysis(
    a: Analysis, fmt: str, console: Console, db: str | Path | None = None
) -> None:
    """`db` is named in the re-run commands (omitted: the default eval.db)."""
    if fmt == "json":
        print_json(console, a.to_json(db))
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
        if cell.ended:
            console.print(f"  {escape(cell.label)}: [bold]{escape(cell.ended)}[/]")
    for cell in a.cells:
        for reason in cell.reasons[:3]:
            console.print(f"  [dim]{escape(cell.label)}:[/] {escape(reason)}")
    for line in rerun_lines(a.campaign.id, a.trials, db):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _change(m: MetricChange, fmt: str) -> str:
    """'a -> b' with p below; red and flagged when it regressed."""
    if m.p is None:
        return "-"
    text = f"{num(m.a, fmt)} → {num(m.b, fmt)}\n[dim]p={m.p:.3f}[/]"
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
        print_json(console, c.to_json())
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
    """The status table, each running campaign's snapshot and each campaign's hint (how to
    resume it), or JSON, or the Prometheus text format."""
    if fmt == "json":
        print_json(console, [v.to_json() for v in views])
        return
    if fmt == "prometheus":
        console.print(prometheus_text(views), end="", markup=False, highlight=False)
        return
    console.print(status_table(views))
    for v in views:
        if v.snapshot is not None:
            render_lines(console, [escape(x) for x in snapshot_lines(v.id, v.snapshot)])
    for v in views:
        if v.samples:
            console.print(f"campaign {v.id}: samples: {v.samples}", markup=False,
                          highlight=False)
    for v in views:
        if v.hint:
            flags = ", ".join(v.flags) or v.status
            console.print(f"campaign {v.id}: {flags}: {v.hint}", markup=False, highlight=False)


def render_lines(console: Console, lines: Sequence[str]) -> None:
    for line in lines:
        console.print(line, highlight=False)
