"""The `eval` commands that read results: analyze, compare and report (HTML). They open the db
read-only; the files they write go through eval/cli/output.py (never over the db, never over
a file that is not a previous output of ours without --force)."""

from __future__ import annotations

import gc
from contextlib import aclosing
from pathlib import Path
from typing import Annotated, Any

import typer

from chaos_eval.cli.boundary import DbOpt, FormatOpt, check_format, err, open_store, out, run_async
from chaos_eval.cli.output import write_output
from chaos_eval.outcomes import ExitCode

ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace the output file even if it is not a previous output of chaos-eval "
        "(never the results db itself).",
    ),
]


def analyze(
    campaign_id: Annotated[int, typer.Argument(help="Campaign id.")],
    db: DbOpt = Path("eval.db"),
    fmt: FormatOpt = "table",
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if any cell missed its SLO.")
    ] = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write JUnit XML here.")
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Per-cell verdicts and statistics for a campaign."""
    from chaos_eval.render.junit import MARKER, junit_xml
    from chaos_eval.render.report import render_analysis

    check_format(fmt, ("table", "json", "csv", "markdown"))

    async def load() -> Any:
        from chaos_eval.analysis.cell_ends import cell_ends, with_ends

        async with await open_store(db) as store:
            a = await tally(store, campaign_id)
            ends = cell_ends(a.campaign, a.trials, await store.events(campaign_id, "cell_ended"))
            return with_ends(a, ends)

    result = run_async(load)
    if junit is not None:  # before anything is printed: a refusal is the only output
        write_output(junit, junit_xml(result, db), marker=MARKER, kind="JUnit file",
                     force=force, db=db)  # fmt: skip
    render_analysis(result, fmt, out, db=db)
    if junit is not None and fmt == "table":
        out.print(f"wrote {junit}", markup=False)
    if check and any(c.missed_slo for c in result.cells):
        raise typer.Exit(ExitCode.FAILED)


MAX_TIMELINES = 10  # history timelines drawn per report


async def tally(store: Any, campaign_id: int) -> Any:
    """The campaign's analysis, its trials streamed from the store in run order and each
    cell summarised as soon as its last trial is read (eval/analysis/analyze.py)."""
    from chaos_eval.analysis.analyze import CampaignTally

    t = CampaignTally(await store.campaign(campaign_id), await store.cell_sizes(campaign_id))
    # The tally makes no reference cycles, but parsing 100k trials' JSON allocates millions
    # of objects while the briefs it keeps grow: the cycle collector's passes over them cost
    # a fifth of the time. Paused for the loop, back on (and run by need) after it.
    gc.disable()
    try:
        async with aclosing(store.trial_results(campaign_id)) as chunks:  # its cursor closed
            async for chunk in chunks:  # even when a trial is refused midway
                for trial in chunk:
                    t.add(trial)
    finally:
        gc.enable()
    return t.analysis()


# -- compare and report ---------------------------------------------------------------------


async def _load_analysis(db: Path, campaign_id: int) -> Any:
    async with await open_store(db) as store:
        return await tally(store, campaign_id)


def compare(
    campaign_a: Annotated[int, typer.Argument(help="Campaign id A, the reference.")],
    campaign_b: Annotated[int, typer.Argument(help="Campaign id B, compared against A.")],
    db: DbOpt = Path("eval.db"),
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if B regressed significantly in any cell.")
    ] = False,
    db_a: Annotated[
        Path | None,
        typer.Option("--db-a", help="Read campaign A from this db (e.g. last night's merged db)."),
    ] = None,
) -> None:
    """Per matching cell: recovery time and availability during the fault, A vs B, with a
    two-sided Mann-Whitney U test; B worse at p < 0.05 is a regression."""
    from chaos_eval.analysis.compare import compare as do_compare
    from chaos_eval.render.report import render_comparison

    check_format(fmt, ("table", "json"))
    a = run_async(lambda: _load_analysis(db_a or db, campaign_a))
    b = run_async(lambda: _load_analysis(db, campaign_b))
    result = do_compare(a, b)
    render_comparison(result, fmt, out)
    if check and not result.cells:
        err.print(
            f"[bold red]error:[/] --check: no cell of campaign {campaign_b} matches a cell of "
            f"campaign {campaign_a} (subject, fault, params): nothing was compared"
        )
        raise typer.Exit(ExitCode.FAILED)
    if check and result.regressions:
        raise typer.Exit(ExitCode.FAILED)


def html_report(
    campaign_id: Annotated[int, typer.Argument(help="Campaign id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    db: DbOpt = Path("eval.db"),
    trials: Annotated[
        int, typer.Option("--trials", min=1, help="Trials charted over time per cell.")
    ] = 1,
    force: ForceOpt = False,
) -> None:
    """Write one self-contained HTML report (inline SVG charts, no network): pass-rate
    heatmap, recovery distribution per cell, throughput and latency over time around each
    fault window, the history timeline of register trials that are not linearizable, and
    the per-cell table."""
    import datetime

    from chaos_eval.history import parse_history
    from chaos_eval.render.html import MARKER, TrialChart, chart_trials, render_html
    from chaos_eval.render.timeline import HistoryChart

    async def load() -> tuple[Any, list[TrialChart], list[HistoryChart]]:
        async with await open_store(db) as store:
            analysis = await tally(store, campaign_id)
            charted = chart_trials(analysis, trials)
            failing = [t for t in analysis.trials
                       if t.history_verdict == "not_linearizable"][:MAX_TIMELINES]
            return analysis, [
                TrialChart(await store.trial(t.id), await store.ops(t.id)) for t in charted
            ], [
                HistoryChart(await store.trial(t.id), parse_history(text, f"trial {t.id} history"))
                for t in failing if (text := await store.history(t.id)) is not None
            ]

    analysis, charts, histories = run_async(load)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    html = render_html(analysis, charts, now, db, histories)
    write_output(output, html, marker=MARKER, kind="report", force=force, db=db)
    out.print(f"wrote {output} ({len(charts)} trial(s) charted)", markup=False)
