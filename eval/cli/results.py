"""The `eval` commands that read results: analyze, compare and report (HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chaos_eval.cli.boundary import DbOpt, FormatOpt, check_format, err, open_store, out, run_async
from chaos_eval.outcomes import ExitCode


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
) -> None:
    """Per-cell verdicts and statistics for a campaign."""
    from chaos_eval.analysis.analyze import analyze as do_analyze
    from chaos_eval.render.junit import junit_xml
    from chaos_eval.render.report import render_analysis

    check_format(fmt, ("table", "json", "csv", "markdown"))

    async def load() -> Any:
        async with await open_store(db) as store:
            row = await store.campaign(campaign_id)
            return do_analyze(row, await store.trial_results(campaign_id))

    result = run_async(load)
    render_analysis(result, fmt, out, db=db)
    if junit is not None:
        junit.write_text(junit_xml(result, db), encoding="utf-8")
        if fmt == "table":
            out.print(f"wrote {junit}")
    if check and any(c.missed_slo for c in result.cells):
        raise typer.Exit(ExitCode.FAILED)


# -- compare and report ---------------------------------------------------------------------


async def _load_analysis(db: Path, campaign_ids: list[int]) -> list[Any]:
    from chaos_eval.analysis.analyze import analyze as do_analyze

    async with await open_store(db) as store:
        return [
            do_analyze(await store.campaign(cid), await store.trial_results(cid))
            for cid in campaign_ids
        ]


def compare(
    campaign_a: Annotated[int, typer.Argument(help="Campaign id A, the reference.")],
    campaign_b: Annotated[int, typer.Argument(help="Campaign id B, compared against A.")],
    db: DbOpt = Path("eval.db"),
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if B regressed significantly in any cell.")
    ] = False,
) -> None:
    """Per matching cell: recovery time and availability during the fault, A vs B, with a
    two-sided Mann-Whitney U test; B worse at p < 0.05 is a regression."""
    from chaos_eval.analysis.compare import compare as do_compare
    from chaos_eval.render.report import render_comparison

    check_format(fmt, ("table", "json"))
    a, b = run_async(lambda: _load_analysis(db, [campaign_a, campaign_b]))
    result = do_compare(a, b)
    render_comparison(result, fmt, out)
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
) -> None:
    """Write one self-contained HTML report (inline SVG charts, no network): pass-rate
    heatmap, recovery distribution per cell, throughput and latency over time around each
    fault window, and the per-cell table."""
    import datetime

    from chaos_eval.analysis.analyze import analyze as do_analyze
    from chaos_eval.render.html import TrialChart, chart_trials, render_html

    async def load() -> tuple[Any, list[TrialChart]]:
        async with await open_store(db) as store:
            row = await store.campaign(campaign_id)
            analysis = do_analyze(row, await store.trial_results(campaign_id))
            charted = chart_trials(analysis, trials)
            return analysis, [TrialChart(t, await store.ops(t.id)) for t in charted]

    analysis, charts = run_async(load)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        output.write_text(render_html(analysis, charts, now, db), encoding="utf-8")
    except OSError as e:
        err.print(f"[bold red]error:[/] {output}: {e.strerror or e}")
        raise typer.Exit(ExitCode.BAD_INPUT) from None
    out.print(f"wrote {output} ({len(charts)} trial(s) charted)")
