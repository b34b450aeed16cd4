"""The harness-owned mangle chain that hands a target's egress to the shaper: the argv
that create, fill, jump to, list and remove it, and what of it a listing still shows. Pure.

Inject adds all three (chain, its NFQUEUE rule, the jump last) as ONE iptables-restore
transaction (`inject_rules`, chaos/net/restore.py): traffic is queued all at once or not at
all, and its `-N` refuses (changing nothing) when an earlier attempt left the chain, so the
jump is never doubled; the one-argv-a-step form stays for that case and for the ledger.
Cleanup likewise tries one transaction (`removal_rules`) and, when the table is not as
inject left it, deletes step by step.

Exit codes (iptables 1.8 nft and legacy), all meaning "already absent" where cleanup lists
them: iptables -D/-C of a jump 1 (no such rule) or 2 (no such chain); -F/-X 1 (no such
chain), but -X 4 means the chain is still referenced and is NOT ok.
"""

from __future__ import annotations

from chaos_eval.chaos.net.restore import rules_file
from chaos_eval.chaos.net.shape import Slot

TABLE = "mangle"
COMMENT = "chaos-eval"
IPTABLES = ("iptables", "-w", "5")
RULES_PATH = "/tmp/chaos-eval-queue.rules"  # in the helper's own filesystem
ABSENT_JUMP = (0, 1, 2)
ABSENT_CHAIN = (0, 1)


def _ipt(*args: str) -> tuple[str, ...]:
    return (*IPTABLES, "-t", TABLE, *args)


def _queue_rule(slot: Slot) -> tuple[str, ...]:
    return ("-A", slot.chain, "!", "-o", "lo", "-j", "NFQUEUE", "--queue-num", str(slot.queue),
            "--queue-bypass")


def inject_rules(slot: Slot) -> str:
    """The chain, its NFQUEUE rule and the jump (inserted first in the hook), in one mangle
    transaction: the same rules `new_chain_argv`, `queue_rule_argv` and `jump_insert_argv`
    add one by one."""
    return rules_file((("-N", slot.chain), _queue_rule(slot),
                       ("-I", slot.hook, "1", *_jump(slot))), TABLE)


def _jump(slot: Slot) -> tuple[str, ...]:
    return ("-m", "comment", "--comment", COMMENT, "-j", slot.chain)


def removal_rules(slot: Slot) -> str:
    """What inject adds, removed in one mangle transaction: the jump, then the chain's rule
    and the chain. It changes nothing unless all three are there as inject left them."""
    return rules_file((("-D", slot.hook, *_jump(slot)), ("-F", slot.chain),
                       ("-X", slot.chain)), TABLE)


def new_chain_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-N", slot.chain)


def flush_chain_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-F", slot.chain)


def delete_chain_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-X", slot.chain)


def queue_rule_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt(*_queue_rule(slot))


def jump_check_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-C", slot.hook, *_jump(slot))


def jump_insert_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-I", slot.hook, "1", *_jump(slot))


def jump_delete_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-D", slot.hook, *_jump(slot))


def list_rules_argv() -> tuple[str, ...]:
    return _ipt("-S")


def chain_residue(rules: str, slot: Slot) -> tuple[str, ...]:
    """The lines of `iptables -t mangle -S` output that belong to `slot` (empty when clean)."""
    mine = []
    for line in rules.splitlines():
        words = line.split()
        if slot.chain in words and words[:1] in (["-N"], ["-A"]):
            mine.append(line.strip())
    return tuple(mine)
