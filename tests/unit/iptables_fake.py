"""A Docker stand-in for the partition fault: each container's filter table is simulated, so
inject, cleanup, verification and the ledger's undo plan can be exercised without Docker,
counting the helpers they start.

It understands exactly what the partition sends: `iptables -w 5 <rule>` and `iptables -w 5
-S` one command a helper, `iptables-restore --noflush -w 5 <file>` with the file copied in
(applied all-or-nothing, as the kernel does), and chaos/helper/reach.py probes, plain or in
rounds after a restore (`--first ... --rounds R EVERY`): then it waits out the rounds in
real time (asyncio.sleep), reads each round's answers from the tables as they are at that
moment, and reports times on the test's own monotonic clock (`clock_offset` shifts them, as
a helper on another clock would; `delay` holds a node's restore back).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chaos_eval.chaos.net.partition_rules import CHAIN, HOOKS, IPTABLES, jump_spec
from chaos_eval.chaos.net.reachability import REACH_PATH
from chaos_eval.engine.containers import ContainerInfo, HelperResult


@dataclass
class Table:
    chain: list[str] | None = None  # our chain's rules ("-s 1.2.3.4 -j DROP"), None: absent
    jumps: dict[str, int] = field(default_factory=lambda: {h: 0 for h in HOOKS})
    others: list[str] = field(default_factory=list)  # someone else's rules, "-A INPUT ..."

    def listing(self) -> str:
        lines = ["-P INPUT ACCEPT", "-P FORWARD ACCEPT", "-P OUTPUT ACCEPT"]
        if self.chain is not None:
            lines.append(f"-N {CHAIN}")
        for hook in HOOKS:
            lines += [f"-A {hook} {' '.join(jump_spec())}"] * self.jumps[hook]
        lines += self.others
        lines += [f"-A {CHAIN} {r}" for r in self.chain or []]
        return "\n".join(lines) + "\n"

    def copy(self) -> Table:
        chain = None if self.chain is None else list(self.chain)
        return Table(chain, dict(self.jumps), list(self.others))

    def apply(self, rule: list[str]) -> int:
        """One rule in iptables' own syntax; its exit code (0, 1 absent/exists, 2 no
        such chain, 4 chain busy)."""
        verb, name, rest = rule[0], rule[1], rule[2:]
        if name == CHAIN:
            if verb == "-N":
                if self.chain is not None:
                    return 1
                self.chain = []
                return 0
            if self.chain is None:
                return 1
            if verb == "-A":
                self.chain.append(" ".join(rest))
            elif verb == "-F":
                self.chain.clear()
            elif verb == "-X":
                if any(self.jumps.values()) or self.chain:
                    return 4
                self.chain = None
            else:
                raise AssertionError(f"unexpected rule {rule}")
            return 0
        assert name in HOOKS, rule
        spec = tuple(rest[1:] if verb == "-I" else rest)
        assert spec == jump_spec(), rule
        if self.chain is None:
            return 2
        if verb == "-I":
            self.jumps[name] += 1
        elif not self.jumps[name]:  # -D
            return 1
        elif verb == "-D":
            self.jumps[name] -= 1
        return 0

    def drops(self, hook: str, flag: str, ip: str) -> bool:
        return bool(self.jumps[hook]) and f"{flag} {ip} -j DROP" in (self.chain or [])


class IptablesDocker:
    """inspect + run_helper over simulated tables; `started` records every helper."""

    def __init__(self, addresses: Mapping[str, str], campaign: str = "") -> None:
        self.campaign = campaign  # the chaos-eval.campaign label on every container
        self.addresses = dict(addresses)  # container id -> IP
        self.tables = {cid: Table() for cid in addresses}
        self.started: list[tuple[str, str]] = []  # (container id, program)
        self.running = set(addresses)
        self.clock_offset = 0.0  # added to every time a probe program reports
        self.delay: dict[str, float] = {}  # container id -> seconds before its restore
        self.first_output: str | None = None  # replaces the `first` line when set

    def helpers(self, program: str | None = None) -> int:
        return sum(program in (None, p) for _, p in self.started)

    async def inspect(self, container: str) -> ContainerInfo | None:
        ip = self.addresses[container]
        up = container in self.running
        return ContainerInfo(
            container, container, "running" if up else "exited", up, False, 0, "", {"net": ip},
            labels={"chaos-eval.campaign": self.campaign},
        )

    async def run_helper(
        self,
        argv: Iterable[str],
        *,
        labels: Mapping[str, str],
        netns_of: str | None = None,
        image: str = "",
        timeout_s: float = 30.0,
        files: Mapping[str, bytes] | None = None,
        **_: object,
    ) -> HelperResult:
        args = list(argv)
        assert netns_of is not None and labels
        self.started.append((netns_of, args[0]))
        table = self.tables[netns_of]
        if args[0] == "iptables-restore":
            return self._restore(netns_of, args, files)
        if args[0] == "python3":
            assert args[:3] == ["python3", "-S", REACH_PATH] and files and REACH_PATH in files
            args = args[2:]
            if args[1] != "--first":
                return HelperResult(0, self._probe(netns_of, args[2:]), "")
            return await self._rounds(netns_of, args, files)
        assert tuple(args[:3]) == IPTABLES, args
        if args[3:] == ["-S"]:
            return HelperResult(0, table.listing(), "")
        return HelperResult(table.apply(args[3:]), "", "")

    def _restore(self, netns_of: str, args: list[str],
                 files: Mapping[str, bytes] | None) -> HelperResult:
        assert args[:4] == ["iptables-restore", "--noflush", "-w", "5"] and files
        text = files[args[4]].decode()
        lines = text.splitlines()
        assert lines[0] == "*filter" and lines[-1] == "COMMIT", text
        trial = self.tables[netns_of].copy()
        for n, line in enumerate(lines[1:-1], start=2):
            if trial.apply(line.split()):
                return HelperResult(1, "", f"iptables-restore: line {n} failed")
        self.tables[netns_of] = trial
        return HelperResult(0, "", "")

    def _probe(self, netns_of: str, ip_ports: list[str]) -> str:
        src_ip = self.addresses[netns_of]
        by_ip = {ip: cid for cid, ip in self.addresses.items()}
        out = []
        for ip, port in zip(ip_ports[::2], ip_ports[1::2], strict=True):
            dst = self.tables[by_ip[ip]]
            cut = self.tables[netns_of].drops("OUTPUT", "-d", ip) \
                or dst.drops("INPUT", "-s", src_ip)
            out.append(f"{ip} {port} {'closed EPERM' if cut else 'open'}\n")
        return "".join(out)

    async def _rounds(self, netns_of: str, args: list[str],
                      files: Mapping[str, bytes]) -> HelperResult:
        n = int(args[2])  # args: REACH_PATH --first N WORD... --rounds R EVERY TIMEOUT IP PORT...
        first, rest = args[3:3 + n], args[3 + n:]
        assert rest[0] == "--rounds", args
        rounds, every, ip_ports = int(rest[1]), float(rest[2]), rest[4:]
        await asyncio.sleep(self.delay.get(netns_of, 0.0))
        res = self._restore(netns_of, first, files)
        at = time.monotonic()
        out = [f"first {res.exit_code} {at + self.clock_offset:.6f}\n"]
        if self.first_output is not None:
            out = [self.first_output]
        if not res.ok:
            return HelperResult(res.exit_code, "".join(out), res.stderr)
        for k in range(rounds):
            await asyncio.sleep(max(0.0, at + k * every - time.monotonic()))
            started = time.monotonic() + self.clock_offset
            out.append(f"round {k} {started:.6f}\n" + self._probe(netns_of, ip_ports))
        return HelperResult(0, "".join(out), "")
