"""merge: shard dbs made through the real harness into one campaign: exact, idempotent,
provenance kept, inputs untouched; refusals (other spec, other schema, conflicting key,
unrelated or corrupt db) write nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from chaos_eval.errors import StoreError
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import BASELINE, expand
from chaos_eval.store.access import Access
from chaos_eval.store.merge import MergeResult
from chaos_eval.store.shard_source import load_shard
from chaos_eval.store.store import Store
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc
from tests.unit.store.shard_dbs import dump, make_shards, run_shard


async def merge(out: Path, shards: list[Path]) -> MergeResult:
    sources = [await load_shard(s) for s in shards]
    async with await Store.open(out) as store:
        return await store.merge_shards(sources, ["merge"])


def trials_of(out: Path, cid: int = 1) -> list[tuple[str, str, str | None, str]]:
    async def go() -> list[tuple[str, str, str | None, str]]:
        async with await Store.open(out, Access.READ) as store:
            return [(t.key, t.status.value, t.shard, t.host) for t in await store.trials(cid)]

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _fake(monkeypatch: pytest.MonkeyPatch) -> None:
    from chaos_eval.spec import registry

    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()


def test_merge_is_exact_with_provenance_and_leaves_shards_untouched(tmp_path: Path) -> None:
    shards = make_shards(tmp_path, 3)
    before = [dump(s) for s in shards]
    out = tmp_path / "night.db"
    res = asyncio.run(merge(out, shards))
    assert res.created and res.status == CampaignStatus.FINISHED and res.unfinished == 0
    expansion = sorted(p.key for p, _ in expand(parse_campaign(doc(), "mem")))
    rows = trials_of(out, res.campaign_id)
    assert sorted(k for k, *_ in rows) == expansion
    assert {s for _, s, _, _ in rows} == {"passed"}
    assert {sh for _, _, sh, _ in rows} == {"1/3", "2/3", "3/3"}
    assert all(host for *_, host in rows)
    assert [dump(s) for s in shards] == before  # read-only
    con = sqlite3.connect(out)
    # every trial's ops and events came along; pilot copies became notes, not trials
    n_ops = con.execute("SELECT COUNT(*) FROM ops").fetchone()[0]
    in_shards = sum(_count(s, "ops") for s in shards)
    assert n_ops == in_shards - sum(_pilot_ops(s) for s in shards) > 0
    assert con.execute("SELECT COUNT(*) FROM merged_shards").fetchone()[0] == 3
    assert con.execute(
        "SELECT COUNT(*) FROM events WHERE detail LIKE '%pilot copy%'"
    ).fetchone()[0] > 0
    started = con.execute(
        "SELECT COUNT(*) FROM events WHERE kind = 'trial_started' AND trial_id IS NOT NULL"
    )
    assert started.fetchone()[0] == len(expansion)


def _count(db: Path, table: str) -> int:
    return int(sqlite3.connect(db).execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _pilot_ops(shard: Path) -> int:
    """Ops of baselines this shard ran as pilot copies (owned by another shard)."""
    con = sqlite3.connect(shard)
    sh = con.execute("SELECT shard FROM campaigns").fetchone()[0]
    i, n = (int(x) for x in sh.split("/"))
    from chaos_eval.spec.shard import owners

    plan = [p for p, _ in expand(parse_campaign(doc(), "mem"))]
    own = owners(plan, n)
    keys = [k for k, f in con.execute("SELECT key, fault FROM trials") if f == BASELINE]
    return sum(
        con.execute(
            "SELECT COUNT(*) FROM ops JOIN trials ON trials.id = ops.trial_id WHERE trials.key = ?",
            (k,),
        ).fetchone()[0]
        for k in keys
        if own[k] != i
    )


def test_merging_again_adds_nothing(tmp_path: Path) -> None:
    shards = make_shards(tmp_path, 2)
    out = tmp_path / "night.db"
    asyncio.run(merge(out, shards[:1]))
    partial = trials_of(out)
    assert sum(s == "pending" for _, s, _, _ in partial) > 0  # the missing shard shows
    asyncio.run(merge(out, shards))
    once = dump(out)
    again = asyncio.run(merge(out, shards + shards[:1]))
    assert again.taken == 0 and not again.created
    assert dump(out) == once  # byte for byte the same rows


def test_refuses_shards_of_another_spec(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = make_shards(tmp_path / "a", 2)
    b = make_shards(tmp_path / "b", 2, trials_per_combination=3)
    out = tmp_path / "night.db"
    with pytest.raises(StoreError, match=r"spec hash .* differs"):
        asyncio.run(merge(out, [a[0], b[1]]))


def test_refuses_a_key_with_two_different_results(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_shards(tmp_path / "a", 2)
    out = tmp_path / "night.db"
    asyncio.run(merge(out, first))
    once = dump(out)
    # the same shard 1/2, run again elsewhere, where its writes were lost: other results
    cfg = parse_campaign(doc(), "mem")
    Tracker.lose_writes_for = {p.key for p, _ in expand(cfg) if p.fault != BASELINE}
    from chaos_eval.spec.shard import ShardSpec

    other = tmp_path / "b" / "shard1.db"
    asyncio.run(run_shard(other, doc(), ShardSpec(1, 2)))
    statuses = {r[0] for r in sqlite3.connect(other).execute("SELECT status FROM trials")}
    assert TrialStatus.FAILED.value in statuses
    with pytest.raises(StoreError, match="different result"):
        asyncio.run(merge(out, [other]))
    assert dump(out) == once
    # and between two inputs of one merge, into a fresh db
    fresh = tmp_path / "fresh.db"
    with pytest.raises(StoreError, match="different result"):
        asyncio.run(merge(fresh, [first[0], other]))


def test_refuses_other_schema_unrelated_and_corrupt_dbs(tmp_path: Path) -> None:
    (shard,) = make_shards(tmp_path, 1)
    for name, edit, why in (
        ("old", "DELETE FROM _migrations WHERE name = '0006_shards'", "written by an older"),
        ("newer", "INSERT INTO _migrations VALUES ('9999_future', 0)", "made by a newer"),
    ):
        other = tmp_path / f"{name}.db"
        other.write_bytes(shard.read_bytes())
        con = sqlite3.connect(other)
        con.execute(edit)
        con.commit()
        con.close()
        with pytest.raises(StoreError, match=rf"^shard .*{name}\.db: {why} chaos-eval"):
            asyncio.run(load_shard(other))
    unsharded = tmp_path / "plain.db"
    asyncio.run(run_shard(unsharded, doc(), None))
    with pytest.raises(StoreError, match=r"^shard .*plain\.db: holds 0 shard campaigns"):
        asyncio.run(load_shard(unsharded))
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x13" * 5000)
    with pytest.raises(StoreError, match=r"^shard .*corrupt\.db: not a usable chaos-eval"):
        asyncio.run(load_shard(corrupt))
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StoreError, match=r"^shard .*foreign\.db: .*not made by chaos-eval"):
        asyncio.run(load_shard(foreign))


def test_histories_and_container_logs_come_along(tmp_path: Path) -> None:
    """What `bundle` and `check` read of a trial (its register history, the container logs
    captured at teardown) is in the merged db too, under the merged trial."""
    shards = make_shards(tmp_path, 2)
    planted: dict[str, str] = {}
    for s in shards:
        con = sqlite3.connect(s)
        for tid, key in con.execute("SELECT id, key FROM trials"):
            text = f'{{"history of": "{key}"}}\n'
            con.execute("INSERT INTO histories(trial_id, attempt, text) VALUES (?, 1, ?)",
                        (tid, text))
            con.execute("INSERT INTO container_logs(trial_id, attempt, node, text)"
                        " VALUES (?, 1, 'n1', ?)", (tid, f"log of {key}"))
            planted[key] = text
        con.commit()
        con.close()
    out = tmp_path / "night.db"
    res = asyncio.run(merge(out, shards))
    con = sqlite3.connect(out)
    merged = dict(con.execute(
        "SELECT t.key, h.text FROM histories h JOIN trials t ON t.id = h.trial_id"
        " WHERE t.campaign_id = ?", (res.campaign_id,)))
    logs = dict(con.execute(
        "SELECT t.key, l.text FROM container_logs l JOIN trials t ON t.id = l.trial_id"
        " WHERE t.campaign_id = ?", (res.campaign_id,)))
    keys = {k for k, *_ in trials_of(out, res.campaign_id)}
    assert set(merged) == set(logs) == keys
    assert all(merged[k] == planted[k] and logs[k] == f"log of {k}" for k in keys)
