"""Per-trial metrics from recorded ops: the per-node breakdown and the 1 s time series the
HTML report charts."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_eval.analysis.analyze import analyze
from chaos_eval.analysis.metrics import FaultWindow, compute, timeseries
from chaos_eval.outcomes import OpOutcome
from chaos_eval.spec import registry
from chaos_eval.store.store import Store
from chaos_eval.workload import Op, OpKind
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc, run


def ops_fixture() -> list[Op]:
    ops = []
    for i in range(60):
        t = i * 0.1
        slow = 2.0 <= t < 4.0 and i % 3 == 0
        out = OpOutcome.FAIL if (slow and i % 2) else OpOutcome.OK
        ops.append(Op(OpKind.WRITE, f"n{i % 3}", f"k{i}", t, t + (0.2 if slow else 0.01), out))
    ops.append(Op(OpKind.FINAL_READ, "n0", "k0", 7.0, 7.1, OpOutcome.OK))
    return ops


def test_per_node_metrics_and_timeseries() -> None:
    ops = ops_fixture()
    m = compute(ops, FaultWindow(2.0, 4.0))
    assert set(m.per_node) == {"n0", "n1", "n2"}
    n0 = m.per_node["n0"]["during"]
    assert (n0.counts.ok, n0.counts.fail) == (3, 4)  # i = 21..39 step 3, odd ones fail
    assert n0.p50_ms == pytest.approx(200, abs=1)
    assert m.per_node["n1"]["during"].p50_ms == pytest.approx(10, abs=1)
    assert m.to_json()["per_node"]["n0"]["during"]["availability"] == pytest.approx(3 / 7)  # type: ignore[index]
    assert "active" not in m.counts  # no proven interval known: no active figures
    proven = compute(ops, FaultWindow(2.0, 4.0, active_from=2.5, active_to=3.5))
    inside = [o for o in ops if o.kind == OpKind.WRITE and o.start >= 2.5 and o.end <= 3.5]
    assert proven.counts["active"].attempted == len(inside) == 9  # i = 25..34 less 33 (late)
    assert proven.counts["during"] == m.counts["during"]  # a subset, not a new partition
    assert proven.per_node["n1"]["active"].counts.attempted == 4  # i = 25, 28, 31, 34
    assert proven.to_json()["availability"]["active"] == proven.counts["active"].availability  # type: ignore[index]
    ts = timeseries(ops, 1.0)
    assert [round(x, 6) for x, _, _ in ts] == [0, 1, 2, 3, 4, 5]
    assert ts[0][1] == 10 and ts[2][1] < 10  # ok ops/s dips in the fault window
    assert timeseries(ops, 1.0, (10.0, 12.0)) == [(10.0, 0.0, None), (11.0, 0.0, None),
                                                  (12.0, 0.0, None)]
    assert timeseries([], 1.0) == []


async def test_analysis_json_has_per_node_and_target_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    async with await Store.open(tmp_path / "eval.db") as store:
        d = doc(parallel=2)
        d["timing"] = dict(d["timing"], warmup_s=0.3, fault_duration_s=0.3)
        cid, _ = await run(store, d)
        data = analyze(await store.campaign(cid), await store.trials(cid)).to_json()
    cells = data["cells"]
    assert isinstance(cells, list)
    baseline, noop = cells[0], cells[1]
    assert set(noop["per_node"]) == {"n1", "n2", "n3"}
    assert set(noop["by_role"]) == {"target", "other"}  # noop targets one random node
    assert set(baseline["by_role"]) == {"other"}  # a baseline has no target
    n1 = noop["per_node"]["n1"]
    av = n1["availability"]
    assert av["before"] == av["during"] == 1.0 and av["after"] in (1.0, None)  # after: few ops
    assert set(n1["latency_p50_ms"]) == {"before", "during", "active", "after"}
