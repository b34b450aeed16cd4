"""Which campaign a run of a file continues, or the new one it creates (same name and
spec: continue; a changed spec: refuse unless --new; a held or closed one: say so)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaos_eval import __version__
from chaos_eval.errors import StoreError
from chaos_eval.run.control import continues
from chaos_eval.run.provenance import git_sha
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.spec.matrix import (
    BASELINE,
    Coordinates,
    campaign_seed,
    expand,
    spec_hash,
    spec_json,
)
from chaos_eval.spec.shard import ShardSpec, check_shard_size, shard_plan
from chaos_eval.store.records import CampaignRow, TrialRow
from chaos_eval.store.store import Store


async def remaining(
    store: Store, cfg: CampaignConfig, campaign_id: int
) -> list[tuple[TrialRow, Coordinates]]:
    """The campaign's trials a run still runs (not final), in run order, each with where it
    sits in the matrix. Reads only the unfinished rows (from the index trials_order); a
    finished campaign, the usual resume of a big one, expands and hashes nothing."""
    rows = {r.key: r for r in await store.unfinished_trials(campaign_id)}
    return [(rows[p.key], c) for p, c in expand(cfg) if p.key in rows] if rows else []


@dataclass(frozen=True)
class Resolution:
    campaign: CampaignRow
    created: bool


async def resolve_campaign(
    store: Store,
    cfg: CampaignConfig,
    config_path: str,
    argv: Sequence[str],
    *,
    new: bool,
    shard: ShardSpec | None = None,
) -> Resolution:
    """Find the campaign this run continues, or create it. A changed spec is refused. With
    `shard`, the campaign holds that shard's trials only (chaos_eval.spec.shard) and only a
    campaign of the same shard is continued."""
    shash = spec_hash(cfg)
    label = str(shard) if shard else None
    latest = await store.latest_campaign(cfg.name, label)
    if latest is not None and not new:
        if latest.spec_hash == shash and continues(latest):  # held: refused; closed: anew
            return Resolution(latest, created=False)
        if not latest.status.is_over and latest.spec_hash != shash:
            raise StoreError(
                f"campaign {latest.id} ({cfg.name!r}) is unfinished and {config_path} no longer "
                f"matches its spec; resume it with its original file or `eval resume "
                f"{latest.id}`, or pass --new to start a fresh campaign"
            )
    planned = [p for p, _ in expand(cfg)]
    if cfg.samples is not None:  # a sampled cell's trials are added as they start
        planned = [p for p in planned if p.fault == BASELINE]
    if shard is not None:
        check_shard_size(planned, shard, config_path)
        planned = shard_plan(planned, shard)
    cid = await store.create_campaign(
        name=cfg.name,
        spec_hash=shash,
        spec_json=spec_json(cfg),
        config_path=config_path,
        seed=campaign_seed(cfg),
        harness_version=__version__,
        git_sha=git_sha(),
        argv=argv,
        trials=planned,
        shard=label,
    )
    return Resolution(await store.campaign(cid), created=True)
