"""What a snapshot reads on a node, and how: the helpers' argv and the parsers of what they
print (pure; eval/cleanup/removal_proof.py runs the helpers, eval/cleanup/snapshot.py
compares snapshots).

    qdiscs and rules   `netns_argv`: `tc -j qdisc show`, then `iptables-save`, in one
                       helper in the node's netns (find runs both: no shell)
    data volume        `volume_usage_argv`: `df` of the volume and its `.chaos-eval-fill-*`
                       files, in one helper with the volume mounted at TARGET
    all of it          `node_argv`: both in ONE helper in the node's netns with its volume
                       mounted (a running node with a data volume: one container, not two)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

FILL_PREFIX = ".chaos-eval-fill-"  # disk-pressure fill files, at the top of a data volume
TARGET = "/target"  # where run_helper mounts a volume
MARKERS = ("CHAOS_EVAL", "chaos-eval")  # what harness-owned iptables lines mention


# -- argv (pure) ----------------------------------------------------------------------------


def netns_argv() -> tuple[str, ...]:
    """One helper for the netns: `tc -j qdisc show`, then `iptables-save` (every table).
    find's `,` runs the second whatever the first returned. No shell."""
    return (
        "find",
        "/",
        "-maxdepth",
        "0",
        "-exec",
        "tc",
        "-j",
        "qdisc",
        "show",
        ";",
        ",",
        "-exec",
        "iptables-save",
        ";",
    )


def volume_usage_argv() -> tuple[str, ...]:
    """One helper, one instant: `df` of the volume (find runs it on the top directory,
    which it visits first), then one `fill <name> <bytes>` line per fill file. No shell."""
    return (
        "find",
        TARGET,
        "-maxdepth",
        "1",
        "(",
        "-path",
        TARGET,
        "-exec",
        "df",
        "-B1",
        "--output=size,avail",
        TARGET,
        ";",
        ")",
        "-o",
        "(",
        "-name",
        FILL_PREFIX + "*",
        "-printf",
        "fill %f %s\\n",
        ")",
    )


def node_argv() -> tuple[str, ...]:
    """One helper for a running node with a data volume: at TARGET (visited first) `tc -j
    qdisc show`, `iptables-save` and `df`, then a `fill <name> <bytes>` line per fill file.
    find's `,` runs each whatever the one before returned; each is guarded by `-path` so
    only TARGET runs them. No shell. Parse with `parse_node_output`."""
    at = ("-path", TARGET)
    return (
        "find", TARGET, "-maxdepth", "1",
        "(",
        *at, "-exec", "tc", "-j", "qdisc", "show", ";", ",",
        *at, "-exec", "iptables-save", ";", ",",
        *at, "-exec", "df", "-B1", "--output=size,avail", TARGET, ";",
        ")",
        "-o",
        "(", "-name", FILL_PREFIX + "*", "-printf", "fill %f %s\\n", ")",
    )  # fmt: skip


# -- parsing (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeUsage:
    """A data filesystem as `volume_usage_argv` saw it."""

    size: int
    avail: int
    fill_files: tuple[tuple[str, int], ...] = ()  # (name, bytes), sorted by name

    @property
    def used_fraction(self) -> float:
        return (self.size - self.avail) / self.size if self.size else 1.0


def parse_df(text: str) -> tuple[int, int]:
    """(size, avail) in bytes from `df -B1 --output=size,avail` output; ValueError else."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    for i, words in enumerate(lines):
        if words and words[0] == "1B-blocks" and i + 1 < len(lines):
            nums = lines[i + 1]
            if len(nums) == 2 and all(w.isdigit() for w in nums):
                return int(nums[0]), int(nums[1])
    raise ValueError(f"no df size/avail in {text[:200]!r}")


def parse_volume_usage(text: str) -> VolumeUsage:
    size, avail = parse_df(text)
    files: list[tuple[str, int]] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "fill" and words[1].startswith(FILL_PREFIX):
            if not words[2].isdigit():
                raise ValueError(f"bad fill file line {line!r}")
            files.append((words[1], int(words[2])))
    return VolumeUsage(size, avail, tuple(sorted(files)))


def split_netns_output(text: str) -> tuple[str, str]:
    """`netns_argv` output -> (tc's JSON, iptables-save's text); ValueError when tc did not
    print its JSON first."""
    start = len(text) - len(text.lstrip())
    try:
        _, end = json.JSONDecoder().raw_decode(text, start)
    except ValueError as e:
        raise ValueError(f"tc -j printed something that is not JSON: {text[:200]!r}") from e
    return text[start:end], text[end:]


def parse_qdiscs(text: str) -> tuple[str, ...]:
    """`tc -j qdisc show` -> one normalised line per qdisc (reference counts dropped)."""
    try:
        rows = json.loads(text or "[]")
    except ValueError as e:
        raise ValueError(f"tc -j printed something that is not JSON: {text[:200]!r}") from e
    out = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        where = "root" if row.get("root") else f"parent {row.get('parent', '?')}"
        opts = json.dumps(row.get("options") or {}, sort_keys=True, separators=(",", ":"))
        out.append(
            f"{row.get('dev', '?')} {row.get('kind', '?')} {row.get('handle', '?')} {where} {opts}"
        )
    return tuple(sorted(out))


_COUNTERS_RE = re.compile(r"\s*\[\d+:\d+\]$")


def harness_rules(iptables_save: str) -> tuple[str, ...]:
    """The lines of `iptables-save` output that mention the harness, as `table: line`,
    with chain packet counters dropped (they change on their own)."""
    table = "?"
    out = []
    for raw in iptables_save.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
        elif any(m in line for m in MARKERS) and not line.startswith("#"):
            out.append(f"{table}: {_COUNTERS_RE.sub('', line)}")
    return tuple(sorted(out))


def parse_node_output(text: str) -> tuple[tuple[str, ...], tuple[str, ...], VolumeUsage]:
    """`node_argv` output -> (qdiscs, harness rules, volume usage); ValueError when a part is
    missing. tc's JSON comes first (nothing runs before it); the `fill` lines (find's own,
    buffered output) and df's lines are told apart from iptables-save's by their shape."""
    tc, rest = split_netns_output(text)
    lines = rest.splitlines(keepends=True)
    rules = harness_rules("".join(ln for ln in lines if not ln.startswith("fill ")))
    return parse_qdiscs(tc), rules, parse_volume_usage(rest)
