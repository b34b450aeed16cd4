"""The live dashboard's renderables, rendered into an in-memory console."""

from __future__ import annotations

import io

from rich.console import Console

from chaos_eval.analysis.progress import cell_progress
from chaos_eval.analysis.snapshot import snapshot_of
from chaos_eval.outcomes import TrialPhase, TrialStatus
from chaos_eval.render.dashboard import dashboard
from tests.unit.analysis.test_snapshot import NOW, cfg, trial


def test_bars_running_trials_last_verdict_and_totals() -> None:
    trials = [
        trial(0, TrialStatus.PASSED, recovery_s=2.5),
        trial(1, TrialStatus.FAILED, recovery_s=31.0),
        trial(2, TrialStatus.RUNNING, phase=TrialPhase.FAULT_ACTIVE, started_at=NOW - 42),
        trial(3, TrialStatus.PENDING, fault="latency", params='{"delay_ms": 100}'),
    ]
    cells = cell_progress(trials)
    assert [(c.label, c.done, c.target, c.running, c.last_status) for c in cells] == [
        ("etcd / node_kill", 2, 3, 1, "failed"),
        ("etcd / latency (delay_ms=100)", 0, 1, 0, None),
    ]
    console = Console(file=io.StringIO(), width=120, force_terminal=False, color_system=None)
    snap = snapshot_of(cfg(), trials, {2: NOW - 10}, NOW)
    console.print(dashboard("campaign 1 · c", snap, cells))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "campaign 1 · c" in text
    assert "2/3 +1" in text and "0/1" in text
    assert "failed" in text and "31.00" in text
    assert "2 etcd / node_kill #2" in text and "fault_active" in text and "42s" in text
    assert "2/4 done (50%)" in text and "ETA" in text and "trials/h" in text
