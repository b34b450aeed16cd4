"""The partition's iptables rules, as pure builders: rules files for `iptables-restore
--noflush` (one helper applies a node's whole change atomically), the ledger's per-step argvs
(crash repair), and the reading of `iptables -S` listings.

What a partitioned node's filter table holds, and nothing else of ours:

    -N CHAOS_EVAL_PART
    -A CHAOS_EVAL_PART -s <peer ip> -j DROP               # one per peer: the INPUT path
    -A CHAOS_EVAL_PART -d <peer ip> -j DROP               # one per peer: the OUTPUT path
    -I INPUT 1  -m comment --comment chaos-eval -j CHAOS_EVAL_PART
    -I OUTPUT 1 -m comment --comment chaos-eval -j CHAOS_EVAL_PART

Inject applies that as ONE restore transaction, so a node's rules take effect all at once or
not at all; its `-N` fails (and with it the whole transaction) when the chain is already
there, so jumps are never doubled. Cleanup is one transaction too: it deletes our two jumps
and our chain (`-F`, `-X`), never a built-in chain's other rules; when the table is not in
the expected shape it reads the listing and deletes exactly the jumps of ours it holds.

Every value in a rules file is either a constant of this module or an address that went
through `checked_ipv4`; the file is written by the harness and copied into the helper, never
assembled by a shell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from chaos_eval.chaos.net.addresses import checked_ipv4
from chaos_eval.chaos.net.restore import WAIT, rules_file
from chaos_eval.chaos.net.restore import restore_argv as _restore_argv
from chaos_eval.errors import FaultError
from chaos_eval.fault import UndoOp

CHAIN = "CHAOS_EVAL_PART"
COMMENT = "chaos-eval"
HOOKS = ("INPUT", "OUTPUT")
IPTABLES = ("iptables", *WAIT)
RULES_PATH = "/tmp/chaos-eval-partition.rules"  # in the helper's own filesystem
# exit codes (iptables 1.8, nft and legacy): 1 = rule/chain absent (or already exists, for
# -N); 2 = -D of a jump to a chain that does not exist; 4 = -X of a chain still in use
ABSENT_JUMP = (1, 2)
ABSENT_CHAIN = (1,)

Action = Literal["-I", "-D"]


def _hook(hook: str) -> str:
    if hook not in HOOKS:
        raise FaultError(f"partition: unexpected hook {hook!r}")
    return hook


def jump_spec() -> tuple[str, ...]:
    """The match and target of our jump, as `iptables -S` prints it after the chain."""
    return ("-m", "comment", "--comment", COMMENT, "-j", CHAIN)


def jump_rule(action: Action, hook: str) -> tuple[str, ...]:
    """Insert (at the top) or delete the jump from a built-in chain to ours."""
    where = (_hook(hook), "1") if action == "-I" else (_hook(hook),)
    return (action, *where, *jump_spec())


def drop_rules(peer_ips: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """The rules of our chain: drop from each peer, drop to each peer (one address a rule,
    as iptables would expand a list anyway)."""
    ips = tuple(checked_ipv4(ip) for ip in peer_ips)
    if not ips:
        raise FaultError("partition: no peer addresses to drop")
    return (
        *(("-A", CHAIN, "-s", ip, "-j", "DROP") for ip in ips),
        *(("-A", CHAIN, "-d", ip, "-j", "DROP") for ip in ips),
    )


def inject_rules(peer_ips: Iterable[str]) -> str:
    """One node's whole partition; the jumps come last, so it bites all at once."""
    return rules_file((("-N", CHAIN), *drop_rules(peer_ips), *(jump_rule("-I", h) for h in HOOKS)))


def removal_rules(jumps: Mapping[str, int] | None = None, chain: bool = True) -> str | None:
    """Delete `jumps` (hook -> how many of our jumps it holds; default one each, as inject
    leaves them) and, when `chain`, flush and delete our chain. None: nothing to delete."""
    counts = {h: 1 for h in HOOKS} if jumps is None else jumps
    rules = [jump_rule("-D", h) for h in HOOKS for _ in range(counts.get(h, 0))]
    if chain:
        rules += [("-F", CHAIN), ("-X", CHAIN)]
    return rules_file(rules) if rules else None


def restore_argv() -> tuple[str, ...]:
    """Apply RULES_PATH on top of the table (never flushing anything else)."""
    return _restore_argv(RULES_PATH)


# -- reading `iptables -S` -------------------------------------------------------------------


def list_rules_argv() -> tuple[str, ...]:
    return (*IPTABLES, "-S")


def _tokens(line: str) -> list[str]:
    # some iptables builds quote the comment; ours has no space, so quotes are decoration
    return [t.strip('"') for t in line.split()]


def leftovers(iptables_s: str) -> tuple[str, ...]:
    """Lines of `iptables -S` output that belong to this fault (chain, jumps, comment)."""
    return tuple(
        line.strip()
        for line in iptables_s.splitlines()
        if CHAIN in _tokens(line) or f"--comment {COMMENT}" in " ".join(_tokens(line))
    )


@dataclass(frozen=True)
class Found:
    """What of ours a filter table holds."""

    chain: bool  # our chain exists (its own rules go with it)
    jumps: Mapping[str, int]  # hook -> number of our exact jumps in it
    foreign: tuple[str, ...]  # lines naming our chain in a shape we never write

    @property
    def empty(self) -> bool:
        return not (self.chain or any(self.jumps.values()) or self.foreign)


def found(iptables_s: str) -> Found:
    """Sort the lines naming our chain into what cleanup knows how to delete and what it
    does not."""
    chain = False
    jumps = {h: 0 for h in HOOKS}
    foreign: list[str] = []
    for line in iptables_s.splitlines():
        t = _tokens(line)
        if CHAIN not in t:
            continue  # not ours (another fault's jump may carry the same comment)
        if t == ["-N", CHAIN]:
            chain = True
        elif len(t) > 1 and t[:2] == ["-A", CHAIN]:
            continue  # inside our chain: flushed with it
        elif len(t) > 1 and t[0] == "-A" and t[1] in HOOKS and tuple(t[2:]) == jump_spec():
            jumps[t[1]] += 1
        else:
            foreign.append(line.strip())
    return Found(chain, jumps, tuple(foreign))


# -- the ledger form: one argv a step (crash repair, eval/cleanup/undo.py) ------------------------


def jump_argv(action: Action, hook: str) -> tuple[str, ...]:
    return (*IPTABLES, *jump_rule(action, hook))


def flush_chain_argv() -> tuple[str, ...]:
    return (*IPTABLES, "-F", CHAIN)


def delete_chain_argv() -> tuple[str, ...]:
    return (*IPTABLES, "-X", CHAIN)


def undo_argvs() -> tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]:
    """The ledger form of cleanup for one node: (argv, exit codes meaning done/absent).
    One `-D` a hook suffices: inject never leaves a second jump (its `-N` refuses)."""
    return (
        *((jump_argv("-D", h), (0, *ABSENT_JUMP)) for h in HOOKS),
        (flush_chain_argv(), (0, *ABSENT_CHAIN)),
        (delete_chain_argv(), (0, *ABSENT_CHAIN)),
    )


def is_undo_argv(op: str, argv: tuple[str, ...]) -> bool:
    """True for exactly an argv of `undo_argvs()`: the check undo plans read from a db must
    pass (eval/cleanup/undo.py)."""
    return op == UndoOp.HELPER_RUN and tuple(argv) in {a for a, _ in undo_argvs()}
