"""iptables-restore transactions: a table's change written as one rules file and applied
atomically (`iptables-restore --noflush`: all of it or none, nothing else flushed), so a
node's rules take effect at once and cost one helper command, not one per rule. Pure.

Every token of a rules file comes from the harness's own builders (constants, checked
addresses and numbers); the file is copied into the helper, never assembled by a shell.
"""

from __future__ import annotations

from collections.abc import Iterable

from chaos_eval.errors import FaultError

WAIT = ("-w", "5")  # wait up to 5 s for the xtables lock
TABLES = ("filter", "mangle")


def rules_file(rules: Iterable[tuple[str, ...]], table: str = "filter") -> str:
    """A transaction on `table` for `iptables-restore --noflush`. No token may hold
    whitespace, a quote or a comment mark: it would change how the line is split."""
    if table not in TABLES:
        raise FaultError(f"unexpected iptables table {table!r}")
    lines = [f"*{table}"]
    for rule in rules:
        for token in rule:
            if not token or any(c.isspace() or c in "\"'#" for c in token):
                raise FaultError(f"unsafe token {token!r} in a rules file")
        lines.append(" ".join(rule))
    return "\n".join([*lines, "COMMIT", ""])


def restore_argv(path: str) -> tuple[str, ...]:
    """Apply the rules file at `path` on top of its table (never flushing anything else)."""
    return ("iptables-restore", "--noflush", *WAIT, path)
