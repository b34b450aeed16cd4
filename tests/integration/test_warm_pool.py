"""The warm pool on real etcd through the CLI: the next trial's cluster starts while the
current trial runs, the faults of two trials never overlap, every proof holds, and a runner
killed while a cluster waits for its turn leaves nothing that resume does not undo."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_eval.images.build import BuildResult
from tests.integration.crash_support import (
    KillPoint,
    campaign_uid,
    kill9,
    labelled,
    query,
    reap_and_collect,
    start_runner,
    wait_for,
)
from tests.integration.leftovers import leftovers

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "warm_pool.yaml"
pytestmark = pytest.mark.docker

# a trial waiting for its turn while another trial's fault is in place
QUEUED_BESIDE_A_FAULT = KillPoint(
    "a cluster queued beside an active fault",
    "SELECT 1 FROM events q JOIN events f ON f.kind = 'phase_fault_active' "
    "AND f.trial_id != q.trial_id AND f.at <= q.at "
    "AND NOT EXISTS (SELECT 1 FROM events r WHERE r.trial_id = f.trial_id "
    "AND r.kind = 'phase_fault_removed') "
    "WHERE q.id > ? AND q.kind = 'phase_queued'",
)


def events(db: Path) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for trial, kind, at in query(db, "SELECT trial_id, kind, at FROM events "
                                     "WHERE trial_id IS NOT NULL ORDER BY id"):
        out.setdefault(trial, {})[kind] = at
    return out


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "eval.db"
    yield path
    reap_and_collect(path)


def test_a_warm_pool_overlaps_clusters_not_faults(
    db: Path, built_images: dict[str, BuildResult]
) -> None:
    proc = start_runner(db, "run", "campaign", str(CAMPAIGN))
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    rows = query(db, "SELECT id, status, fault, proof, measurements FROM trials ORDER BY ordinal")
    assert [r[1] for r in rows] == ["passed"] * 5, out
    at = events(db)
    order = [r[0] for r in rows]
    # the pool worked: a later trial's cluster was up before the one before it had ended
    ahead = [b for a, b in itertools.pairwise(order)
             if at[b]["phase_cluster_up"] < at[a]["trial_passed"]]
    assert ahead, at
    # one turn at a time: from warm-up to measured, no two trials overlap
    spans = sorted((at[t]["phase_warmup"], at[t]["phase_measured"]) for t in order)
    assert all(b[0] >= a[1] for a, b in itertools.pairwise(spans)), spans
    for _, _, fault, proof, _measurements in rows:
        if fault == "baseline":
            continue
        p = json.loads(proof)
        assert p["active"]["holds"] and p["removed"]["holds"], p
        assert p["snapshot_diff"] == [] and p["snapshot_before"] and p["snapshot_after"]
    assert any("queued_s" in json.loads(r[4]) for r in rows)
    assert leftovers("chaos-eval.campaign", campaign_uid(db)) == []


def test_killed_with_a_cluster_queued_then_resumed(
    db: Path, built_images: dict[str, BuildResult]
) -> None:
    proc = start_runner(db, "run", "campaign", str(CAMPAIGN))
    assert wait_for(db, QUEUED_BESIDE_A_FAULT, 0, proc, timeout_s=300)
    kill9(proc)
    uid = campaign_uid(db)
    projects = query(db, "SELECT COUNT(*) FROM trials WHERE status = 'running'")[0][0]
    assert projects == 2  # one trial in its fault, one cluster waiting for its turn
    assert labelled(uid)[0] >= 6  # both clusters' containers were left behind
    resume = start_runner(db, "resume", "1")
    out, _ = resume.communicate(timeout=900)
    assert resume.returncode == 0, out
    rows = query(db, "SELECT status, attempts FROM trials ORDER BY ordinal")
    assert [s for s, _ in rows] == ["passed"] * 5, out
    assert sum(a for _, a in rows) == 5 + 2  # the two caught running ran again, once each
    open_rows = query(db, "SELECT COUNT(*) FROM fault_ledger WHERE state = 'open'")[0][0]
    assert open_rows == 0
    assert leftovers("chaos-eval.campaign", uid) == []
