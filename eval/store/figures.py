"""A trial's figures: the few values of its measurements that analysis reads (eval/analysis/
cell.py, analyze.py's TrialBrief), as one flat tuple, stored compact in `trials.figures`.

Why: at 100k trials, parsing each trial's whole measurements (~2.7 kB of JSON: every phase's
counts and latencies, per node) was most of `analyze`'s time; the figures are ~0.4 kB and parse
to a list, not nested dicts. The store writes them when it records a trial finished (from the
measurements as stored) and migration 0009 fills them in for the rows already there (through
the SQL function `chaos_figures`, registered on the migrating connection). The invariant: a
row's `figures`, when not NULL, is `figures_json` of its `measurements`; where it is NULL (a
row merged in from a shard, a measurements text that does not parse), the read path derives
the figures from the measurements with the same `figures_of`.

Values are carried as recorded (raw JSON values, not converted): analysis applies its own
tests to them exactly as it did to the measurements. Where the measurements are not shaped
as expected (metrics, a latency or a node's phase not an object), the missing figures are None.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

PHASES = ("before", "during", "active", "after")  # active: the proven part of during


class Figures(NamedTuple):
    wall_s: Any  # measurements' wall_s (JUnit's time)
    windowed: bool  # the measurements hold a fault window
    linearizability: Any  # None, {"verdict": v} for a recorded check, or the value as recorded
    availability_during: Any
    availability_after: Any
    availability_active: Any
    latency_p50: Any  # metrics.latency_ms.during.p50
    latency_p99: Any
    lost_writes: Any
    # per node: [node, availability per phase (PHASES), then p50_ms per phase]
    per_node: list[list[Any]]


FIELDS = len(Figures._fields)


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def node_figures(phases: Any) -> list[Any]:
    """One node's figures in one trial: availability per phase, then p50 (ms) per phase."""
    f = [_dict(_dict(phases).get(ph)) for ph in PHASES]
    return [*[x.get("availability") for x in f], *[x.get("p50_ms") for x in f]]


def figures_of(m: dict[str, Any]) -> Figures:
    metrics = _dict(m.get("metrics"))
    av = _dict(metrics.get("availability"))
    lat = _dict(_dict(metrics.get("latency_ms")).get("during"))
    lin = m.get("linearizability")
    if isinstance(lin, dict):
        lin = {"verdict": lin.get("verdict")}
    nodes = _dict(metrics.get("per_node"))
    return Figures(
        m.get("wall_s"), "window" in m, lin, av.get("during"), av.get("after"), av.get("active"),
        lat.get("p50"), lat.get("p99"), metrics.get("lost_writes"),
        [[node, *node_figures(phases)] for node, phases in nodes.items()],
    )  # fmt: skip


def figures_json(measurements_text: str) -> str:
    """The figures column of a row whose measurements column holds `measurements_text`."""
    return json.dumps(list(figures_of(json.loads(measurements_text))), separators=(",", ":"))


def sql_figures(measurements_text: object) -> str | None:
    """`chaos_figures(measurements)` for migration 0009: NULL where the figures cannot be
    derived (the read path then reads the measurements, and reports what is wrong with them)."""
    try:
        return figures_json(measurements_text) if isinstance(measurements_text, str) else None
    except Exception:  # any failure leaves the row to the read path's checks
        return None
