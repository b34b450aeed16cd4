"""Applying and removing a Shape on target nodes with either backend, and observing it.

`Shaping` applies a Shape (chaos/net/shape.py) for one fault on its targets, with the argv of
chaos/net/netem.py and chaos/net/queue_rules.py and the daemon of chaos/net/shaper_daemon.py:

    inject   choose the backend per target, record the choice, then
             netem:   tc qdisc replace dev eth0 root handle H: netem ...
             nfqueue: start the shaper daemon (in the target's node helper when the trial
                      has one, else as a helper container), wait (to a deadline) until it
                      logs "bound", THEN create the chain, its NFQUEUE rule, and the jump
    cleanup  jump deleted while present, chain flushed and deleted, our root qdisc
             deleted, THEN the shaper stopped with SIGTERM (it releases every held packet)
             and removed. Idempotent; safe after a half-done inject, a restarted target
             (fresh netns: nothing to remove) or a removed one.

`backend: auto` takes netem when the kernel has it (probed once per process in a helper
with its own empty network namespace: the target is not touched) and eth0's root qdisc is
the default or ours; otherwise nfqueue. Cleanup of a target whose backend this instance
did not choose (another process injected it) removes both backends' leftovers.

What `latency` and `packet_loss` share as faults (baseline, proof of removal) is in
chaos/net/shaped_fault.py.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping, Sequence

from chaos_eval.chaos.net.netem import (
    ABSENT_QDISC,
    NETEM_UNKNOWN,
    netem_argv,
    netem_delete_argv,
    parse_root_qdisc,
    qdisc_show_argv,
)
from chaos_eval.chaos.net.netem_support import netem_supported
from chaos_eval.chaos.net.queue_rules import (
    ABSENT_CHAIN,
    ABSENT_JUMP,
    RULES_PATH,
    delete_chain_argv,
    flush_chain_argv,
    inject_rules,
    jump_check_argv,
    jump_delete_argv,
    jump_insert_argv,
    new_chain_argv,
    queue_rule_argv,
    removal_rules,
)
from chaos_eval.chaos.net.residue import Residue, read_residue
from chaos_eval.chaos.net.restore import restore_argv
from chaos_eval.chaos.net.shape import (
    LATENCY_SLOT,
    LOSS_SLOT,
    Backend,
    BackendChoice,
    Shape,
    Slot,
)
from chaos_eval.chaos.net.shaper_daemon import (
    helper_name,
    shaper_argv,
    start_in_helper,
    start_shaper,
    stop_in_helper,
    stop_shaper,
)
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import ContainerInfo, HelperResult
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.engine.helper_fanout import bounded_gather
from chaos_eval.errors import CleanupError, DockerError, FaultError
from chaos_eval.fault import UndoAction, UndoOp
from chaos_eval.subject import Node, TrialContext

log = logging.getLogger(__name__)

MAX_JUMP_DELETES = 8

class Shaping:
    """One fault's shaping of its targets (see the module docstring)."""

    def __init__(
        self, docker: Docker, ctx: TrialContext, slot: Slot, shape: Shape,
        backend: BackendChoice, targets: Sequence[Node], image: str = HELPER_IMAGE_DEFAULT,
    ) -> None:
        self.docker, self.ctx, self.slot, self.shape = docker, ctx, slot, shape
        self.backend, self.targets, self.image = backend, tuple(targets), image
        self.labels = ctx.labels("helper")
        self.chosen: dict[str, Backend] = {}  # recorded BEFORE the backend is touched
        self.in_helper: set[str] = set()  # targets whose shaper runs in their node helper

    def shaper_name(self, node: Node) -> str:
        return helper_name(self.ctx.project, self.slot, node.name)

    def seed(self, node: Node) -> int:
        return zlib.crc32(f"{self.ctx.seed}:{self.slot.kind}:{node.name}".encode())

    def undo_plan(self) -> tuple[UndoAction, ...]:
        """Both backends' removal for every target, rules before the shaper: its container,
        and the target's node helper when it has one (a shaper may run in it)."""
        netns_steps = _netns_undo(self.slot)
        steps: list[UndoAction] = []
        for node in self.targets:
            steps += [UndoAction(UndoOp.HELPER_RUN, node.container_id, argv, ok_exit_codes=ok)
                      for argv, ok in netns_steps]
            steps.append(UndoAction(UndoOp.REMOVE_CONTAINER, self.shaper_name(node)))
            helper = self.docker.node_helper_of(node.container_id)
            if helper is not None:
                steps.append(UndoAction(UndoOp.REMOVE_CONTAINER, helper))
        return tuple(steps)

    async def _run(
        self, node: Node, argv: tuple[str, ...], ok: tuple[int, ...] = (0,),
        error: type[FaultError] = FaultError, files: Mapping[str, bytes] | None = None,
    ) -> HelperResult:
        res = await self.docker.run_helper(
            argv, labels=self.labels, netns_of=node.container_id, image=self.image, files=files
        )
        if res.exit_code not in ok:
            raise error(f"{node.name}: {' '.join(argv)}: exit {res.exit_code}: "
                        f"{res.stderr.strip()[:300]}")
        return res

    # -- inject ---------------------------------------------------------------------------

    async def prepare(self) -> bool:
        """False when backend auto must take nfqueue: the kernel lacks netem (probed once per
        process, in a helper of its own: no target is touched); the baseline asks it early."""
        return self.backend != "auto" or await netem_supported(self.docker, self.labels,
                                                               self.image)

    async def inject(self) -> None:
        """Shape every target. Raises FaultError naming each target that failed."""
        results = await bounded_gather(self._inject_one, self.targets)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise FaultError("; ".join(str(e) for e in errors)) from errors[0]

    async def _choose(self, node: Node) -> Backend:
        if self.backend == "nfqueue":
            return Backend.NFQUEUE
        if not await self.prepare():
            return Backend.NFQUEUE
        root = parse_root_qdisc((await self._run(node, qdisc_show_argv())).stdout)
        if root is None or root.is_default or root.handle == self.slot.handle:
            return Backend.NETEM
        why = f"{node.name}: eth0's root qdisc is {root.kind} {root.handle}, not ours"
        if self.backend == "netem":
            raise FaultError(f"{why}: refusing to replace it (backend: nfqueue composes)")
        log.info("%s: using nfqueue", why)
        return Backend.NFQUEUE

    async def _inject_one(self, node: Node) -> None:
        backend = await self._choose(node)
        self.chosen[node.name] = backend
        if backend is Backend.NFQUEUE:
            if await self._start_shaper(node):
                await self._add_rules(node)
            return
        res = await self._run(node, netem_argv(self.slot, self.shape), ok=(0, 1, 2))
        if res.exit_code != 0:
            why = "kernel lacks sch_netem (use backend: nfqueue)" \
                if NETEM_UNKNOWN in res.stderr else res.stderr.strip()[:300]
            raise FaultError(f"{node.name}: netem: {why}")

    async def _start_shaper(self, node: Node, *, add_rules: bool = True) -> bool:
        """Start the shaper and wait until it is bound: in the node helper when there is one,
        where the same exec then adds the rules (`add_rules`) in one transaction; else as a
        container. True when the rules are still to be added (`_add_rules`)."""
        argv = shaper_argv(self.slot, self.shape, self.seed(node))
        self.in_helper.add(node.name)  # recorded before: cleanup stops it there too
        then = restore_argv(RULES_PATH) if add_rules else ()
        files = {RULES_PATH: inject_rules(self.slot).encode()} if add_rules else None
        code = await start_in_helper(self.docker, self.slot, argv, node=node.name,
                                     netns_of=node.container_id, image=self.image, then=then,
                                     files=files)
        if code is not None:
            return add_rules and code != 0  # the transaction refused: step by step
        self.in_helper.discard(node.name)
        await start_shaper(self.docker, self.shaper_name(node), argv, node=node.name,
                           labels=self.labels, netns_of=node.container_id, image=self.image)
        return add_rules

    async def _transaction(self, node: Node, rules: str, error: type[FaultError]) -> bool:
        """Apply one iptables-restore transaction; False when it refused (changing nothing)."""
        files = {RULES_PATH: rules.encode()}
        return (await self._run(node, restore_argv(RULES_PATH), (0, 1, 2), error, files)).ok

    async def _add_rules(self, node: Node) -> None:
        """Chain and its rule first, the jump last: traffic is queued only once all is set.
        One transaction (chaos/net/queue_rules.py); when it refuses (an earlier attempt
        left the chain), step by step, keeping one jump."""
        if await self._transaction(node, inject_rules(self.slot), FaultError):
            return
        fresh = (await self._run(node, new_chain_argv(self.slot), ok=(0, 1))).exit_code == 0
        if not fresh:  # left by an earlier attempt: reset its content, keep one jump
            await self._run(node, flush_chain_argv(self.slot))
        await self._run(node, queue_rule_argv(self.slot))
        if not fresh and (await self._run(node, jump_check_argv(self.slot), ok=(0, 1, 2))).ok:
            return
        await self._run(node, jump_insert_argv(self.slot))

    # -- cleanup --------------------------------------------------------------------------

    async def cleanup(self) -> None:
        """Remove everything of this slot from every target; CleanupError lists failures."""
        results = await bounded_gather(self._cleanup_one, self.targets)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise CleanupError("; ".join(str(e) for e in errors)) from errors[0]

    async def _cleanup_one(self, node: Node) -> None:
        try:
            await self._clean_netns(node)
        except (DockerError, CleanupError) as e:
            info = await self._inspect_or_raise(node, e)
            if info is not None and info.running:  # the netns is there and we failed in it
                raise CleanupError(f"{node.name}: {e}") from e
            log.info("%s: stopped while being cleaned; its netns went with it", node.name)
        try:
            await stop_shaper(self.docker, self.shaper_name(node), node.name)
            if node.name in self.in_helper or node.name not in self.chosen:
                await stop_in_helper(self.docker, self.slot, node.name, node.container_id,
                                     self.image)
        except DockerError as e:
            raise CleanupError(f"{node.name}: shaper: {e}") from e

    async def _inspect_or_raise(self, node: Node, cause: Exception) -> ContainerInfo | None:
        try:
            return await self.docker.inspect(node.container_id)
        except DockerError as e:
            raise CleanupError(f"{node.name}: {cause}; then: {e}") from cause

    async def _clean_netns(self, node: Node) -> None:
        info = await self.docker.inspect(node.container_id)
        if info is None or not info.running:  # no netns, nothing of ours inside it
            return
        known = self.chosen.get(node.name)  # paused counts as running: its netns is there
        if known in (None, Backend.NFQUEUE):
            await self._remove_rules(node)
        if known in (None, Backend.NETEM):
            await self._run(node, netem_delete_argv(self.slot), ABSENT_QDISC, CleanupError)

    async def _remove_rules(self, node: Node) -> None:
        """One transaction when the table is as inject left it, else step by step."""
        if await self._transaction(node, removal_rules(self.slot), CleanupError):
            return
        for _ in range(MAX_JUMP_DELETES):  # -D reports "absent" exactly like -C (1 or 2)
            res = await self._run(node, jump_delete_argv(self.slot), ABSENT_JUMP, CleanupError)
            if res.exit_code != 0:
                break
        else:
            raise CleanupError(f"{node.name}: jump to {self.slot.chain} still present after "
                               f"{MAX_JUMP_DELETES} deletions")
        await self._run(node, flush_chain_argv(self.slot), ABSENT_CHAIN, CleanupError)
        await self._run(node, delete_chain_argv(self.slot), ABSENT_CHAIN, CleanupError)

    # -- observation ----------------------------------------------------------------------

    async def residue(self, node: Node) -> Residue:
        """What is left of this slot on `node` (chaos/net/residue.py)."""
        return await read_residue(self.docker, self.labels, self.image, self.slot, node,
                                  self.shaper_name(node))


def _netns_undo(slot: Slot) -> tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]:
    """The netns steps of one slot's undo plan: (argv, exit codes meaning done/absent)."""
    return (
        (jump_delete_argv(slot), ABSENT_JUMP),
        (flush_chain_argv(slot), ABSENT_CHAIN),
        (delete_chain_argv(slot), ABSENT_CHAIN),
        (netem_delete_argv(slot), ABSENT_QDISC),
    )


_UNDO_ARGVS = frozenset(argv for slot in (LATENCY_SLOT, LOSS_SLOT) for argv, _ in _netns_undo(slot))


def is_undo_argv(op: str, argv: tuple[str, ...]) -> bool:
    """True for exactly an argv a shaping undo plan holds (built by the same builders); the
    check undo plans read from a db must pass (eval/cleanup/undo.py)."""
    return op == UndoOp.HELPER_RUN and tuple(argv) in _UNDO_ARGVS
