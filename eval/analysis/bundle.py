"""Failure bundles: one trial's evidence in a .tar.gz an engineer can re-check offline.

Members (all regular files, at the top of the archive or under logs/):

    README.txt        what each member is
    trial.json        campaign, trial key, subject, fault and params, status, reasons, error,
                      measurements (fault window, metrics, the recorded linearizability
                      check), proof (fault active/removed evidence, snapshots, cluster state
                      before and after), targets, the workload spec and the re-run command
    history.jsonl     the register history, one op per line (format: chaos_eval.history);
                      absent for the unique-key workload
    rerun.txt         the command that re-runs this trial
    compose.yaml      the compose project's effective configuration (`compose config`),
                      captured at teardown of a trial that did not pass, when it was
    logs/NODE.log     each node's container log, captured at teardown (trials that did not
                      pass), when it was captured

Reading is safe by construction: members are read into memory (nothing is extracted), only
the names above are accepted, and the archive and each member are bounded in size. A
corrupt, truncated or foreign archive, or a malformed history line, raises BundleError
(HistoryError is one) naming the file and the reason.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos_eval.analysis.linearizability import CheckResult, check
from chaos_eval.errors import BundleError
from chaos_eval.history import Op, parse_history

MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 1000
LOG_NAME = re.compile(r"^logs/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\.log$")
TOP = ("README.txt", "trial.json", "history.jsonl", "rerun.txt", "compose.yaml")
README = __doc__ or ""


@dataclass(frozen=True)
class Bundle:
    trial: dict[str, Any]  # trial.json
    history: str | None = None  # history.jsonl text
    rerun: str = ""
    logs: Mapping[str, str] = field(default_factory=dict)  # node -> log text
    compose: str | None = None  # compose.yaml

    def ops(self, source: str) -> list[Op]:
        """The history's ops; BundleError (HistoryError) when a line is malformed."""
        if self.history is None:
            raise BundleError(f"{source}: no history.jsonl (not a register workload trial)")
        return parse_history(self.history, f"{source}:history.jsonl")


def write_bundle(b: Bundle) -> bytes:
    """The .tar.gz bytes of a bundle (deterministic member order, mtime now)."""
    members: list[tuple[str, str]] = [
        ("README.txt", README),
        ("trial.json", json.dumps(b.trial, indent=2, sort_keys=True, default=str) + "\n"),
        ("rerun.txt", b.rerun + "\n"),
    ]
    if b.history is not None:
        members.append(("history.jsonl", b.history))
    if b.compose is not None:
        members.append(("compose.yaml", b.compose))
    members += [(f"logs/{node}.log", text) for node, text in sorted(b.logs.items())]
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in members:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), now, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_bundle(data: bytes, source: str) -> Bundle:
    """Parse bundle bytes in memory; BundleError on anything but a well-formed bundle."""
    files: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for count, m in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise BundleError(f"{source}: more than {MAX_MEMBERS} members")
                name = m.name
                if not m.isfile() or not (name in TOP or LOG_NAME.match(name)):
                    raise BundleError(f"{source}: unexpected member {name!r} (not a bundle)")
                if m.size > MAX_MEMBER_BYTES:
                    raise BundleError(f"{source}: member {name} is too large ({m.size} bytes)")
                f = tar.extractfile(m)
                if f is None:
                    raise BundleError(f"{source}: member {name} cannot be read")
                raw = f.read()
                files[name] = raw.decode("utf-8")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise BundleError(
            f"{source}: not a readable .tar.gz bundle (corrupt or truncated: {e})"
        ) from None
    except UnicodeDecodeError as e:
        raise BundleError(f"{source}: a member is not UTF-8 text ({e.reason})") from None
    if "trial.json" not in files:
        raise BundleError(f"{source}: no trial.json (not a chaos-eval bundle)")
    try:
        trial = json.loads(files["trial.json"])
    except ValueError as e:
        raise BundleError(f"{source}: trial.json is not JSON: {e}") from None
    if not isinstance(trial, dict):
        raise BundleError(f"{source}: trial.json is not a JSON object")
    logs = {n[len("logs/") : -len(".log")]: t for n, t in files.items() if n.startswith("logs/")}
    return Bundle(trial, files.get("history.jsonl"), files.get("rerun.txt", "").strip(), logs,
                  files.get("compose.yaml"))


def check_bundle(b: Bundle, source: str) -> CheckResult:
    """Re-run the linearizability check on the bundle's history, with the budget the trial
    had (its workload spec), else no step limit and a 600 s deadline."""
    ops = b.ops(source)
    spec = b.trial.get("workload") if isinstance(b.trial.get("workload"), dict) else {}
    steps = spec.get("check_max_steps") if isinstance(spec, dict) else None
    budget = spec.get("check_budget_s") if isinstance(spec, dict) else None
    return check(
        ops,
        max_steps=steps if isinstance(steps, int) else None,
        deadline_s=float(budget) if isinstance(budget, int | float) else 600.0,
    )


def recorded_verdict(b: Bundle) -> str | None:
    """The verdict the trial recorded when it ran (None: it recorded none)."""
    lin = b.trial.get("measurements", {}).get("linearizability")
    return str(lin["verdict"]) if isinstance(lin, dict) and "verdict" in lin else None
