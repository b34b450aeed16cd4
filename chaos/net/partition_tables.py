"""The partition's work on one node's filter table, each step one helper exec joined to the
node: apply its rules (and probe from it in the same exec), list the table, remove what is
ours. The rules and their builders are chaos/net/partition_rules.py; the fault that decides
which node gets what is chaos/partition.py.

Applying: one exec runs the node's whole rules file as one `iptables-restore --noflush`
transaction and then probe rounds from the node to its peers (chaos/net/probe_rounds.py).
The transaction refuses whole when our chain is already there (an earlier attempt); then,
or when nobody can tell whether it applied, what is ours is listed and removed and the rules
applied again on their own.

Removing: one transaction deletes what inject leaves (both jumps, the chain). If the table
holds anything else of ours (half-done, doubled, or already removed), that transaction
changes nothing; then the listing is read and exactly the jumps of ours it holds and our
chain are removed, never a built-in chain's other rules, never lines of ours in a shape we
never write (those are an error, not a guess).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from chaos_eval.chaos.net.partition_rules import (
    RULES_PATH,
    found,
    list_rules_argv,
    removal_rules,
    restore_argv,
)
from chaos_eval.chaos.net.probe_rounds import Round, install_and_probe
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import HelperResult
from chaos_eval.errors import CleanupError, FaultError
from chaos_eval.subject import Node

log = logging.getLogger(__name__)

MAX_REMOVAL_ATTEMPTS = 3  # list-then-remove rounds when the table is not as inject left it


@dataclass(frozen=True)
class Applied:
    """A node's rules are in: since `at` (CLOCK_MONOTONIC, never earlier than they went in),
    and the probe rounds its exec then ran (none when the rules had to be applied again)."""

    at: float
    rounds: tuple[Round, ...]


class PartitionTables:
    """The filter tables of a trial's nodes, through helpers (module docstring)."""

    def __init__(self, docker: Docker, labels: Mapping[str, str], image: str) -> None:
        self._docker, self._labels, self._image = docker, labels, image

    async def run(self, node: Node, argv: tuple[str, ...]) -> HelperResult:
        return await self._docker.run_helper(
            argv, labels=self._labels, netns_of=node.container_id, image=self._image
        )

    async def restore(self, node: Node, rules: str) -> HelperResult:
        """Apply one rules file to the node's filter table, atomically, in one helper."""
        return await self._docker.run_helper(
            restore_argv(), labels=self._labels, netns_of=node.container_id, image=self._image,
            files={RULES_PATH: rules.encode()},
        )

    async def apply(self, node: Node, rules: str, peers: tuple[Node, ...]) -> Applied:
        """Apply `rules`, then probe `peers` from the node, in one exec; at most four execs
        (module docstring). FaultError when the rules cannot be applied."""
        done = await install_and_probe(self._docker, self._labels, node, peers, restore_argv(),
                                       {RULES_PATH: rules.encode()}, image=self._image)
        if done.applied:
            return Applied(done.in_at, done.rounds)
        code, err = done.exit_code, done.stderr
        unknown = done.seen is None or done.seen.code is None
        if await self.remove_listed(node) or unknown:
            res = await self.restore(node, rules)
            code, err = res.exit_code, res.stderr
        if code:
            raise FaultError(f"{node.name}: iptables-restore: exit {code}: {err.strip()}")
        return Applied(time.monotonic(), ())  # read after the rules went in: never too early

    async def remove(self, node: Node) -> None:
        """Remove what is ours from the node's table (module docstring). CleanupError when
        something of ours is still listed after MAX_REMOVAL_ATTEMPTS removals."""
        rules = removal_rules()
        assert rules is not None
        if (await self.restore(node, rules)).ok:
            return
        for _ in range(MAX_REMOVAL_ATTEMPTS):
            if not await self.remove_listed(node):
                return
        raise CleanupError(
            f"{node.name}: rules of ours still listed after {MAX_REMOVAL_ATTEMPTS} removals"
        )

    async def remove_listed(self, node: Node) -> bool:
        """List the node's filter table and remove every jump of ours and our chain in one
        transaction. False when nothing of ours was listed; True after a removal attempt
        (whether it worked is for the next listing to tell). CleanupError when the table
        holds lines of ours in a shape we never write (we do not guess at deleting them)."""
        listing = await self.run(node, list_rules_argv())
        if not listing.ok:
            raise CleanupError(
                f"{node.name}: iptables -S: exit {listing.exit_code}: {listing.stderr.strip()}"
            )
        ours = found(listing.stdout)
        if ours.foreign:
            raise CleanupError(f"{node.name}: unexpected rules of ours: {'; '.join(ours.foreign)}")
        rules = removal_rules(ours.jumps, ours.chain)
        if rules is None:
            return False
        res = await self.restore(node, rules)
        if not res.ok:
            log.info("partition: removal on %s: exit %s: %s", node.name, res.exit_code,
                     res.stderr.strip())
        return True
