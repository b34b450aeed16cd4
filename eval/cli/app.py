"""The typer app behind `chaos-eval` and `python -m chaos_eval`.

Thin by design: parse, call the domain entry points, render through render/report.py, map outcomes
to the exit codes of chaos_eval.outcomes.ExitCode. The run commands are here; the ones that read
results are eval/cli/results.py, the housekeeping ones eval/cli/admin.py, all registered
below. What they share (consoles, options, the error boundary, the one asyncio.run) is
eval/cli/boundary.py.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from chaos_eval import __version__
from chaos_eval.cli import admin as cli_admin
from chaos_eval.cli import bundles as cli_bundles
from chaos_eval.cli import control as cli_control
from chaos_eval.cli import nightly as cli_nightly
from chaos_eval.cli import plan as cli_plan
from chaos_eval.cli import results as cli_results
from chaos_eval.cli.boundary import (
    DbOpt,
    SkipImagesOpt,
    VerboseOpt,
    boundary,
    err,
    guarded,
    open_store,
    out,
    run_async,
    setup_logging,
)
from chaos_eval.cli.progress import progress_line
from chaos_eval.commands import cli_command
from chaos_eval.outcomes import CampaignStatus, ExitCode, TrialStatus, campaign_exit_code
from chaos_eval.store.access import Access

if TYPE_CHECKING:
    from chaos_eval.spec.config import CampaignConfig, SubjectSpec
    from chaos_eval.store.records import CampaignRow
    from chaos_eval.store.store import Store

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


def _version(value: bool) -> None:
    if value:
        out.print(f"chaos-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    pass
app.add_typer(images_app, name="images")


# -- validate ---------------------------------------------------------------------------------


app.command()(guarded(cli_plan.validate))


# -- run ----------------------------------------------------------------------------------


ImagesFn = Callable[["Sequence[SubjectSpec]"], Awaitable[None]]
Opened = tuple["CampaignRow", "CampaignConfig", str]  # the campaign, its config, what happened
# Finds or creates the campaign to run, and checks the images through the callback: before it
# creates anything (rerun), or after it has refused what it must refuse (run campaign FILE).
Opener = Callable[["Store", ImagesFn], Awaitable[Opened]]


async def _run_campaign(
    db: Path, opener: Opener, access: Access, skip_images: bool, unless_held: bool = False
) -> tuple[int, CampaignStatus, list[TrialStatus]]:
    from chaos_eval.cli.live import live_dashboard
    from chaos_eval.engine.client import Docker
    from chaos_eval.images.build import ensure_images
    from chaos_eval.images.recipes import require_images
    from chaos_eval.run.campaign import CampaignRunner
    from chaos_eval.spec.registry import required_images

    docker = Docker()

    async def images(subjects: Sequence[SubjectSpec]) -> None:
        if skip_images:
            return
        names, external = required_images(subjects)
        await require_images(external, docker)  # says which are missing, how to get them
        for built in await ensure_images(names, docker):
            if built.built:
                out.print(f"built image {built.ref} in {built.seconds:.0f}s")

    async with await open_store(db, access) as store:
        row, cfg, verb = await opener(store, images)
        trials = await store.trials(row.id)
        done = sum(t.status.is_final for t in trials)
        out.print(
            f"campaign {row.id} ({row.name}) {verb}: {done}/{len(trials)} trials done, db {db}",
            markup=False,
        )
        runner = CampaignRunner(cfg, row, store, docker, progress=progress_line,
                                unless_held=unless_held)
        async with live_dashboard(store, cfg, row, out):
            status = await runner.run()
        if runner.abort_reason:
            err.print(f"[bold red]campaign aborted:[/] {runner.abort_reason}")
        return row.id, status, [t.status for t in await store.trials(row.id)]


def _run_to_end(db: Path, opener: Opener, *, access: Access, skip_images: bool,
                unless_held: bool = False) -> None:
    """Run what is left of the campaign, then show its analysis (with the command that
    re-runs each trial that did not pass) and exit with the campaign's exit code."""
    cid, status, final = run_async(
        lambda: _run_campaign(db, opener, access, skip_images, unless_held))
    cli_results.analyze(cid, db=db, fmt="table", check=False, junit=None)
    out.print(f"\nresults: {cli_command('analyze', cid, '--db', db)}", markup=False)
    code = campaign_exit_code(status, final)
    if code == ExitCode.INTERRUPTED:
        resume_cmd = escape(cli_command("resume", cid, "--db", db))
        out.print(f"[yellow]interrupted[/]: continue with: {resume_cmd}")
    if status == CampaignStatus.HELD:
        resume_cmd = escape(cli_command("resume", cid, "--db", db))
        out.print(f"[yellow]held[/]: continue with: {resume_cmd}, or end it with `close`")
    if code != ExitCode.OK:
        raise typer.Exit(code)


@run_app.command("campaign")
@guarded
def run_campaign(
    config: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    db: DbOpt = Path("eval.db"),
    new: Annotated[
        bool,
        typer.Option(
            "--new", help="Start a fresh campaign even if an unfinished one of this name exists."
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="Run only shard I of N (e.g. 2/4): a deterministic, balanced share of every "
            "cell, plus the baselines of the subjects it uses; merge the shards' dbs with "
            "`chaos-eval merge`.",
        ),
    ] = None,
    skip_images: SkipImagesOpt = False,
    verbose: VerboseOpt = False,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Run in the background: print the campaign id and return; the log goes "
            "next to the db (see `chaos-eval logs ID -f`); `hold ID` or SIGTERM stop it.",
        ),
    ] = False,
) -> None:
    """Run (or continue) a campaign: finished trials are skipped, the rest run."""
    from chaos_eval.errors import ConfigError
    from chaos_eval.run.resolve import resolve_campaign
    from chaos_eval.spec.config import load_campaign
    from chaos_eval.spec.matrix import expand
    from chaos_eval.spec.shard import check_shard_size, parse_shard

    with boundary():  # everything about the input is checked before the db is opened
        part = parse_shard(shard) if shard is not None else None
        cfg = load_campaign(config)
        if part is not None and cfg.samples is not None:
            raise ConfigError(str(config), "samples", "--shard: a sampled campaign is not "
                              "sharded (each cell decides its own count); run it whole")
        if part is not None:
            check_shard_size([p for p, _ in expand(cfg)], part, str(config))

    if detach:
        cli_control.detach(db, cli_control.resolve_only(config, db, new, part),
                           skip_images, verbose)
        return

    async def from_file(store: Store, images: ImagesFn) -> Opened:
        res = await resolve_campaign(store, cfg, str(config), sys.argv, new=new, shard=part)
        await images(cfg.subjects)
        verb = "created" if res.created else "continuing"
        return res.campaign, cfg, f"{verb} (shard {part})" if part else verb

    setup_logging(verbose)
    _run_to_end(db, from_file, access=Access.CREATE, skip_images=skip_images)


@app.command()
@guarded
def resume(
    campaign_id: Annotated[int, typer.Argument(help="Campaign id (see `chaos-eval status`).")],
    db: DbOpt = Path("eval.db"),
    skip_images: SkipImagesOpt = False,
    verbose: VerboseOpt = False,
    unless_held: Annotated[bool, typer.Option("--unless-held", hidden=True)] = False,
) -> None:
    """Repair and continue an interrupted campaign by id, with its recorded spec."""
    from chaos_eval.run.control import check_resumable
    from chaos_eval.spec.matrix import recorded_config

    async def recorded(store: Store, images: ImagesFn) -> Opened:
        row = await store.campaign(campaign_id)
        check_resumable(row)
        cfg = recorded_config(row.spec_json, f"{db} (campaign {campaign_id})")
        await images(cfg.subjects)
        return row, cfg, "resuming"

    setup_logging(verbose)  # --unless-held (--detach's run): a hold before the lease wins
    _run_to_end(db, recorded, access=Access.WRITE, skip_images=skip_images,
                unless_held=unless_held)


@app.command()
@guarded
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
    from chaos_eval.run.rerun import create_rerun, plan_rerun, provenance_note

    async def one_trial(store: Store, images: ImagesFn) -> Opened:
        plan = await plan_rerun(store, campaign_id, trial)
        await images(plan.subjects)
        row = await create_rerun(store, plan, sys.argv)
        out.print(plan.describe(), markup=False)
        if note := provenance_note(plan.original, row):
            err.print(f"note: {note}", markup=False)
        return row, plan.cfg, "created"

    setup_logging(verbose)
    _run_to_end(db, one_trial, access=Access.WRITE, skip_images=skip_images)


# -- the commands of the other cli modules, in the order `eval --help` lists them --------------

app.command()(guarded(cli_results.analyze))
app.command()(guarded(cli_results.compare))
app.command("report")(guarded(cli_results.html_report))
app.command()(guarded(cli_bundles.bundle))
app.command()(guarded(cli_bundles.check))
app.command()(guarded(cli_nightly.merge))
app.command()(guarded(cli_nightly.trend))
app.command()(guarded(cli_admin.status))
app.command()(guarded(cli_admin.gc))
app.command()(guarded(cli_admin.schema))
app.command()(guarded(cli_plan.plan))
app.command()(guarded(cli_control.hold))
app.command()(guarded(cli_control.close))
app.command()(guarded(cli_control.logs))
app.command()(guarded(cli_control.watch))
images_app.command("build")(guarded(cli_admin.images_build))
