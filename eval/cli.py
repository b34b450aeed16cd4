"""The typer app behind `eval`, `chaos-eval` and `python -m eval`.

Thin by design: parse, call the domain entry points, render through eval.report, map outcomes
to the exit codes of eval.outcomes.ExitCode. The only place that calls asyncio.run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from eval.errors import (
    CampaignNotFound,
    ChaosEvalError,
    ConfigError,
    LeaseHeldError,
    StoreError,
    TrialNotFound,
)
from eval.outcomes import CampaignStatus, ExitCode, TrialStatus, campaign_exit_code
from eval.rerun import cli_command, trial_label

if TYPE_CHECKING:
    from eval.config import CampaignConfig, SubjectSpec
    from eval.records import CampaignRow
    from eval.store import Store

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
SkipImagesOpt = Annotated[
    bool, typer.Option("--skip-image-build", help="Do not build or check images.")
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log to stderr.")]


def _exit_for(e: ChaosEvalError) -> ExitCode:
    if isinstance(e, LeaseHeldError):
        return ExitCode.LEASE_HELD
    if isinstance(e, ConfigError | StoreError | CampaignNotFound | TrialNotFound):
        return ExitCode.BAD_INPUT
    return ExitCode.HARNESS_ERROR


@contextlib.contextmanager
def _boundary() -> Iterator[None]:
    """The error boundary: one clear line, a documented exit code, no traceback."""
    try:
        yield
    except ChaosEvalError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}")
        raise typer.Exit(_exit_for(e)) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def _run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run inside the error boundary."""
    with _boundary():
        return asyncio.run(coro_fn())


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def _open_store(db: Path, *, create: bool = False) -> Store:
    from eval.store import Store

    return await Store.open(db, create=create)


def _bad_format(fmt: str, allowed: Sequence[str]) -> None:
    if fmt not in allowed:
        err.print(f"[bold red]error:[/] --format: {fmt!r} is not one of {', '.join(allowed)}")
        raise typer.Exit(ExitCode.BAD_INPUT)


# -- validate ---------------------------------------------------------------------------------


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="Campaign YAML file.")]) -> None:
    """Check a campaign file with the same loader `eval run` uses, and show its matrix."""
    from eval.config import load_campaign
    from eval.matrix import expand

    with _boundary():
        cfg = load_campaign(config)
        planned = expand(cfg)
    cells = {(p.subject, p.fault, p.params) for p, _ in planned}
    out.print(
        f"{config}: ok: campaign {cfg.name!r}, {len(cells)} cells, {len(planned)} trials, "
        f"parallel {cfg.parallel}"
    )


# -- run ----------------------------------------------------------------------------------


def _progress(event: str, row: Any, status: TrialStatus | None) -> None:
    label = escape(trial_label(row)) if row else ""
    if event == "started":
        out.print(f"[dim]→ trial {row.id} {label}[/]")
    elif status is not None:
        colour = {"passed": "green", "failed": "red", "error": "yellow"}.get(status.value, "red")
        out.print(f"[{colour}]{status.value:>14}[/] trial {row.id} {label}")


ImagesFn = Callable[["Sequence[SubjectSpec]"], Awaitable[None]]
Opened = tuple["CampaignRow", "CampaignConfig", str]  # the campaign, its config, what happened
# Finds or creates the campaign to run, and checks the images through the callback: before it
# creates anything (rerun), or after it has refused what it must refuse (run campaign FILE).
Opener = Callable[["Store", ImagesFn], Awaitable[Opened]]


async def _run_campaign(
    db: Path, opener: Opener, create: bool, skip_images: bool
) -> tuple[int, CampaignStatus, list[TrialStatus]]:
    from eval.campaign import CampaignRunner
    from eval.docker import Docker
    from eval.images import ensure_images, require_images
    from eval.registry import required_images

    docker = Docker()

    async def images(subjects: Sequence[SubjectSpec]) -> None:
        if skip_images:
            return
        names, external = required_images(subjects)
        await require_images(external, docker)  # says which are missing, how to get them
        for built in await ensure_images(names, docker):
            if built.built:
                out.print(f"built image {built.ref} in {built.seconds:.0f}s")

    async with await _open_store(db, create=create) as store:
        row, cfg, verb = await opener(store, images)
        trials = await store.trials(row.id)
        done = sum(t.status.is_final for t in trials)
        out.print(
            f"campaign {row.id} ({row.name}) {verb}: {done}/{len(trials)} trials done, db {db}",
            markup=False,
        )
        runner = CampaignRunner(cfg, row, store, docker, progress=_progress)
        status = await runner.run()
        if runner.abort_reason:
            err.print(f"[bold red]campaign aborted:[/] {runner.abort_reason}")
        return row.id, status, [t.status for t in await store.trials(row.id)]


def _run_to_end(db: Path, opener: Opener, *, create: bool, skip_images: bool) -> None:
    """Run what is left of the campaign, then show its analysis (with the command that
    re-runs each trial that did not pass) and exit with the campaign's exit code."""
    cid, status, final = _run(lambda: _run_campaign(db, opener, create, skip_images))
    analyze(cid, db=db, fmt="table", check=False, junit=None)
    out.print(f"\nresults: {cli_command('analyze', cid, '--db', db)}", markup=False)
    code = campaign_exit_code(status, final)
    if code == ExitCode.INTERRUPTED:
        resume_cmd = escape(cli_command("resume", cid, "--db", db))
        out.print(f"[yellow]interrupted[/]: continue with: {resume_cmd}")
    if code != ExitCode.OK:
        raise typer.Exit(code)


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
    skip_images: SkipImagesOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run (or continue) a campaign: finished trials are skipped, the rest run."""
    from eval.campaign import resolve_campaign
    from eval.config import load_campaign

    async def from_file(store: Store, images: ImagesFn) -> Opened:
        cfg = load_campaign(config)
        res = await resolve_campaign(store, cfg, str(config), sys.argv, new=new)
        await images(cfg.subjects)
        return res.campaign, cfg, "created" if res.created else "continuing"

    _setup_logging(verbose)
    _run_to_end(db, from_file, create=True, skip_images=skip_images)


@app.command()
def resume(
    campaign_id: Annotated[int, typer.Argument(help="Campaign id (see `chaos-eval status`).")],
    db: DbOpt = Path("eval.db"),
    skip_images: SkipImagesOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Repair and continue an interrupted campaign by id, with its recorded spec."""
    from eval.matrix import recorded_config

    async def recorded(store: Store, images: ImagesFn) -> Opened:
        row = await store.campaign(campaign_id)
        cfg = recorded_config(row.spec_json, f"{db} (campaign {campaign_id})")
        await images(cfg.subjects)
        return row, cfg, "resuming"

    _setup_logging(verbose)
    _run_to_end(db, recorded, create=False, skip_images=skip_images)


@app.command()
def rerun(
    campaign_id: Annotated[int, typer.Argument(help="The campaign the trial belongs to.")],
    trial: Annotated[str, typer.Argument(help="The trial's key, or a unique prefix of it.")],
    db: DbOpt = Path("eval.db"),
    skip_images: SkipImagesOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Re-run one trial of a recorded campaign as a new one-trial campaign in the same db:
    same subject, fault, parameters, target, key and seed, from the spec the campaign
    recorded (its file may have changed or gone). The original is not touched."""
    from eval.rerun import create_rerun, plan_rerun, provenance_note

    async def one_trial(store: Store, images: ImagesFn) -> Opened:
        plan = await plan_rerun(store, campaign_id, trial)
        await images(plan.subjects)
        row = await create_rerun(store, plan, sys.argv)
        out.print(plan.describe(), markup=False)
        if note := provenance_note(plan.original, row):
            err.print(f"note: {note}", markup=False)
        return row, plan.cfg, "created"

    _setup_logging(verbose)
    _run_to_end(db, one_trial, create=False, skip_images=skip_images)


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

    _bad_format(fmt, ("table", "json", "csv", "markdown"))

    async def load() -> Any:
        async with await _open_store(db) as store:
            row = await store.campaign(campaign_id)
            return do_analyze(row, await store.trials(campaign_id))

    result = _run(load)
    render_analysis(result, fmt, out, db=db)
    if junit is not None:
        junit.write_text(junit_xml(result), encoding="utf-8")
        if fmt == "table":
            out.print(f"wrote {junit}")
    if check and any(c.missed_slo for c in result.cells):
        raise typer.Exit(ExitCode.FAILED)


# -- compare and report ---------------------------------------------------------------------


async def _load_analysis(db: Path, campaign_ids: list[int]) -> list[Any]:
    from eval.analyze import analyze as do_analyze

    async with await _open_store(db) as store:
        return [
            do_analyze(await store.campaign(cid), await store.trials(cid)) for cid in campaign_ids
        ]


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

    _bad_format(fmt, ("table", "json"))
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
        async with await _open_store(db) as store:
            row = await store.campaign(campaign_id)
            analysis = do_analyze(row, await store.trials(campaign_id))
            charted = chart_trials(analysis, trials)
            return analysis, [TrialChart(t, await store.ops(t.id)) for t in charted]

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
    from eval.report import render_status
    from eval.status import campaign_status

    _bad_format(fmt, ("table", "json"))

    async def load() -> Any:
        async with await _open_store(db) as store:
            return await campaign_status(store, campaign_id)

    render_status(_run(load), fmt, out)


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
        async with await _open_store(db) as store:
            docker = Docker()
            items = await plan_gc(store, docker, include_foreign=include_foreign)
            removed = 0 if dry_run else await run_gc(store, docker, items)
            return items, removed

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
