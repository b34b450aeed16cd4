"""The typer app behind `eval`, `chaos-eval` and `python -m eval`.

Thin by design: parse, call the domain entry points, render through eval.report, map outcomes
to the exit codes of eval.outcomes.ExitCode. The only place that calls asyncio.run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from eval.errors import (
    CampaignNotFound,
    ChaosEvalError,
    ConfigError,
    LeaseHeldError,
    StoreError,
)
from eval.outcomes import CampaignStatus, ExitCode, TrialStatus

T = TypeVar("T")
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="chaos-eval: declarative, resumable chaos campaigns against real clusters in Docker.\n\n"
    "Exit codes: 0 ok, 1 a trial failed its SLO or a --check tripped, 2 bad input, "
    "3 harness errors / aborted / cleanup_failed, 4 campaign held by another process, "
    "130 interrupted.",
)
run_app = typer.Typer(no_args_is_help=True, help="Run a campaign.")
images_app = typer.Typer(no_args_is_help=True, help="Build the images subjects and helpers need.")
app.add_typer(run_app, name="run")
app.add_typer(images_app, name="images")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOpt = Annotated[Path, typer.Option("--db", help="Path of the SQLite results database.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | json | csv | markdown")]


def _exit_for(e: ChaosEvalError) -> ExitCode:
    if isinstance(e, LeaseHeldError):
        return ExitCode.LEASE_HELD
    if isinstance(e, ConfigError | StoreError | CampaignNotFound):
        return ExitCode.BAD_INPUT
    return ExitCode.HARNESS_ERROR


def _run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run with the error boundary: one clear line, a documented code, no traceback."""
    try:
        return asyncio.run(coro_fn())
    except ChaosEvalError as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(_exit_for(e)) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def _open_store(db: Path, *, create: bool = False) -> Any:
    from eval.store import Store

    return await Store.open(db, create=create)


# -- validate ---------------------------------------------------------------------------------


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="Campaign YAML file.")]) -> None:
    """Check a campaign file with the same loader `eval run` uses, and show its matrix."""
    from eval.config import load_campaign
    from eval.matrix import expand

    try:
        cfg = load_campaign(config)
        planned = expand(cfg)
    except ChaosEvalError as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(_exit_for(e)) from None
    cells = {(p.subject, p.fault, p.params) for p, _ in planned}
    out.print(
        f"{config}: ok: campaign {cfg.name!r}, {len(cells)} cells, {len(planned)} trials, "
        f"parallel {cfg.parallel}"
    )


# -- run ----------------------------------------------------------------------------------


def _progress(event: str, row: Any, status: TrialStatus | None) -> None:
    label = f"{row.subject}/{row.fault} {row.params} #{row.repetition}" if row else ""
    if event == "started":
        out.print(f"[dim]→ trial {row.id} {label}[/]")
    elif status is not None:
        colour = {"passed": "green", "failed": "red", "error": "yellow"}.get(status.value, "red")
        out.print(f"[{colour}]{status.value:>14}[/] trial {row.id} {label}")


async def _run_campaign(
    config: Path | None, campaign_id: int | None, db: Path, new: bool, skip_images: bool
) -> tuple[int, CampaignStatus, list[TrialStatus]]:
    from eval import campaign as camp
    from eval.config import load_campaign, parse_campaign
    from eval.docker import Docker
    from eval.images import ensure_images, require_images
    from eval.registry import required_images

    store = await _open_store(db, create=campaign_id is None)
    try:
        if campaign_id is None:
            assert config is not None
            cfg = load_campaign(config)
            res = await camp.resolve_campaign(store, cfg, str(config), sys.argv, new=new)
            row = res.campaign
            verb = "created" if res.created else "continuing"
        else:
            row = await store.campaign(campaign_id)
            cfg = parse_campaign(json.loads(row.spec_json), f"{db} (campaign {campaign_id})")
            verb = "resuming"
        trials = await store.trials(row.id)
        done = sum(t.status.is_final for t in trials)
        out.print(
            f"campaign {row.id} ({row.name}) {verb}: {done}/{len(trials)} trials done, db {db}"
        )
        docker = Docker()
        if not skip_images:
            names, external = required_images(cfg.subjects)
            await require_images(external, docker)  # says which are missing, how to get them
            for built in await ensure_images(names, docker):
                if built.built:
                    out.print(f"built image {built.ref} in {built.seconds:.0f}s")
        runner = camp.CampaignRunner(cfg, row, store, docker, progress=_progress)
        status = await runner.run()
        final = [t.status for t in await store.trials(row.id)]
        if runner.abort_reason:
            err.print(f"[bold red]campaign aborted:[/] {runner.abort_reason}")
        return row.id, status, final
    finally:
        await store.close()


def _finish_run(db: Path, cid: int, status: CampaignStatus, final: list[TrialStatus]) -> None:
    analyze(cid, db=db, fmt="table", check=False, junit=None)
    out.print(f"\nresults: chaos-eval analyze {cid} --db {db}")
    if status == CampaignStatus.INTERRUPTED:
        out.print(f"[yellow]interrupted[/]: continue with: chaos-eval resume {cid} --db {db}")
        raise typer.Exit(ExitCode.INTERRUPTED)
    if status == CampaignStatus.ABORTED or any(
        s in (TrialStatus.ERROR, TrialStatus.CLEANUP_FAILED) for s in final
    ):
        raise typer.Exit(ExitCode.HARNESS_ERROR)
    if TrialStatus.FAILED in final:
        raise typer.Exit(ExitCode.FAILED)


@run_app.command("campaign")
def run_campaign(
    config: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    db: DbOpt = Path("eval.db"),
    new: Annotated[
        bool,
        typer.Option(
            "--new", help="Start a fresh campaign even if an unfinished one of this name exists."
        ),
    ] = False,
    skip_images: Annotated[
        bool, typer.Option("--skip-image-build", help="Do not build missing images.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run (or continue) a campaign: finished trials are skipped, the rest run."""
    _setup_logging(verbose)
    cid, status, final = _run(lambda: _run_campaign(config, None, db, new, skip_images))
    _finish_run(db, cid, status, final)


@app.command()
def resume(
    campaign_id: Annotated[int, typer.Argument(help="Campaign id (see `eval status`).")],
    db: DbOpt = Path("eval.db"),
    skip_images: Annotated[bool, typer.Option("--skip-image-build")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Repair and continue an interrupted campaign by id, with its recorded spec."""
    _setup_logging(verbose)
    cid, status, final = _run(lambda: _run_campaign(None, campaign_id, db, False, skip_images))
    _finish_run(db, cid, status, final)


# -- analyze --------------------------------------------------------------------------------


@app.command()
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
    from eval.analyze import analyze as do_analyze
    from eval.report import junit_xml, render_analysis

    if fmt not in ("table", "json", "csv", "markdown"):
        err.print(f"[bold red]error:[/] --format: {fmt!r} is not one of table, json, csv, markdown")
        raise typer.Exit(ExitCode.BAD_INPUT)

    async def load() -> Any:
        store = await _open_store(db)
        try:
            row = await store.campaign(campaign_id)
            return do_analyze(row, await store.trials(campaign_id))
        finally:
            await store.close()

    result = _run(load)
    render_analysis(result, fmt, out)
    if junit is not None:
        junit.write_text(junit_xml(result), encoding="utf-8")
        if fmt == "table":
            out.print(f"wrote {junit}")
    if check and any(c.missed_slo for c in result.cells):
        raise typer.Exit(ExitCode.FAILED)


# -- compare and report ---------------------------------------------------------------------


async def _load_analysis(db: Path, campaign_ids: list[int]) -> list[Any]:
    from eval.analyze import analyze as do_analyze

    store = await _open_store(db)
    try:
        return [
            do_analyze(await store.campaign(cid), await store.trials(cid)) for cid in campaign_ids
        ]
    finally:
        await store.close()


@app.command()
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
    from eval.compare import compare as do_compare
    from eval.report import render_comparison

    if fmt not in ("table", "json"):
        err.print(f"[bold red]error:[/] --format: {fmt!r} is not one of table, json")
        raise typer.Exit(ExitCode.BAD_INPUT)
    a, b = _run(lambda: _load_analysis(db, [campaign_a, campaign_b]))
    result = do_compare(a, b)
    render_comparison(result, fmt, out)
    if check and result.regressions:
        raise typer.Exit(ExitCode.FAILED)


@app.command("report")
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

    from eval.analyze import analyze as do_analyze
    from eval.html_report import TrialChart, chart_trials, render_html

    async def load() -> tuple[Any, list[TrialChart]]:
        store = await _open_store(db)
        try:
            row = await store.campaign(campaign_id)
            analysis = do_analyze(row, await store.trials(campaign_id))
            charted = chart_trials(analysis, trials)
            return analysis, [TrialChart(t, await store.ops(t.id)) for t in charted]
        finally:
            await store.close()

    analysis, charts = _run(load)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        output.write_text(render_html(analysis, charts, now), encoding="utf-8")
    except OSError as e:
        err.print(f"[bold red]error:[/] {output}: {e.strerror or e}")
        raise typer.Exit(ExitCode.BAD_INPUT) from None
    out.print(f"wrote {output} ({len(charts)} trial(s) charted)")


# -- status -------------------------------------------------------------------------------


@app.command()
def status(
    campaign_id: Annotated[int | None, typer.Argument(help="One campaign (default: all).")] = None,
    db: DbOpt = Path("eval.db"),
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
) -> None:
    """Every campaign with progress, lease holder, heartbeat age and stale/stuck flags."""
    from eval.status import campaign_status

    if fmt not in ("table", "json"):
        err.print(f"[bold red]error:[/] --format: {fmt!r} is not one of table, json")
        raise typer.Exit(ExitCode.BAD_INPUT)

    async def load() -> Any:
        store = await _open_store(db)
        try:
            return await campaign_status(store, campaign_id)
        finally:
            await store.close()

    views = _run(load)
    if fmt == "json":
        out.print_json(json.dumps([v.to_json() for v in views]))
        return
    from eval.report import status_table

    out.print(status_table(views))
    for v in views:
        if v.hint:
            out.print(f"campaign {v.id}: {', '.join(v.flags) or v.status}: {v.hint}")


# -- gc -------------------------------------------------------------------------------------


@app.command()
def gc(
    db: DbOpt = Path("eval.db"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, remove nothing.")] = False,
    include_foreign: Annotated[
        bool,
        typer.Option(
            "--include-foreign",
            help="Also remove resources of campaigns not in this database.",
        ),
    ] = False,
) -> None:
    """Remove labelled resources of dead campaigns and undo their open fault-ledger rows."""
    from eval.docker import Docker
    from eval.gc import plan_gc, run_gc

    async def go() -> Any:
        store = await _open_store(db)
        try:
            docker = Docker()
            items = await plan_gc(store, docker, include_foreign=include_foreign)
            removed = 0 if dry_run else await run_gc(store, docker, items)
            return items, removed
        finally:
            await store.close()

    items, removed = _run(go)
    for i in items:
        who = f"campaign {i.campaign_id}" if i.campaign_id else f"label {i.campaign_label}"
        r = i.resources
        out.print(
            f"{who}: {len(r.containers)} containers, {len(r.networks)} networks, "
            f"{len(r.volumes)} volumes, {i.open_ledger} open faults: "
            f"{'would ' if dry_run and i.action == 'remove' else ''}{i.action}"
        )
    if not items:
        out.print("nothing to collect")
    elif not dry_run:
        out.print(f"collected {removed} campaign(s)")


# -- images ---------------------------------------------------------------------------------


@images_app.command("build")
def images_build(
    names: Annotated[list[str] | None, typer.Argument(help="Recipes (default: all).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if up to date.")] = False,
) -> None:
    """Build images from Debian packages (debootstrap + docker import); no registry needed."""
    from eval.docker import Docker
    from eval.images import RECIPES, ensure_images

    wanted = names or sorted(RECIPES)
    unknown = [n for n in wanted if n not in RECIPES]
    if unknown:
        err.print(
            f"[bold red]error:[/] unknown image recipe(s) {unknown}; known: {sorted(RECIPES)}"
        )
        raise typer.Exit(ExitCode.BAD_INPUT)

    async def build() -> Any:
        return await ensure_images(wanted, Docker(), force=force)

    for r in _run(build):
        state = f"built in {r.seconds:.0f}s" if r.built else "up to date"
        out.print(f"{r.name:8} {r.ref:28} {r.hash[:12]}  {state}")


def main() -> None:
    app()
