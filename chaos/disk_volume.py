"""One target's data volume as disk_pressure works on it: observed, filled and emptied only
through one-shot helpers with no capabilities that mount it at /target.

Before anything is written the volume must be a bounded filesystem of its own (chaos/
diskfill.py's confinement rule), and the size the helper's `df` reports must match the
volume's `size=` option. A fill is a file per step, each step re-reading df: the subject
writes meanwhile, and a tmpfs fallocate is all or nothing (ENOSPC if it no longer fits). A
fill to 100 % fallocates all but TOPUP_BYTES and writes the rest with `dd` until ENOSPC.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chaos_eval.chaos.diskfill import (
    FILL_CHUNK_BYTES,
    MAX_FILES,
    TOPUP_BYTES,
    confinement_problem,
    fallocate_argv,
    goal_avail,
    remove_argv,
    size_option,
    topup_argv,
)
from chaos_eval.cleanup.node_state import VolumeUsage, parse_volume_usage, volume_usage_argv
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import HelperResult
from chaos_eval.errors import CleanupError, FaultError
from chaos_eval.subject import Node

ACTIVE_SLACK = 1 << 20  # df rounding and the subject freeing a page meanwhile
SIZE_MATCH_SLACK = 1 << 20
HELPER_TIMEOUT_S = 60.0


@dataclass
class DataVolume:
    """`node`'s data volume `volume`, and what this trial's fill did to it so far."""

    docker: Docker
    node: Node
    volume: str
    labels: Mapping[str, str]
    image: str
    baseline: VolumeUsage | None = None
    goal: int | None = None
    created: list[str] = field(default_factory=list)
    filled: int = 0
    fill_s: float = 0.0  # the whole fill: df, fallocate, df again (helpers included)
    write_s: float = 0.0  # the fallocate / dd helpers alone

    async def _run(self, argv: tuple[str, ...]) -> HelperResult:
        return await self.docker.run_helper(
            argv, labels=self.labels, volume=self.volume, caps=(), image=self.image,
            timeout_s=HELPER_TIMEOUT_S,
        )

    async def usage(self) -> VolumeUsage:
        """df and the fill files of the volume, from a fresh helper."""
        if await self.docker.volume_info(self.volume) is None:
            raise FaultError(f"{self.node.name}: data volume {self.volume} is gone")
        res = await self._run(volume_usage_argv())
        try:
            return parse_volume_usage(res.stdout)
        except ValueError as e:
            raise FaultError(f"{self.node.name}: df/find exit {res.exit_code}: {e}; "
                             f"{res.stderr.strip()[:200]}") from e

    async def confined_usage(self) -> VolumeUsage:
        """Refuse (FaultError) unless the volume is bounded; return its usage."""
        info = await self.docker.volume_info(self.volume)
        problem = confinement_problem(self.volume, info)
        if problem:
            raise FaultError(f"disk_pressure refuses {self.node.name}: {problem}")
        usage = await self.usage()
        assert info is not None
        bound = size_option(info.options.get("o", "")) if info.options.get("type") == "tmpfs" \
            else None
        if bound is not None and abs(usage.size - bound) > SIZE_MATCH_SLACK:
            raise FaultError(f"disk_pressure refuses {self.node.name}: /target is {usage.size} "
                             f"bytes, not the volume's size= {bound}: not the bounded fs")
        return usage

    async def fill_step(self, names: Sequence[str], nbytes: int, *, topup: bool = False) \
            -> bool:
        """Create the next of `names` with `nbytes` (recorded before it is made): fallocate,
        or with `topup` dd until full. False when a fallocate did not fit."""
        if len(self.created) >= MAX_FILES:
            raise FaultError(f"{self.node.name}: used all {MAX_FILES} fill file names")
        name = names[len(self.created)]
        self.created.append(name)
        argv = topup_argv(name, nbytes) if topup else fallocate_argv(name, nbytes)
        t0 = time.monotonic()
        res = await self._run(argv)
        self.write_s += time.monotonic() - t0
        if res.ok:
            return True
        if "No space left" in res.stderr:
            return topup  # dd stopping at ENOSPC is a top-up doing its job
        raise FaultError(f"{self.node.name}: {argv[0]}: exit {res.exit_code}: "
                         f"{res.stderr.strip()}")

    async def fill(self, names: Sequence[str], fill_percent: float | None,
                   fill_bytes: int | None) -> None:
        """fallocate in chunks toward the goal; for a goal of 0 (full), all but TOPUP_BYTES,
        then dd writes the rest until ENOSPC. Each step re-reads df. FaultError when the
        goal is not reached with MAX_FILES files."""
        t0 = time.monotonic()
        usage = self.baseline or await self.usage()
        self.goal = goal = goal_avail(fill_percent, fill_bytes, usage)
        while len(self.created) < MAX_FILES:
            need = usage.avail - goal
            if need <= 0:
                break
            if goal == 0 and need <= TOPUP_BYTES:
                await self.fill_step(names, need, topup=True)
            else:
                margin = TOPUP_BYTES if goal == 0 else 0
                await self.fill_step(names, min(need - margin, FILL_CHUNK_BYTES))
            usage = await self.usage()
        self.fill_s = time.monotonic() - t0
        self.filled = sum(size for name, size in usage.fill_files if name in names)
        if usage.avail > goal + ACTIVE_SLACK:
            raise FaultError(f"{self.node.name}: {usage.avail} bytes still free after "
                             f"{len(self.created)} fill files (goal {goal})")

    async def remove(self, names: Sequence[str]) -> None:
        """rm -f exactly `names` (absent ones are fine); nothing to do when the volume is
        gone (its files went with it). CleanupError when rm fails."""
        if await self.docker.volume_info(self.volume) is None:
            return
        res = await self._run(remove_argv(names))
        if not res.ok:
            raise CleanupError(f"rm: exit {res.exit_code}: {res.stderr.strip()[:200]}")
