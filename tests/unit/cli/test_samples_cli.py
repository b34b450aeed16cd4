"""`samples:` at the command line: bad input refused in one line per problem (exit 2, file
and key named), `analyze` saying which rule ended each cell, `validate` and `plan` showing
the targets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos_eval.store.store import Store
from tests.unit.cli.test_cli import fake_subject, invoke
from tests.unit.run.test_harness import doc, run

__all__ = ["fake_subject"]


def sampled(samples: dict[str, Any], **over: Any) -> dict[str, Any]:
    d = doc(trials_per_combination=1, include_baseline=True, parallel=1,
            chaos_types=[{"type": "noop", "params": {"label": ["a", "b"]}}], samples=samples)
    d.update(over)
    return d


def write(tmp_path: Path, d: dict[str, Any]) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


@pytest.mark.parametrize(
    ("samples", "over", "needle"),
    [
        ({"target": 0, "max_trials": 3}, {}, "samples.target: Input should be greater than"),
        ({"target": -2, "max_trials": 3}, {}, "samples.target"),
        ({"target": 5, "max_trials": 3}, {}, "max_trials (3) is below target (5)"),
        ({"target": 5, "max_trials": 8, "min_trials": 6}, {}, "min_trials (6) is above target"),
        ({"target": 10, "max_trials": 20, "stop_when": {"pass_rate_ci_width": 0.1}}, {},
         "pass_rate_ci_width 0.1 can never be met: at target=10 samples the narrowest 95% "
         "Wilson interval (all passed or all failed) is 0.278 wide; it needs target >= 35"),
        ({"target": 3, "max_trials": 3, "stop_when": {"pass_rate_ci_width": 0}}, {},
         "samples.stop_when.pass_rate_ci_width: Input should be greater than 0"),
        ({"target": 3, "max_trials": 3, "stop_when": {"recovery_median_ci_width_s": -1}}, {},
         "recovery_median_ci_width_s: Input should be greater than 0"),
        ({"target": 2, "max_trials": 3, "stop_when": {"recovery_median_ci_width_s": 1}}, {},
         "needs min_trials >= 3"),
        ({"target": 3, "max_trials": 3, "stop_when": {}}, {}, "give exactly one rule"),
        ({"target": 3, "max_trials": 3, "stop": 1}, {}, "samples.stop: unknown key"),
        ({"target": 3, "max_trials": 5}, {"trials_per_combination": 2},
         "samples: give either samples or trials_per_combination (2), not both"),
        ({"target": 3, "max_trials": 6000}, {},
         "max_trials: the campaign expands to 12,001 trials (samples.max_trials per cell)"),
    ],
)
def test_bad_samples_are_one_clear_line(
    tmp_path: Path, samples: dict[str, Any], over: dict[str, Any], needle: str
) -> None:
    path = write(tmp_path, sampled(samples, **over))
    for cmd in (["validate", str(path)],
                ["run", "campaign", str(path), "--db", str(tmp_path / "e.db")]):
        res = invoke(*cmd)
        assert res.exit_code == 2, res.output
        assert needle in res.output and str(path) in res.output
        assert "Traceback" not in res.output
    assert not (tmp_path / "e.db").exists()


def test_shards_of_a_sampled_campaign_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, sampled({"target": 2, "max_trials": 3}))
    res = invoke("run", "campaign", str(path), "--shard", "1/2", "--db", str(tmp_path / "e.db"))
    assert res.exit_code == 2 and "samples" in res.output and "--shard" in res.output


def test_analyze_says_which_rule_ended_each_cell(tmp_path: Path) -> None:
    db = tmp_path / "eval.db"
    d = sampled({"target": 10, "max_trials": 12, "stop_when": {"pass_rate_ci_width": 0.6}})

    async def make() -> None:
        async with await Store.open(db) as store:
            await run(store, d)

    asyncio.run(make())
    res = invoke("analyze", "1", "--db", str(db))
    assert res.exit_code == 0, res.output
    assert res.output.count("stopping rule: pass-rate 95% CI width 0.56 < 0.6 after 3") == 2
    res = invoke("analyze", "1", "--db", str(db), "--format", "json")
    cells = json.loads(res.output)["cells"]
    assert [c.get("ended") for c in cells] == [
        None, *["stopping rule: pass-rate 95% CI width 0.56 < 0.6 after 3"] * 2]
    res = invoke("status", "1", "--db", str(db))
    assert "campaign 1: samples: 2/2 cells ended (target 10, max_trials 12 per cell)" in (
        res.output)


def test_validate_and_plan_show_the_targets(tmp_path: Path) -> None:
    path = write(tmp_path, sampled({"target": 3, "max_trials": 5}))
    res = invoke("validate", str(path))
    assert res.exit_code == 0 and "samples: target 3, max_trials 5 per cell" in res.output
    res = invoke("plan", str(path), "--db", str(tmp_path / "none.db"), "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    cells = [c for c in data["cells"] if c["fault"] != "baseline"]
    assert [(c["trials"], c["max_trials"]) for c in cells] == [(3, 5), (3, 5)]
    assert data["eta_fresh_max_s"] > data["eta_fresh_s"] > 0
    res = invoke("plan", str(path), "--db", str(tmp_path / "none.db"))
    assert "up to" in res.output and "max_trials" in res.output


def test_a_fault_samples_only_in_a_sampled_campaign(tmp_path: Path) -> None:
    d = doc(chaos_types=[{"type": "noop", "samples": {"target": 2, "max_trials": 2}}])
    res = invoke("validate", str(write(tmp_path, d)))
    assert res.exit_code == 2
    assert "chaos_types[0].samples: a fault's own samples need the campaign's" in res.output
