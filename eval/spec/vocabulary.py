"""The seed plan's vocabulary: the words the original design's example campaign used,
rewritten into this harness's own before validation, so the recorded spec (and so its hash,
its trial keys and its cells) only ever holds the harness's words.

- `type: network_partition` is `partition` (shape `isolate` unless `params.shape` says).
- a latency range `params: {min_ms: 50, max_ms: 150}` (a delay spread uniformly over that
  range) is `delay_ms: 100, jitter_ms: 50` with the default uniform distribution: netem's
  `delay 100ms 50ms` draws each packet's delay uniformly from [50, 150] ms (netem's default
  when no distribution table is named), and the nfqueue shaper draws
  `delay + uniform(-jitter, +jitter)`, the same range. Both backends take whole
  milliseconds, so min_ms + max_ms must be even.
- `disk_pressure: {fill_percent: 80}` needs no rewriting: it is already our parameter.

Campaign files written in the harness's own words pass through unchanged (their spec hashes
do not move).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FAULT_ALIASES: dict[str, str] = {"network_partition": "partition"}
RANGE_KEYS = ("min_ms", "max_ms")


def _whole_ms(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"params.{key}: a latency range takes one whole number of milliseconds "
            f"(got {value!r}); for a grid, list delay_ms / jitter_ms instead"
        )
    return value


def latency_range(params: Mapping[str, Any]) -> dict[str, Any]:
    """`{min_ms, max_ms}` -> `{delay_ms, jitter_ms}`; other params pass through. Pure."""
    if not any(k in params for k in RANGE_KEYS):
        return dict(params)
    if "delay_ms" in params or "jitter_ms" in params:
        raise ValueError("give a latency as min_ms/max_ms or as delay_ms/jitter_ms, not both")
    missing = [k for k in RANGE_KEYS if k not in params]
    if missing:
        raise ValueError(f"a latency range needs both min_ms and max_ms (missing {missing[0]})")
    lo, hi = _whole_ms(params["min_ms"], "min_ms"), _whole_ms(params["max_ms"], "max_ms")
    if not 0 <= lo <= hi or hi < 1:
        raise ValueError(f"need 0 <= min_ms <= max_ms and max_ms >= 1 (got {lo}..{hi})")
    if (lo + hi) % 2:
        raise ValueError(
            f"min_ms + max_ms must be even ({lo} + {hi} is odd): the range maps to "
            "delay_ms = (min+max)/2 and jitter_ms = (max-min)/2, in whole milliseconds"
        )
    if params.get("distribution", "uniform") != "uniform":
        raise ValueError("a min_ms/max_ms range is spread uniformly; drop `distribution`")
    rest = {k: v for k, v in params.items() if k not in (*RANGE_KEYS, "distribution")}
    return {**rest, "delay_ms": (lo + hi) // 2, "jitter_ms": (hi - lo) // 2}


def normalize_chaos(raw: Any) -> Any:
    """One `chaos_types` entry in the harness's own words (anything else is left for the
    model to reject). Pure."""
    if not isinstance(raw, Mapping):
        return raw
    entry = dict(raw)
    kind = entry.get("type")
    if isinstance(kind, str) and kind in FAULT_ALIASES:
        entry["type"] = FAULT_ALIASES[kind]
    params = entry.get("params")
    if entry.get("type") == "latency" and isinstance(params, Mapping):
        entry["params"] = latency_range(params)
    return entry
