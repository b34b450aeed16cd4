"""Disk pressure: fill a target's data filesystem with files named after the trial.

Confinement first. The fill lands on the node's data volume, mounted at /target in a
one-shot helper with no capabilities at all. Before anything is written the volume must be
a bounded filesystem of its own: the local driver with `type=tmpfs` and a `size=` option,
or a block device of its own (`device=/dev/...`, not a bind). A plain local volume is a
directory on the host's disk, so filling it would fill the host: refused. The size the
helper's `df` reports must also match the volume's `size=` option.

Inject, per target:

    df -B1 --output=size,avail /target        (eval/cleanup/node_state.py: one `find` helper)
    fallocate -l <bytes> /target/.chaos-eval-fill-<trial key 12>-<n>     n = 0, 1, ...

`fill_percent: P` fills until the filesystem is P % used, as df reports it; `fill_bytes:
B` adds B bytes (at most what is free). A file per step, each step re-reading df: the
subject writes meanwhile, and a tmpfs fallocate is all or nothing (ENOSPC if it no longer
fits). A fill to 100 % (goal: 0 bytes free) therefore fallocates all but TOPUP_BYTES and
writes the rest with `dd` until ENOSPC: under load, the few KB etcd writes between a df
and a fallocate made an exact-size fallocate fail every time. At most MAX_FILES files.

verify_active holds iff df, read again from a fresh helper, shows free bytes at or below
the level asked for (+ ACTIVE_SLACK). What the subject does is recorded, not required:
container state and exit code, and its published client endpoint's status
(chaos/etcd_members.py). etcd 3.4 does not raise its NOSPACE alarm on a full disk (that
alarm is its own quota); its backend fails a write with ENOSPC and the process exits
(`mvcc/backend: cannot commit tx ...: no space left on device`), typically within a second
under load.

cleanup_chaos records what the member did (state, exit code, the ENOSPC log line), then
`rm -f --` exactly this trial's MAX_FILES names (no glob), then starts the member if it
is not running (it was at baseline), then disarms a NOSPACE alarm raised for it during the
fault through any member's v3 gateway (POST /v3/maintenance/alarm, DEACTIVATE). The ledger
form is the same: VOLUME_RUN rm -f of those names, START_CONTAINER.

verify_removed holds iff no fill file of this trial is left (a helper lists them), free
bytes are back to the baseline within eval.cleanup.snapshot.free_tolerance, the member runs and
its endpoint answers, and no NOSPACE alarm of the fault's making is armed; polled to
VERIFY_REMOVED_TIMEOUT_S.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chaos.diskfill import (
    FILL_CHUNK_BYTES,
    MAX_FILES,
    MAX_FILL_BYTES,
    TOPUP_BYTES,
    confinement_problem,
    fallocate_argv,
    fill_names,
    goal_avail,
    remove_argv,
    size_option,
    topup_argv,
)
from chaos.etcd_members import EtcdMembers
from chaos.probes import (
    EndpointTracker,
    HttpOutcome,
    probe_endpoint_of,
    probe_tracked,
)
from eval.cleanup.node_state import VolumeUsage, parse_volume_usage, volume_usage_argv
from eval.cleanup.snapshot import free_tolerance
from eval.engine.client import HELPER_IMAGE_DEFAULT, Docker
from eval.errors import CleanupError, DockerError, FaultError
from eval.fault import Evidence, UndoAction, UndoOp
from eval.polling import poll_until
from eval.subject import Node, TrialContext

ACTIVE_SLACK = 1 << 20  # df rounding and the subject freeing a page meanwhile
SIZE_MATCH_SLACK = 1 << 20
PROBE_TIMEOUT_S = 1.0
HELPER_TIMEOUT_S = 60.0
VERIFY_REMOVED_TIMEOUT_S = 30.0


class DiskPressureParams(BaseModel):
    """`disk_pressure` parameters as written in a campaign file: exactly one of them."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    fill_percent: float | None = Field(default=None, gt=1, le=100)
    fill_bytes: int | None = Field(default=None, gt=0, le=MAX_FILL_BYTES)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.fill_percent is None) == (self.fill_bytes is None):
            raise ValueError("give exactly one of fill_percent (1..100] or fill_bytes (> 0)")
        return self


# -- the fault --------------------------------------------------------------------------------


@dataclass
class _Target:
    """What the fault knows about one target."""

    node: Node
    volume: str
    tracker: EndpointTracker
    baseline: VolumeUsage | None = None
    running_before: bool = True
    member_id: int | None = None
    goal: int | None = None
    created: list[str] = field(default_factory=list)
    filled: int = 0
    fill_s: float = 0.0  # the whole fill: df, fallocate, df again (helpers included)
    write_s: float = 0.0  # the fallocate / dd helpers alone
    during: dict[str, str] = field(default_factory=dict)  # what the member did, recorded


class DiskPressureFault:
    """Fill each target's data filesystem; see the module docstring."""

    kind: ClassVar[str] = "disk_pressure"

    def __init__(
        self,
        params: DiskPressureParams,
        targets: tuple[Node, ...],
        cluster: tuple[Node, ...],
        ctx: TrialContext,
        docker: Docker,
        *,
        helper_image: str = HELPER_IMAGE_DEFAULT,
    ) -> None:
        if not targets:
            raise FaultError("disk_pressure: no targets")
        self.params, self.targets, self.cluster = params, targets, cluster
        self._docker, self._image = docker, helper_image
        self._labels = ctx.labels("helper")
        self.names = fill_names(ctx.trial_key)
        self._t: dict[str, _Target] = {}
        for node in targets:
            ep = probe_endpoint_of(node)
            if node.data_volume is None or ep is None:
                raise FaultError(f"disk_pressure: node {node.name} has no data volume or no "
                                 "endpoint to observe")
            self._t[node.name] = _Target(node, node.data_volume, EndpointTracker(docker, node, ep))
        self._members = EtcdMembers(docker, cluster, PROBE_TIMEOUT_S)
        self._measured = False

    def describe(self) -> str:
        p = self.params
        what = f"{p.fill_percent:g}% used" if p.fill_percent is not None else \
            f"+{p.fill_bytes} bytes"
        return f"disk_pressure fill to {what} on {','.join(n.name for n in self.targets)}"

    def undo_plan(self) -> tuple[UndoAction, ...]:
        steps: list[UndoAction] = []
        for t in self._t.values():
            steps.append(UndoAction(UndoOp.VOLUME_RUN, t.node.container_id,
                                    remove_argv(self.names), volume=t.volume))
            steps.append(UndoAction(UndoOp.START_CONTAINER, t.node.container_id))
        return tuple(steps)

    # -- observation ------------------------------------------------------------------------

    async def usage(self, node: Node) -> VolumeUsage:
        """df and the fill files of `node`'s data volume, from a fresh helper."""
        t = self._t[node.name]
        if await self._docker.volume_info(t.volume) is None:
            raise FaultError(f"{node.name}: data volume {t.volume} is gone")
        res = await self._docker.run_helper(
            volume_usage_argv(), labels=self._labels, volume=t.volume, caps=(),
            image=self._image, timeout_s=HELPER_TIMEOUT_S,
        )
        try:
            return parse_volume_usage(res.stdout)
        except ValueError as e:
            raise FaultError(f"{node.name}: df/find exit {res.exit_code}: {e}; "
                             f"{res.stderr.strip()[:200]}") from e

    # -- baseline, inject -------------------------------------------------------------------

    async def _check_confined(self, t: _Target) -> VolumeUsage:
        """Refuse (FaultError) unless the volume is bounded; return its usage."""
        info = await self._docker.volume_info(t.volume)
        problem = confinement_problem(t.volume, info)
        if problem:
            raise FaultError(f"disk_pressure refuses {t.node.name}: {problem}")
        usage = await self.usage(t.node)
        assert info is not None
        bound = size_option(info.options.get("o", "")) if info.options.get("type") == "tmpfs" \
            else None
        if bound is not None and abs(usage.size - bound) > SIZE_MATCH_SLACK:
            raise FaultError(f"disk_pressure refuses {t.node.name}: /target is {usage.size} "
                             f"bytes, not the volume's size= {bound}: not the bounded fs")
        return usage

    async def measure_baseline(self) -> Mapping[str, int]:
        """Check confinement (refusing before anything is written), then record each
        target's free bytes, whether it runs, its member id and the armed alarms."""
        for t in self._t.values():
            t.baseline = await self._check_confined(t)
            info = await self._docker.inspect(t.node.container_id)
            t.running_before = info is not None and info.running
            t.member_id = await self._members.member_id(t.tracker)
        await self._members.record_alarms()
        self._measured = True
        return {name: t.baseline.avail for name, t in self._t.items() if t.baseline}

    async def inject(self) -> None:
        if not self._measured:
            await self.measure_baseline()
        for t in self._t.values():
            await self._fill(t)

    async def fill_step(self, node: Node, nbytes: int, *, topup: bool = False) -> bool:
        """Create the next fill file of `nbytes` on `node` (recorded before it is made):
        fallocate, or with `topup` dd until full. False when a fallocate did not fit. A
        half-done inject is a few of these."""
        t = self._t[node.name]
        if len(t.created) >= MAX_FILES:
            raise FaultError(f"{node.name}: used all {MAX_FILES} fill file names")
        name = self.names[len(t.created)]
        t.created.append(name)
        argv = topup_argv(name, nbytes) if topup else fallocate_argv(name, nbytes)
        t0 = time.monotonic()
        res = await self._docker.run_helper(
            argv, labels=self._labels, volume=t.volume, caps=(), image=self._image,
            timeout_s=HELPER_TIMEOUT_S,
        )
        t.write_s += time.monotonic() - t0
        if res.ok:
            return True
        if "No space left" in res.stderr:
            return topup  # dd stopping at ENOSPC is a top-up doing its job
        raise FaultError(f"{node.name}: {argv[0]}: exit {res.exit_code}: {res.stderr.strip()}")

    async def _fill(self, t: _Target) -> None:
        """fallocate in chunks toward the goal; for a goal of 0 (full), all but TOPUP_BYTES,
        then dd writes the rest until ENOSPC. Each step re-reads df."""
        t0 = time.monotonic()
        usage = t.baseline or await self.usage(t.node)
        t.goal = goal_avail(self.params.fill_percent, self.params.fill_bytes, usage)
        while len(t.created) < MAX_FILES:
            need = usage.avail - t.goal
            if need <= 0:
                break
            if t.goal == 0 and need <= TOPUP_BYTES:
                await self.fill_step(t.node, need, topup=True)
            else:
                margin = TOPUP_BYTES if t.goal == 0 else 0
                await self.fill_step(t.node, min(need - margin, FILL_CHUNK_BYTES))
            usage = await self.usage(t.node)
        t.fill_s = time.monotonic() - t0
        t.filled = sum(size for name, size in usage.fill_files if name in self.names)
        if usage.avail > t.goal + ACTIVE_SLACK:
            raise FaultError(f"{t.node.name}: {usage.avail} bytes still free after "
                             f"{len(t.created)} fill files (goal {t.goal})")

    async def verify_active(self) -> Evidence:
        """Free bytes, read from a fresh helper, are at or below the goal on every target;
        what the member does meanwhile is recorded."""
        figures: dict[str, float | str] = {}
        notes: list[str] = []
        holds = True
        for name, t in self._t.items():
            usage = await self.usage(t.node)
            goal = t.goal if t.goal is not None else -1
            ok = t.goal is not None and usage.avail <= t.goal + ACTIVE_SLACK
            holds = holds and ok
            member = await self._members.state(t.node, t.tracker)
            p = "" if len(self._t) == 1 else f"{name}."
            base = t.baseline.avail if t.baseline else -1
            figures.update({
                f"{p}size_bytes": usage.size, f"{p}free_bytes_before": base,
                f"{p}free_bytes_now": usage.avail, f"{p}goal_free_bytes": goal,
                f"{p}used_pct_now": round(100 * usage.used_fraction, 2),
                f"{p}fill_bytes": t.filled, f"{p}fill_files": len(t.created),
                f"{p}fill_s": round(t.fill_s, 3), f"{p}write_s": round(t.write_s, 3),
                **{f"{p}member_{k}": v for k, v in member.items()},
            })
            notes.append(f"{name}: free {base} -> {usage.avail} bytes (goal <= {goal}) "
                         f"{'holds' if ok else 'does NOT hold'}; member {member['container']}"
                         f", endpoint {member['endpoint']}")
        return Evidence(holds, "; ".join(notes), figures)

    def _member_ids(self) -> set[int]:
        return {t.member_id for t in self._t.values() if t.member_id is not None}

    # -- cleanup ----------------------------------------------------------------------------

    async def cleanup_chaos(self) -> None:
        """Remove exactly this trial's fill files, start each target that is not running,
        disarm a NOSPACE alarm raised for it. Idempotent; fine after a half-done inject."""
        problems: list[str] = []
        for t in self._t.values():
            try:
                await self._cleanup_one(t)
            except (DockerError, CleanupError) as e:
                problems.append(f"{t.node.name}: {e}")
        try:
            await self._members.disarm(self._member_ids())
        except CleanupError as e:
            problems.append(str(e))
        if problems:
            raise CleanupError(f"disk_pressure cleanup failed: {'; '.join(problems)}")

    async def _cleanup_one(self, t: _Target) -> None:
        if not t.during:  # the first cleanup sees what the fault did; keep that record
            t.during = await self._members.state(t.node, t.tracker)
        if await self._docker.volume_info(t.volume) is not None:  # else its files are gone
            res = await self._docker.run_helper(
                remove_argv(self.names), labels=self._labels, volume=t.volume, caps=(),
                image=self._image, timeout_s=HELPER_TIMEOUT_S,
            )
            if not res.ok:
                raise CleanupError(f"rm: exit {res.exit_code}: {res.stderr.strip()[:200]}")
        info = await self._docker.inspect(t.node.container_id)
        if info is None:
            raise CleanupError("container is gone; cannot start it")
        if not info.running and t.running_before:
            await self._docker.start(t.node.container_id)

    # -- proof of removal -------------------------------------------------------------------

    async def _removed(self, t: _Target) -> tuple[bool, str, dict[str, float | str]]:
        usage = await self.usage(t.node)
        left = [f for f, _ in usage.fill_files if f in self.names]
        base = t.baseline.avail if t.baseline else usage.avail
        tol = free_tolerance(usage.size)
        space_ok = usage.avail >= base - tol
        info = await self._docker.inspect(t.node.container_id)
        probe = await probe_tracked(t.tracker, PROBE_TIMEOUT_S)
        serving = info is not None and info.running and probe.outcome is HttpOutcome.ANSWERED
        ok = not left and space_ok and (serving or not t.running_before)
        state = "gone" if info is None else info.status
        why = (f"{t.node.name}: {len(left)} fill files left, free {usage.avail} "
               f"(baseline {base}, tolerance {tol}), member {state}, "
               f"endpoint {probe.outcome.value}")
        return ok, why, {"fill_files_left": len(left), "free_bytes_after": usage.avail,
                         "free_bytes_baseline": base}

    async def verify_removed(self) -> Evidence:
        """No fill file of ours, free bytes back to baseline, member serving, no alarm of
        ours armed: polled to a deadline."""

        async def check() -> list[tuple[bool, str, dict[str, float | str]]]:
            return list(await asyncio.gather(*(self._removed(t) for t in self._t.values())))

        results, took = await poll_until(
            check, lambda rs: all(ok for ok, _, _ in rs), VERIFY_REMOVED_TIMEOUT_S, 0.5
        )
        holds = all(ok for ok, _, _ in results)
        notes = [why for _, why, _ in results]
        armed = await self._members.armed(self._member_ids())
        if armed:
            holds = False
            notes.append(f"NOSPACE still armed for {[f'{m:x}' for m, _ in armed]}")
        figures: dict[str, float | str] = {"seconds": round(took, 3)}
        for (name, t), (_, _, figs) in zip(self._t.items(), results, strict=True):
            p = "" if len(self._t) == 1 else f"{name}."
            figures.update({p + k: v for k, v in figs.items()})
            figures[f"{p}fill_s"] = round(t.fill_s, 3)
            figures[f"{p}fill_bytes"] = t.filled
            figures.update({f"{p}during_{k}": v for k, v in t.during.items()})
        return Evidence(holds, "; ".join(notes), figures)
