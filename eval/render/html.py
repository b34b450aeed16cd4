"""A campaign as one self-contained HTML page: inline SVG charts (eval/render/plot.py), inline CSS,
no scripts, no network references. Pure: the CLI loads the rows and ops and writes the file.

Sections: the campaign header; a subject x fault heatmap of pass rate; the recovery-time
distribution per cell; for each charted trial, throughput (ok ops/s) and p50 latency per
1 s bucket and per node, with the fault window shaded (lighter: [injected_at, removed_at),
from the start of inject to cleanup returning; darker: the part where the fault was proven
active, from verify_active returning to cleanup starting); and the per-cell table.

A huge campaign stays a page a browser opens at once: a cell with more than STRIP_MAX
recovery times is drawn as that many evenly spaced quantiles of them (deterministic: the
same campaign, the same dots), and at most RERUN_MAX trials that did not pass are listed
with their re-run command (the rest: `analyze --format json`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from chaos_eval.analysis.analyze import Analysis, Cell, TrialBrief
from chaos_eval.analysis.metrics import timeseries
from chaos_eval.commands import cli_command, rerun_command
from chaos_eval.outcomes import TrialStatus
from chaos_eval.render.numbers import num, pct
from chaos_eval.render.plot import PALETTE, Series, Span, heatmap, line_chart, strip_plot
from chaos_eval.render.reruns import not_passed
from chaos_eval.render.timeline import HistoryChart, history_section
from chaos_eval.store.records import OpRecord, TrialRow, trial_label
from chaos_eval.workload import Op, OpKind

BUCKET_S = 1.0
# in the first lines of every report: how `report -o` knows a file it may replace
MARKER = "<meta name='generator' content='chaos-eval report'>"
STRIP_MAX = 501  # dots per cell in the recovery chart; above, a quantile sample (odd: median)
RERUN_MAX = 200  # trials listed with their re-run command; the rest: analyze --format json
JUDGED = (TrialStatus.PASSED, TrialStatus.FAILED)

CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1340px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }
h3 { font-size: 14px; margin: 14px 0 4px; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
.bad { color: #c00; font-weight: bold; } .dim { color: #777; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; }
.meta { font-size: 13px; } .meta span { margin-right: 18px; }
ul.rerun { font-size: 13px; } ul.rerun code { background: #f3f3f3; padding: 1px 4px; }
"""


@dataclass(frozen=True)
class TrialChart:
    trial: TrialRow
    ops: Sequence[OpRecord]  # as the store reads them back


def chart_trials(a: Analysis, per_cell: int) -> list[TrialBrief]:
    """Per cell, the first `per_cell` trials to finish with a verdict and a fault window (the
    caller reads their rows and ops to chart them)."""
    by_id = a.by_id
    out: list[TrialBrief] = []
    for cell in a.cells:
        judged = sorted(
            (by_id[i] for i in cell.trial_ids if by_id[i].status in JUDGED),
            key=lambda t: (t.finished_at or 0.0, t.id),
        )
        with_window = (t for t in judged if t.windowed)
        out += [t for _, t in zip(range(per_cell), with_window, strict=False)]
    return out


def _fault_label(c: Cell) -> str:
    p = ",".join(f"{k}={v}" for k, v in sorted(c.params.items()))
    return c.fault + (f" ({p})" if p else "")


def spans(t: TrialRow) -> list[Span]:
    m = t.measurements_dict
    w = m["window"]
    if t.fault == "baseline":
        out = [Span(w["injected_at"], w["removed_at"], "hold (no fault)", "#7f7f7f", 0.15)]
    else:
        out = [Span(w["injected_at"], w["removed_at"], "fault window", "#d62728", 0.10)]
        if m.get("inject_s") is not None and m.get("cleanup_s") is not None:
            a, b = w["injected_at"] + m["inject_s"], w["removed_at"] - m["cleanup_s"]
            if b > a:
                out.append(Span(a, b, "proven active", "#d62728", 0.18))
    if t.recovery_s is not None:
        at = w["removed_at"] + t.recovery_s
        out.append(Span(at, at, f"recovered +{t.recovery_s:.2f}s", "#2ca02c", 0.9))
    return out


def trial_charts(tc: TrialChart) -> str:
    t = tc.trial
    live = [  # the store's records, as the workload's ops the metrics take
        Op(o.kind, o.node, o.key, o.start, o.end, o.outcome, o.error)
        for o in tc.ops
        if o.kind != OpKind.FINAL_READ
    ]
    if not live:
        return '<p class="dim">no recorded operations</p>'
    span = (min(o.start for o in live), max(o.start for o in live))
    nodes = sorted({o.node for o in live})
    targets = set(json.loads(t.targets or "[]"))
    total = timeseries(live, BUCKET_S, span)
    thr = [Series("all nodes", [(x, y) for x, y, _ in total], "#333333")]
    lat = [Series("all nodes", [(x, p) for x, _, p in total], "#333333")]
    for i, n in enumerate(nodes):
        ts = timeseries([o for o in live if o.node == n], BUCKET_S, span)
        name = n + (" (target)" if n in targets else "")
        color = PALETTE[i % len(PALETTE)]
        thr.append(Series(name, [(x, y) for x, y, _ in ts], color))
        lat.append(Series(name, [(x, p) for x, _, p in ts], color))
    sp = spans(t)
    head = (
        f"trial {t.id}: {escape(t.subject)} / {escape(t.fault)} {escape(t.params)} "
        f"rep {t.repetition} - {t.status.value}, recovery {num(t.recovery_s)} s"
        + (f", target {escape(', '.join(sorted(targets)))}" if targets else "")
    )
    return (
        f"<h3>{head}</h3><div class='charts'>"
        + line_chart(
            thr,
            title="throughput (ok ops/s, 1 s buckets)",
            x_label="trial clock (s)",
            y_label="ok ops/s",
            spans=sp,
        )
        + line_chart(
            lat,
            title="latency p50 of ok ops (ms, 1 s buckets)",
            x_label="trial clock (s)",
            y_label="ms",
            spans=sp,
        )
        + "</div>"
    )


def pass_rate_heatmap(a: Analysis) -> str:
    subjects = list(dict.fromkeys(c.subject for c in a.cells))
    faults = list(dict.fromkeys(_fault_label(c) for c in a.cells))
    values = {(c.subject, _fault_label(c)): c.pass_rate.value for c in a.cells}
    notes = {(c.subject, _fault_label(c)): f"{c.passed}/{c.passed + c.failed}" for c in a.cells}
    return heatmap(
        subjects, faults, values, notes=notes, title="pass rate: subject x fault (passed / judged)"
    )


def quantile_sample(values: Sequence[float], most: int) -> list[float]:
    """All values when there are at most `most`; else `most` evenly spaced order statistics
    (min, max and median included when `most` is odd): the distribution's shape, in a chart
    a browser draws at once, the same for the same campaign."""
    if len(values) <= most:
        return list(values)
    ordered = sorted(values)
    n = len(ordered) - 1
    return [ordered[round(i * n / (most - 1))] for i in range(most)]


def sampled(a: Analysis) -> bool:
    return any(c.trials > STRIP_MAX for c in a.cells)


def recovery_strips(a: Analysis) -> str:
    by_id = a.by_id
    groups = []
    for c in a.cells:
        judged = [by_id[i] for i in c.trial_ids if by_id[i].status in JUDGED]
        vals = [t.recovery_s for t in judged if t.recovery_s is not None]
        missing = len(judged) - len(vals)
        shown = quantile_sample(vals, STRIP_MAX)
        note = f" [{len(shown)} of {len(vals)} shown]" if len(shown) < len(vals) else ""
        groups.append((c.label + (f" [{missing} never]" if missing else "") + note, shown))
    return strip_plot(
        groups,
        title="recovery time per cell (dots: trials, bar: median)"
        + (f"; a cell of over {STRIP_MAX}: evenly spaced quantiles" if sampled(a) else ""),
        x_label="seconds from the fault's removal to healthy",
        width=1000,
    )


def cell_table(a: Analysis) -> str:
    head = (
        "cell",
        "n",
        "passed",
        "failed",
        "errors",
        "cleanup failed",
        "pass rate (95% CI)",
        "recovery s min / median / max",
        "avail. during",
        "avail. after",
        "p50 ms",
        "p99 ms",
        "lost writes",
    )
    rows = [
        "<tr>"
        + "".join(f"<th{' class=l' if i == 0 else ''}>{h}</th>" for i, h in enumerate(head))
        + "</tr>"
    ]
    for c in a.cells:
        pr, r = c.pass_rate, c.recovery_s
        rate = "-" if pr.value is None else f"{pr.value:.0%} ({pr.low:.0%}-{pr.high:.0%})"
        cells = [
            f"<td class=l>{escape(c.label)}</td>",
            f"<td>{c.trials}</td>",
            f"<td>{c.passed}</td>",
            f"<td{' class=bad' if c.failed else ''}>{c.failed}</td>",
            f"<td>{c.errors}</td>",
            f"<td{' class=bad' if c.cleanup_failed else ''}>{c.cleanup_failed}</td>",
            f"<td>{rate}</td>",
            f"<td>{num(r.min)} / {num(r.median)} / {num(r.max)}</td>",
            f"<td>{pct(c.availability_during)}</td>",
            f"<td>{pct(c.availability_after)}</td>",
            f"<td>{num(c.latency_p50_ms, '{:.0f}')}</td>",
            f"<td>{num(c.latency_p99_ms, '{:.0f}')}</td>",
            f"<td{' class=bad' if c.lost_writes else ''}>{c.lost_writes}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + "\n".join(rows) + "</table>"


def rerun_list(a: Analysis, db: str | Path | None) -> str:
    """Each trial that did not pass, with the command that re-runs it; "" when all passed."""
    bad = not_passed(a.trials)
    items = [
        f"<li>{escape(t.status.value)}: trial {t.id}, {escape(trial_label(t))}<br>"
        f"<code>{escape(rerun_command(a.campaign.id, t.key, db))}</code></li>"
        for t in bad[:RERUN_MAX]
    ]
    if len(bad) > RERUN_MAX:
        db_args = ("--db", db) if db is not None else ()
        every = cli_command("analyze", a.campaign.id, *db_args, "--format", "json")
        items.append(f"<li>{len(bad) - RERUN_MAX} more; every trial's command: "
                     f"<code>{escape(every)}</code></li>")
    if not items:
        return ""
    return ("<h2>Trials that did not pass</h2><p class='dim'>Each command re-runs that trial "
            "as a new one-trial campaign: same spec, key and seed.</p>"
            f"<ul class='rerun'>{''.join(items)}</ul>")


def render_html(a: Analysis, charts: Sequence[TrialChart], generated: str,
                db: str | Path | None = None, histories: Sequence[HistoryChart] = ()) -> str:
    c = a.campaign
    totals = " ".join(f"{k}={n}" for k, n in a.totals().items() if n)
    meta = [
        ("status", c.status.value),
        ("trials", totals),
        ("seed", str(c.seed)),
        ("git", c.git_sha[:12]),
        ("harness", c.harness_version),
        ("generated", generated),
    ]
    parts = [
        "<!DOCTYPE html>",
        f"<html lang='en'><head><meta charset='utf-8'>{MARKER}",
        f"<title>chaos-eval campaign {c.id}: {escape(c.name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>chaos-eval campaign {c.id}: {escape(c.name)}</h1>",
        "<p class='meta'>"
        + "".join(f"<span><b>{k}</b> {escape(v)}</span>" for k, v in meta)
        + "</p>",
    ]
    if c.reason:
        parts.append(f"<p class='bad'>{escape(c.reason)}</p>")
    parts += [
        "<h2>Pass rate</h2>",
        pass_rate_heatmap(a),
        "<h2>Recovery time</h2>",
        recovery_strips(a),
        "<h2>Trials over time</h2>",
        "<p class='dim'>Shaded: the fault window (light) and the part of it where the fault "
        "was proven active (dark); green bar: recovered. Lines per node, and all nodes.</p>",
    ]
    parts += [trial_charts(tc) for tc in charts] or ["<p class='dim'>no finished trials</p>"]
    if histories:
        parts.append("<h2>Register histories that are not linearizable</h2>")
        parts += [history_section(h) for h in histories]
    parts += ["<h2>Cells</h2>", cell_table(a), rerun_list(a, db), "</body></html>"]
    return "\n".join(parts) + "\n"
