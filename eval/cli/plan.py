"""`chaos-eval plan FILE`: the dry run. The matrix, what a run of the file would still run
against this db, the images it needs and whether they are there, and an estimated duration
(eval/analysis/forecast.py). Reads the db read-only (never creates it) and asks Docker only
to inspect images."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chaos_eval.cli.boundary import DbOpt, boundary, check_format, out, run_async
from chaos_eval.errors import CampaignStateError, ChaosEvalError
from chaos_eval.store.access import Access

if TYPE_CHECKING:
    from chaos_eval.analysis.forecast import History
    from chaos_eval.spec.config import CampaignConfig
    from chaos_eval.spec.matrix import PlannedTrial
    from chaos_eval.store.store import Store


async def _what_runs(
    store: Store, cfg: CampaignConfig, planned: list[PlannedTrial]
) -> tuple[str, set[str]]:
    """What `run campaign FILE` would do (resolve_campaign's rules), and the keys it would run."""
    from chaos_eval.commands import cli_command
    from chaos_eval.run.control import continues
    from chaos_eval.spec.matrix import spec_hash

    every = {p.key for p in planned}
    latest = await store.latest_campaign(cfg.name)
    if latest is None:
        return "creates a new campaign", every
    try:
        same = latest.spec_hash == spec_hash(cfg) and continues(latest)
    except CampaignStateError:
        left = await _left(store, cfg, latest.id, planned)
        return (f"is refused: campaign {latest.id} is held; "
                f"{cli_command('resume', latest.id)} would run {len(left)} trial(s)"), left
    if same:
        left = await _left(store, cfg, latest.id, planned)
        done = sum(s.is_final for s in (await store.trial_statuses(latest.id)).values())
        return f"continues campaign {latest.id} ({done} trials done)", left
    if not latest.status.is_over and latest.spec_hash != spec_hash(cfg):
        return (f"is refused: unfinished campaign {latest.id} has another spec; --new "
                "starts a fresh campaign (the estimate assumes that)"), every
    return "creates a new campaign", every


async def _left(
    store: Store, cfg: CampaignConfig, campaign_id: int, planned: list[PlannedTrial]
) -> set[str]:
    """The keys a continued run would still run, from the index alone. Sampled: every planned
    key not finished in a cell that has not ended (the forecast counts those up to each
    cell's target)."""
    from chaos_eval.analysis.sampling import CELL_ENDED, CellEnd

    statuses = await store.trial_statuses(campaign_id)
    if cfg.samples is None:
        return {k for k, s in statuses.items() if not s.is_final}
    ends = [CellEnd.from_detail(e.detail) for e in await store.events(campaign_id, CELL_ENDED)]
    ended = {(e.subject, e.fault, e.params) for e in ends if e is not None}
    final = {k for k, s in statuses.items() if s.is_final}
    return {p.key for p in planned
            if p.key not in final and (p.subject, p.fault, p.params) not in ended}


async def _history(store: Store, cfg: CampaignConfig) -> History:
    from chaos_eval.analysis.forecast import history_of

    runs = [(c, await store.trials(c.id)) for c in await store.campaigns()]
    return history_of(cfg, runs)


def plan(
    config: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    db: DbOpt = Path("eval.db"),
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
) -> None:
    """Dry run: the matrix, what a run would still run against --db (read-only; a missing db
    means a new campaign), the images and whether they are built, and an estimated duration
    from earlier trials of the same cells (or the configured phases)."""
    from chaos_eval.analysis.forecast import History, forecast
    from chaos_eval.engine.client import Docker
    from chaos_eval.images.state import image_states
    from chaos_eval.render.plan import render_plan
    from chaos_eval.spec.config import load_campaign
    from chaos_eval.spec.matrix import expand
    from chaos_eval.spec.registry import required_images
    from chaos_eval.spec.samples import cell_samples
    from chaos_eval.store.store import Store

    check_format(fmt, ("table", "json"))
    with boundary():
        cfg = load_campaign(config)
        matrix = expand(cfg)
        planned = [p for p, _ in matrix]
    bounds = {(p.subject, p.fault, p.params): (s.target, s.max_trials)  # a sampled cell's
              for p, c in matrix if (s := cell_samples(cfg, c.chaos)) is not None}

    async def go() -> tuple[Any, list[Any], str]:
        what, keys, history = "creates a new campaign (no db yet)", {p.key for p in planned}, None
        if db.exists():
            async with await Store.open(db, Access.READ) as store:
                what, keys = await _what_runs(store, cfg, planned)
                history = await _history(store, cfg)
        fc = forecast(cfg, planned, keys, what, history or History({}, {}), bounds)
        builds, external = required_images(cfg.subjects)
        try:
            return fc, await image_states(builds, external, Docker()), ""
        except ChaosEvalError as e:
            return fc, [], f"could not ask Docker ({e}); needed: {', '.join(builds + external)}"

    fc, images, note = run_async(go)
    render_plan(fc, images, note, fmt, out)


def validate(config: Annotated[Path, typer.Argument(help="Campaign YAML file.")]) -> None:
    """Check a campaign file with the same loader `eval run` uses, and show its matrix."""
    from chaos_eval.spec.config import load_campaign
    from chaos_eval.spec.matrix import expand

    with boundary():
        cfg = load_campaign(config)
        planned = expand(cfg)
    cells = {(p.subject, p.fault, p.params) for p, _ in planned}
    out.print(
        f"{config}: ok: campaign {cfg.name!r}, {len(cells)} cells, {len(planned)} trials"
        + (" at most" if cfg.samples else "") + f", parallel {cfg.parallel}"
    )
    if cfg.samples:
        s = cfg.samples
        rule = f", stop when {s.stop_when.describe} after {s.min_samples}" if s.stop_when else ""
        out.print(f"samples: target {s.target}, max_trials {s.max_trials} per cell{rule}",
                  markup=False)
