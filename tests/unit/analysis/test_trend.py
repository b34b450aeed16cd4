"""trend: per-night pass rate and recovery median, flaky detection at the thresholds, new
failures since the previous night; the three renderings."""

from __future__ import annotations

import json
from itertools import count

from rich.console import Console

from chaos_eval.analysis.trend import Night, trend
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.render.trend import render_trend, trend_markdown
from chaos_eval.store.records import CampaignRow, TrialRow

_ids = count(1)


def camp() -> CampaignRow:
    return CampaignRow(
        id=1, uid="u", name="n", spec_hash="h", spec_json="{}", config_path="c",
        status=CampaignStatus.FINISHED, reason="", seed=1, harness_version="0", git_sha="g",
        argv="[]", created_at=0.0, updated_at=0.0, finished_at=0.0, lease_token=None,
        lease_pid=None, lease_host=None, lease_heartbeat=None, rerun_of=None,
    )  # fmt: skip


def trial(fault: str, status: TrialStatus, recovery: float | None = 1.0) -> TrialRow:
    i = next(_ids)
    return TrialRow(
        id=i, campaign_id=1, key=f"k{i}", ordinal=i, subject="etcd", subject_type="etcd",
        fault=fault, params="{}", target="random", repetition=0, seed=1, status=status,
        phase=None, attempts=1, started_at=0.0, finished_at=1.0, targets="[]",
        recovery_s=recovery, measurements="{}", proof="{}", reasons="[]", error="",
    )  # fmt: skip


P, F, E = TrialStatus.PASSED, TrialStatus.FAILED, TrialStatus.ERROR


def night(label: str, **cells: list[TrialStatus]) -> Night:
    return Night(label, camp(), [trial(f, s, 2.0 if s == P else 9.0) for f, ss in cells.items()
                                 for s in ss])  # fmt: skip


def test_flaky_needs_both_the_rate_and_the_runs() -> None:
    # node_kill fails 1 in 5 each night: 4 of 20 over four nights (20 %) -> flaky
    # pause fails 1 in 10 on one night only: 1 of 20 (5 %) -> not flaky
    # latency fails 1 of 5 but only 10 runs -> too few to call
    nights = [
        night(
            f"n{i}",
            node_kill=[P, P, P, P, F],
            pause=[P] * 4 + ([F] if i == 0 else [P]),
            latency=[P, P, P, P, F] if i < 2 else [],
            noop=[E, E],
        )
        for i in range(4)
    ]
    t = trend(nights)
    flaky = {c.fault for c in t.flaky}
    assert flaky == {"node_kill"}
    nk = next(c for c in t.cells if c.fault == "node_kill")
    assert (nk.runs, nk.failed) == (20, 4)
    assert nk.nights[0] is not None and nk.nights[0].pass_rate == 0.8
    assert nk.nights[0].recovery_median_s == 2.0  # median of 2, 2, 2, 2, 9
    noop = next(c for c in t.cells if c.fault == "noop")
    assert noop.runs == 0 and not noop.flaky  # harness errors are never the subject's
    # thresholds are options
    assert {c.fault for c in trend(nights, min_runs=10).flaky} == {"node_kill", "latency"}
    assert trend(nights, flaky_rate=0.25).flaky == []


def test_new_failures_since_the_previous_night() -> None:
    nights = [
        night("mon", node_kill=[P, P], pause=[P, F], latency=[P]),
        night("tue", node_kill=[P, F], pause=[F, P], latency=[P], partition=[F]),
    ]
    t = trend(nights)
    assert {c.fault for c in t.new_failures} == {"node_kill", "partition"}
    assert trend(nights[:1]).new_failures == []  # one night: nothing to be new against


def test_renderings() -> None:
    t = trend([night("mon", node_kill=[P]), night("tue", node_kill=[F])])
    doc = t.to_json()
    assert doc["new_failures"] == ["etcd / node_kill {}"]
    assert doc["nights"] == ["mon", "tue"]
    md = trend_markdown(t)
    assert "| etcd / node_kill | 100% (1/1) · 2.00 s | 0% (0/1) · 9.00 s | NEW FAILURE |" in md
    console = Console(record=True, width=160)
    render_trend(t, "json", console)
    assert json.loads(console.export_text())["cells"][0]["failed"] == 1
    render_trend(t, "table", console)
    assert "NEW FAILURE" in console.export_text()


def test_html_has_both_charts_and_no_scripts() -> None:
    from chaos_eval.render.trend_html import trend_html

    t = trend([night("mon", node_kill=[P, P]), night("tue", node_kill=[P, F], pause=[F])])
    page = trend_html(t, "now")
    assert page.count("<svg") == 2 and "<script" not in page and "http" not in page.lower()
    assert "etcd / node_kill" in page and "NEW FAILURE" in page
