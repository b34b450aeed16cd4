"""Disk pressure: fill a target's data filesystem with files named after the trial.

Confinement first. The fill lands on the node's data volume, mounted at /target in a
one-shot helper with no capabilities at all (chaos/disk_volume.py). Before anything is
written the volume must be a bounded filesystem of its own: the local driver with
`type=tmpfs` and a `size=` option, or a block device of its own (`device=/dev/...`, not a
bind). A plain local volume is a directory on the host's disk, so filling it would fill
the host: refused. The size the helper's `df` reports must also match the volume's
`size=` option.

Inject, per target:

    df -B1 --output=size,avail /target        (eval/cleanup/node_state.py: one `find` helper)
    fallocate -l <bytes> /target/.chaos-eval-fill-<trial key 12>-<n>     n = 0, 1, ...

`fill_percent: P` fills until the filesystem is P % used, as df reports it; `fill_bytes:
B` adds B bytes (at most what is free). A file per step, each step re-reading df: the
subject writes meanwhile, and a tmpfs fallocate is all or nothing (ENOSPC if it no longer
fits). A fill to 100 % (goal: 0 bytes free) therefore fallocates all but TOPUP_BYTES and
writes the rest with `dd` until ENOSPC: under load, the few KB etcd writes between a df
and a fallocate made an exact-size fallocate fail every time. At most MAX_FILES files.

What is particular to a subject about a full disk is its hook, chaos_eval.subject.DiskFullAware,
reached through the trial context (`ctx.subject`) and used only when the subject has it
(etcd: subjects/etcd/disk.py, its member ids and NOSPACE alarms). The baseline asks it what
was there before the fill.

verify_active holds iff df, read again from a fresh helper, shows free bytes at or below
the level asked for (+ ACTIVE_SLACK). What the subject does is recorded, not required:
container state and exit code, and its published client endpoint's status
(chaos/disk_member.py). etcd 3.4, for one, exits on ENOSPC (`mvcc/backend: cannot commit tx
...: no space left on device`), typically within a second under load.

cleanup_chaos records what the member did (state, exit code, the ENOSPC log line), then
`rm -f --` exactly this trial's MAX_FILES names (no glob), then starts the member if it
is not running (it was at baseline), then lets the subject's hook undo what it raised
because of the fill (etcd: DEACTIVATE a NOSPACE alarm of a target, not armed before). The
ledger form is the same: VOLUME_RUN rm -f of those names, START_CONTAINER.

verify_removed holds iff no fill file of this trial is left (a helper lists them), free
bytes are back to the baseline within cleanup.snapshot.free_tolerance, the member runs and
its endpoint answers, and the subject's hook lists nothing of the fill's making still in
force (etcd: no NOSPACE alarm of the fault's making is armed); polled to
VERIFY_REMOVED_TIMEOUT_S.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chaos_eval.chaos.disk_member import member_state
from chaos_eval.chaos.disk_volume import ACTIVE_SLACK, DataVolume
from chaos_eval.chaos.diskfill import MAX_FILL_BYTES, fill_names, remove_argv
from chaos_eval.chaos.probes import EndpointTracker, HttpOutcome, probe_endpoint_of, probe_tracked
from chaos_eval.cleanup.node_state import VolumeUsage
from chaos_eval.cleanup.snapshot import free_tolerance
from chaos_eval.engine.client import Docker
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.errors import CleanupError, DockerError, FaultError
from chaos_eval.fault import Evidence, UndoAction, UndoOp
from chaos_eval.polling import poll_until
from chaos_eval.subject import DiskFullAware, Node, TrialContext

PROBE_TIMEOUT_S = 1.0
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
    vol: DataVolume
    tracker: EndpointTracker
    running_before: bool = True
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
        self._docker = docker
        labels = ctx.labels("helper")
        self.names = fill_names(ctx.trial_key)
        self._t: dict[str, _Target] = {}
        for node in targets:
            ep = probe_endpoint_of(node)
            if node.data_volume is None or ep is None:
                raise FaultError(f"disk_pressure: node {node.name} has no data volume or no "
                                 "endpoint to observe")
            vol = DataVolume(docker, node, node.data_volume, labels, helper_image)
            self._t[node.name] = _Target(node, vol, EndpointTracker(docker, node, ep))
        self._subject = ctx.subject if isinstance(ctx.subject, DiskFullAware) else None
        self._subject_baseline: object | None = None  # what the subject's hook recorded
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
                                    remove_argv(self.names), volume=t.vol.volume))
            steps.append(UndoAction(UndoOp.START_CONTAINER, t.node.container_id))
        return tuple(steps)

    async def usage(self, node: Node) -> VolumeUsage:
        """df and the fill files of `node`'s data volume, from a fresh helper."""
        return await self._t[node.name].vol.usage()

    async def _member(self, t: _Target) -> dict[str, str]:
        return await member_state(self._docker, t.node, t.tracker, self._subject,
                                  PROBE_TIMEOUT_S)

    # -- baseline, inject -------------------------------------------------------------------

    async def measure_baseline(self) -> Mapping[str, int]:
        """Check confinement (refusing before anything is written), then record each
        target's free bytes, whether it runs, which port its endpoint publishes, and what the
        subject's hook records (etcd: member ids and the armed alarms)."""
        for t in self._t.values():
            t.vol.baseline = await t.vol.confined_usage()
            info = await self._docker.inspect(t.node.container_id)
            t.running_before = info is not None and info.running
            await t.tracker.pin()  # while it serves: a member stopped by ENOSPC publishes none
        if self._subject is not None:
            self._subject_baseline = await self._subject.disk_fill_baseline(self.targets)
        self._measured = True
        return {name: t.vol.baseline.avail for name, t in self._t.items() if t.vol.baseline}

    async def inject(self) -> None:
        if not self._measured:
            await self.measure_baseline()
        for t in self._t.values():
            await t.vol.fill(self.names, self.params.fill_percent, self.params.fill_bytes)

    async def fill_step(self, node: Node, nbytes: int, *, topup: bool = False) -> bool:
        """Create the next fill file of `nbytes` on `node` (recorded before it is made):
        fallocate, or with `topup` dd until full. False when a fallocate did not fit. A
        half-done inject is a few of these."""
        return await self._t[node.name].vol.fill_step(self.names, nbytes, topup=topup)

    async def verify_active(self) -> Evidence:
        """Free bytes, read from a fresh helper, are at or below the goal on every target;
        what the member does meanwhile is recorded."""
        figures: dict[str, float | str] = {}
        notes: list[str] = []
        holds = True
        for name, t in self._t.items():
            vol = t.vol
            usage = await vol.usage()
            goal = vol.goal if vol.goal is not None else -1
            ok = vol.goal is not None and usage.avail <= vol.goal + ACTIVE_SLACK
            holds = holds and ok
            member = await self._member(t)
            p = "" if len(self._t) == 1 else f"{name}."
            base = vol.baseline.avail if vol.baseline else -1
            figures.update({
                f"{p}size_bytes": usage.size, f"{p}free_bytes_before": base,
                f"{p}free_bytes_now": usage.avail, f"{p}goal_free_bytes": goal,
                f"{p}used_pct_now": round(100 * usage.used_fraction, 2),
                f"{p}fill_bytes": vol.filled, f"{p}fill_files": len(vol.created),
                f"{p}fill_s": round(vol.fill_s, 3), f"{p}write_s": round(vol.write_s, 3),
                **{f"{p}member_{k}": v for k, v in member.items()},
            })
            notes.append(f"{name}: free {base} -> {usage.avail} bytes (goal <= {goal}) "
                         f"{'holds' if ok else 'does NOT hold'}; member {member['container']}"
                         f", endpoint {member['endpoint']}")
        return Evidence(holds, "; ".join(notes), figures)

    # -- cleanup ----------------------------------------------------------------------------

    async def cleanup_chaos(self) -> None:
        """Remove exactly this trial's fill files, start each target that is not running,
        let the subject's hook undo what it raised (etcd: a NOSPACE alarm). Idempotent;
        fine after a half-done inject."""
        problems: list[str] = []
        for t in self._t.values():
            try:
                await self._cleanup_one(t)
            except (DockerError, CleanupError) as e:
                problems.append(f"{t.node.name}: {e}")
        if self._subject is not None and self._subject_baseline is not None:
            try:
                await self._subject.after_disk_fill(self._subject_baseline)
            except CleanupError as e:
                problems.append(str(e))
        if problems:
            raise CleanupError(f"disk_pressure cleanup failed: {'; '.join(problems)}")

    async def _cleanup_one(self, t: _Target) -> None:
        if not t.during:  # the first cleanup sees what the fault did; keep that record
            t.during = await self._member(t)
        await t.vol.remove(self.names)
        info = await self._docker.inspect(t.node.container_id)
        if info is None:
            raise CleanupError("container is gone; cannot start it")
        if not info.running and t.running_before:
            await self._docker.start(t.node.container_id)

    # -- proof of removal -------------------------------------------------------------------

    async def _removed(self, t: _Target) -> tuple[bool, str, dict[str, float | str]]:
        usage = await t.vol.usage()
        left = [f for f, _ in usage.fill_files if f in self.names]
        base = t.vol.baseline.avail if t.vol.baseline else usage.avail
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
        """No fill file of ours, free bytes back to baseline, member serving (polled to a
        deadline), and nothing the subject raised because of the fill still in force."""

        async def check() -> list[tuple[bool, str, dict[str, float | str]]]:
            return list(await asyncio.gather(*(self._removed(t) for t in self._t.values())))

        results, took = await poll_until(
            check, lambda rs: all(ok for ok, _, _ in rs), VERIFY_REMOVED_TIMEOUT_S, 0.5
        )
        holds = all(ok for ok, _, _ in results)
        notes = [why for _, why, _ in results]
        if self._subject is not None and self._subject_baseline is not None:
            left = await self._subject.disk_fill_leftovers(self._subject_baseline)
            if left:
                holds = False
                notes.extend(left)
        figures: dict[str, float | str] = {"seconds": round(took, 3)}
        for (name, t), (_, _, figs) in zip(self._t.items(), results, strict=True):
            p = "" if len(self._t) == 1 else f"{name}."
            figures.update({p + k: v for k, v in figs.items()})
            figures[f"{p}fill_s"] = round(t.vol.fill_s, 3)
            figures[f"{p}fill_bytes"] = t.vol.filled
            figures.update({f"{p}during_{k}": v for k, v in t.during.items()})
        return Evidence(holds, "; ".join(notes), figures)
