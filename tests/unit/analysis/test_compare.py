"""`eval compare`: cells matched across two campaigns, Mann-Whitney U per metric, regressions
flagged only when B is significantly worse, unmatched cells listed, and the --check gate."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from chaos_eval.analysis.analyze import analyze
from chaos_eval.analysis.compare import compare
from chaos_eval.outcomes import TrialStatus
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.spec.config import parse_campaign
from chaos_eval.store.store import Store
from tests.unit.run.test_harness import doc

runner = CliRunner()


def spec(labels: list[str], name: str = "cmp") -> dict[str, Any]:
    return doc(
        name=name,
        subjects=["noop"],  # only expanded and recorded here, never run
        include_baseline=False,
        trials_per_combination=5,
        chaos_types=[{"type": "noop", "params": {"label": labels}}],
    )


async def _campaign(
    store: Store, d: dict[str, Any], recovery: list[float | None], avail: list[float]
) -> int:
    """A campaign whose every cell's trials finished with these recovery times and
    availabilities during the fault (no Docker: results recorded through the store)."""
    res = await resolve_campaign(store, parse_campaign(d, "mem"), "mem.yaml", ["eval"], new=True)
    trials = await store.trials(res.campaign.id)
    for i, t in enumerate(trials):
        rec, av = recovery[i % len(recovery)], avail[i % len(avail)]
        await store.record_trial_started(t.id)
        await store.record_trial_finished(
            t.id, TrialStatus.PASSED if rec is not None else TrialStatus.FAILED,
            recovery_s=rec, measurements={"metrics": {"availability": {"during": av}}},
            proof={}, reasons=[],
        )
    return res.campaign.id


def make_db(path: Path, campaigns: list[tuple[dict[str, Any], list[float | None], list[float]]]
            ) -> None:
    async def go() -> None:
        async with await Store.open(path) as store:
            for d, rec, av in campaigns:
                await _campaign(store, d, rec, av)

    asyncio.run(go())


async def _analyses(path: Path, *ids: int) -> list[Any]:
    async with await Store.open(path) as store:
        return [analyze(await store.campaign(i), await store.trials(i)) for i in ids]


FAST = [1.0, 1.1, 1.2, 1.3, 1.4]
SLOW = [3.0, 3.1, 3.2, 3.3, 3.4]


def test_slower_recovery_in_b_is_a_regression(tmp_path: Path) -> None:
    db = tmp_path / "eval.db"
    make_db(db, [(spec(["a"]), FAST, [0.9]), (spec(["a"]), SLOW, [0.9])])
    a, b = asyncio.run(_analyses(db, 1, 2))
    (cell,) = compare(a, b).cells
    r = cell.recovery_s
    assert (r.a, r.b, r.n_a, r.n_b, r.method) == (1.2, 3.2, 5, 5, "exact")
    assert r.change is not None and math.isclose(r.change, 2.0)
    assert r.p is not None and math.isclose(r.p, 2 / 252)  # complete separation, C(10,5)
    assert r.worse and r.regressed and cell.regressed
    assert not cell.availability_during.regressed  # all tied: p = 1
    # the other way round B got faster: an improvement, not a regression
    (back,) = compare(b, a).cells
    assert not back.recovery_s.worse and not back.regressed


def test_lower_availability_is_a_regression_and_never_recovering_is_slowest(
    tmp_path: Path,
) -> None:
    db = tmp_path / "eval.db"
    make_db(db, [
        (spec(["a"]), FAST, [0.95, 0.96, 0.97, 0.98, 0.99]),
        (spec(["a"]), [1.0, 1.1, None, None, None], [0.5, 0.51, 0.52, 0.53, 0.54]),
    ])
    a, b = asyncio.run(_analyses(db, 1, 2))
    (cell,) = compare(a, b).cells
    av = cell.availability_during
    assert av.a is not None and av.b is not None and av.b < av.a
    assert av.worse and av.regressed
    r = cell.recovery_s  # three trials of B never recovered: ranked above every A trial
    assert r.b == 1.05 and r.excluded_b == 3 and r.worse
    assert cell.to_json()["recovery_s"]["not_recovered"] == [0, 3]  # type: ignore[index]


def test_small_samples_are_never_significant(tmp_path: Path) -> None:
    db = tmp_path / "eval.db"
    small = dict(spec(["a"]), trials_per_combination=2)
    make_db(db, [(small, [1.0, 1.1], [0.9, 0.91]), (small, [9.0, 9.1], [0.1, 0.11])])
    a, b = asyncio.run(_analyses(db, 1, 2))
    (cell,) = compare(a, b).cells
    assert cell.recovery_s.worse and cell.recovery_s.p is not None
    assert cell.recovery_s.p >= 1 / 3 and not cell.regressed


def test_cli_compare_check_and_unmatched(tmp_path: Path) -> None:
    from chaos_eval.cli.app import app

    db = tmp_path / "eval.db"
    make_db(db, [(spec(["a", "b"]), FAST, [0.9]), (spec(["a", "c"]), SLOW, [0.9])])
    res = runner.invoke(app, ["compare", "1", "2", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert (data["a"]["id"], data["b"]["id"], data["alpha"], data["regressions"]) == (
        1, 2, 0.05, 1)
    (cell,) = data["cells"]
    assert cell["params"] == {"label": "a"} and cell["regressed"] is True
    assert set(cell["recovery_s"]) >= {"a", "b", "change", "p", "method", "regressed"}
    assert data["unmatched"] == {
        "only_a": [{"subject": "noop", "fault": "noop", "params": {"label": "b"}}],
        "only_b": [{"subject": "noop", "fault": "noop", "params": {"label": "c"}}],
    }
    table = runner.invoke(app, ["compare", "1", "2", "--db", str(db)])
    assert table.exit_code == 0
    assert "REGRESSED" in table.output and "only in A" in table.output
    assert "1 cell(s) regressed" in table.output
    gate = runner.invoke(app, ["compare", "1", "2", "--db", str(db), "--check"])
    assert gate.exit_code == 1
    same = runner.invoke(app, ["compare", "1", "1", "--db", str(db), "--check"])
    assert same.exit_code == 0 and "no significant regression" in same.output


def test_cli_compare_help_and_bad_input(tmp_path: Path) -> None:
    from chaos_eval.cli.app import app

    assert "Mann-Whitney" in runner.invoke(app, ["compare", "--help"]).output
    db = tmp_path / "eval.db"
    make_db(db, [(spec(["a"]), FAST, [0.9])])
    for args, needle in (
        (["compare", "1", "7"], "no campaign with id 7"),
        (["compare", "1", "1", "--format", "csv"], "--format"),
        (["compare", "1"], "Missing argument"),
    ):
        res = runner.invoke(app, [*args, "--db", str(db)])
        assert res.exit_code == 2 and needle in res.output, res.output
