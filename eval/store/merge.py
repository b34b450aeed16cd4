"""`merge`: shard dbs into one campaign, in the output db.

The merged campaign is the unsharded campaign: the same spec, hash and seed, every trial of
the expansion (those no shard has run yet stay `pending`, so a missing shard shows and
`resume` can run it). Each trial a shard owns is copied with its ops, register histories,
captured container logs, fault-ledger rows and events, and keeps its provenance:
`trials.shard` (which shard) and `trials.host` (which host ran it). A shard's pilot copies
of baselines owned elsewhere are not trials of the merged campaign; their events are kept
with `trial_id` NULL and a note. `merged_shards` records each shard db taken in (by its
campaign uid) and up to which of its events, so merging the same shard again adds nothing.
What is taken is decided first (merge_plan.py), so a refusal writes nothing; then one
transaction writes it all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from chaos_eval.errors import StoreError
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.spec.matrix import expand, recorded_config
from chaos_eval.store.campaigns import Campaigns
from chaos_eval.store.connection import Connection
from chaos_eval.store.merge_plan import MergePlan, plan_merge
from chaos_eval.store.packed_figures import figure_columns
from chaos_eval.store.shard_source import Row, ShardSource

TRIAL_COPY = (
    "status", "phase", "attempts", "started_at", "finished_at", "targets", "recovery_s",
    "measurements", "proof", "reasons", "error", "host",
)  # fmt: skip
OP_COLS = ("attempt", "kind", "node", "key", "start", "end", "outcome", "error")
LEDGER_COLS = ("kind", "description", "targets", "undo", "state", "opened_at", "closed_at")


@dataclass(frozen=True)
class MergeResult:
    campaign_id: int
    created: bool
    taken: int  # shard trials copied in by this merge
    status: CampaignStatus
    unfinished: int  # trials of the merged campaign not final yet


async def _merged_campaign(conn: Connection, spec_hash: str) -> int | None:
    rows = await conn.rows(
        "SELECT id FROM campaigns WHERE spec_hash = ? AND shard IS NULL AND rerun_of IS NULL"
        " AND id IN (SELECT campaign_id FROM merged_shards) ORDER BY id DESC LIMIT 1",
        (spec_hash,),
    )
    return int(rows[0][0]) if rows else None


async def _refuse_other_merges(conn: Connection, spec_hash: str, where: str) -> None:
    """One merged campaign per output db: shards of another spec go into another db."""
    rows = await conn.rows(
        "SELECT id, name, spec_hash FROM campaigns WHERE spec_hash != ?"
        " AND id IN (SELECT campaign_id FROM merged_shards) LIMIT 1",
        (spec_hash,),
    )
    if rows:
        raise StoreError(
            f"{conn.path}: already holds the merge of campaign {rows[0]['id']} "
            f"({rows[0]['name']}, spec hash {str(rows[0]['spec_hash'])[:12]}); {where} is a "
            f"shard of spec hash {spec_hash[:12]}: merge it into another db"
        )


async def _trials_by_key(conn: Connection, cid: int) -> dict[str, Row]:
    rows = await conn.rows("SELECT * FROM trials WHERE campaign_id = ?", (cid,))
    return {str(r["key"]): dict(r) for r in rows}


async def merge_shards(
    conn: Connection, sources: Sequence[ShardSource], argv: Sequence[str]
) -> MergeResult:
    """Merge `sources` into the output db behind `conn`; see the module docstring."""
    first = sources[0].campaign
    await _refuse_other_merges(conn, first.spec_hash, str(sources[0].path))
    cid = await _merged_campaign(conn, first.spec_hash)
    merged = await _trials_by_key(conn, cid) if cid is not None else {}
    plan = plan_merge(sources, merged)  # refuses before anything is written
    created = cid is None
    if cid is None:
        cfg = recorded_config(first.spec_json, str(sources[0].path))
        cid = await Campaigns(conn).create(
            name=first.name,
            spec_hash=first.spec_hash,
            spec_json=first.spec_json,
            config_path=first.config_path,
            seed=first.seed,
            harness_version=first.harness_version,
            git_sha=first.git_sha,
            argv=argv,
            trials=[p for p, _ in expand(cfg)],
        )
        merged = await _trials_by_key(conn, cid)
    async with conn.transaction() as db:
        for src in sources:
            await _take_shard(db, cid, src, plan, merged)
        status, unfinished = await _settle(db, cid, sources)
    return MergeResult(cid, created, len(plan.takes), status, unfinished)


async def _take_shard(
    db: aiosqlite.Connection, cid: int, src: ShardSource, plan: MergePlan, merged: dict[str, Row]
) -> None:
    took: dict[int, int] = {}  # source trial id -> merged trial id
    for take in plan.takes:
        if take.shard is not src:
            continue
        t = take.source
        tid = int(merged[str(t["key"])]["id"])
        took[int(t["id"])] = tid
        sets = ", ".join(f"{c} = ?" for c in TRIAL_COPY)
        await db.execute(
            f"UPDATE trials SET {sets}, figures = ?, figures_skeleton = ?, figures_f64 = ?,"
            " shard = ? WHERE id = ?",
            (*(t[c] for c in TRIAL_COPY), *figure_columns(t["measurements"]), src.shard, tid),
        )
        for table in ("ops", "fault_ledger", "events", "histories", "container_logs"):
            await db.execute(f"DELETE FROM {table} WHERE trial_id = ?", (tid,))
        await db.executemany(
            "INSERT INTO histories(trial_id, attempt, text) VALUES (?, ?, ?)",
            [(tid, h["attempt"], h["text"]) for h in src.histories.get(int(t["id"]), [])],
        )
        await db.executemany(
            "INSERT INTO container_logs(trial_id, attempt, node, text) VALUES (?, ?, ?, ?)",
            [(tid, g["attempt"], g["node"], g["text"]) for g in src.logs.get(int(t["id"]), [])],
        )
        await db.executemany(
            f"INSERT INTO ops(trial_id, {', '.join(OP_COLS)}) VALUES (?{', ?' * len(OP_COLS)})",
            [(tid, *(o[c] for c in OP_COLS)) for o in src.ops.get(int(t["id"]), [])],
        )
        await db.executemany(
            f"INSERT INTO fault_ledger(campaign_id, trial_id, {', '.join(LEDGER_COLS)})"
            f" VALUES (?, ?{', ?' * len(LEDGER_COLS)})",
            [(cid, tid, *(r[c] for c in LEDGER_COLS)) for r in src.ledger.get(int(t["id"]), [])],
        )
    rows = await db.execute_fetchall(
        "SELECT last_event_id FROM merged_shards WHERE campaign_id = ? AND source_uid = ?",
        (cid, src.campaign.uid),
    )
    last = int(next(iter(rows))[0]) if rows else 0
    pilots = plan.pilots.get(str(src.path), set())
    events = [_event(e, cid, took, pilots, src) for e in src.events]
    fresh = [
        ev
        for e, ev in zip(src.events, events, strict=True)
        if ev is not None and (e["trial_id"] in took or int(e["id"]) > last)
    ]
    await db.executemany(
        "INSERT INTO events(campaign_id, trial_id, at, kind, detail) VALUES (?,?,?,?,?)", fresh
    )
    newest = max((int(e["id"]) for e in src.events), default=0)
    if took or newest > last:
        await db.execute(
            "INSERT INTO merged_shards(campaign_id, source_uid, shard, source_path,"
            " last_event_id, merged_at) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(campaign_id, source_uid) DO UPDATE SET last_event_id ="
            " excluded.last_event_id, merged_at = excluded.merged_at",
            (cid, src.campaign.uid, src.shard, str(src.path), newest, time.time()),
        )


def _event(
    e: Row, cid: int, took: dict[int, int], pilots: set[int], src: ShardSource
) -> tuple[object, ...] | None:
    """The merged form of a shard event, or None if it belongs to a trial not taken now."""
    detail = str(e["detail"])
    trial = e["trial_id"]
    if trial is None:
        return (cid, None, e["at"], e["kind"], f"[shard {src.shard}] {detail}".rstrip())
    if trial in took:
        return (cid, took[trial], e["at"], e["kind"], detail)
    if trial in pilots:
        note = f"[shard {src.shard} pilot copy of a baseline owned by another shard]"
        return (cid, None, e["at"], e["kind"], f"{note} {detail}".rstrip())
    return None


async def _settle(
    db: aiosqlite.Connection, cid: int, sources: Sequence[ShardSource]
) -> tuple[CampaignStatus, int]:
    """The merged campaign's status: finished once every trial is final; else aborted if a
    shard aborted (its reason kept), else interrupted. Written (with its event) only when it
    changes."""
    rows = await db.execute_fetchall("SELECT status FROM trials WHERE campaign_id = ?", (cid,))
    unfinished = sum(not TrialStatus(str(r[0])).is_final for r in rows)
    aborted = [s for s in sources if s.campaign.status == CampaignStatus.ABORTED]
    status, reason = CampaignStatus.FINISHED, ""
    if unfinished and aborted:
        status = CampaignStatus.ABORTED
        reason = "; ".join(f"shard {s.shard}: {s.campaign.reason}" for s in aborted)
    elif unfinished:
        status, reason = CampaignStatus.INTERRUPTED, f"{unfinished} trials not merged yet"
    now = time.time()
    cur = await db.execute(
        "UPDATE campaigns SET status = ?, reason = ?, updated_at = ?, finished_at = ?"
        " WHERE id = ? AND (status != ? OR reason != ?)",
        (status.value, reason, now, now if not unfinished else None, cid, status.value, reason),
    )
    if cur.rowcount:
        await db.execute(
            "INSERT INTO events(campaign_id, at, kind, detail) VALUES (?,?,?,?)",
            (cid, now, f"campaign_{status.value}", reason or "merged"),
        )
    return status, unfinished
