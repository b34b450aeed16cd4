"""tc netem on a target's eth0: the argv that install, retune, show and delete our root
qdisc, and the probe that tells whether the kernel has sch_netem. Pure.

Exit codes (iproute2 6.x): tc qdisc del 2 ("Invalid handle": the root qdisc is the default
or not ours) means "already absent" where cleanup lists it (ABSENT_QDISC).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from chaos_eval.chaos.net.shape import DEFAULT_ROOT_HANDLE, Shape, Slot, pct_text
from chaos_eval.errors import ParameterError

DEVICE = "eth0"
PROBE_HANDLE = "4c45:"
ABSENT_QDISC = (0, 2)
NETEM_UNKNOWN = "Specified qdisc kind is unknown"

_DEVICE_RE = re.compile(r"[a-zA-Z0-9_.-]{1,15}")  # used with fullmatch: no "eth0\n"


def checked_device(dev: str) -> str:
    if not isinstance(dev, str) or not _DEVICE_RE.fullmatch(dev):
        raise ParameterError(f"not a network device name: {dev!r}")
    return dev



def netem_argv(slot: Slot, shape: Shape, dev: str = DEVICE) -> tuple[str, ...]:
    """Install (or retune) our netem as the root qdisc of `dev`."""
    argv = ["tc", "qdisc", "replace", "dev", checked_device(dev), "root", "handle", slot.handle]
    argv.append("netem")
    if shape.delay_ms:
        argv += ["delay", f"{shape.delay_ms}ms"]
        if shape.jitter_ms:
            argv.append(f"{shape.jitter_ms}ms")
            if shape.distribution == "normal":
                argv += ["distribution", "normal"]
    if shape.loss_pct:
        argv += ["loss", f"{pct_text(shape.loss_pct)}%"]
        if shape.loss_corr_pct:
            argv.append(f"{pct_text(shape.loss_corr_pct)}%")
    return tuple(argv)


def netem_delete_argv(slot: Slot, dev: str = DEVICE) -> tuple[str, ...]:
    """Delete the root qdisc only if it carries our handle (the kernel checks it)."""
    return ("tc", "qdisc", "del", "dev", checked_device(dev), "root", "handle", slot.handle)


def qdisc_show_argv(dev: str = DEVICE) -> tuple[str, ...]:
    return ("tc", "-j", "qdisc", "show", "dev", checked_device(dev))


def netem_probe_argv() -> tuple[str, ...]:
    """Run in a helper with its own empty netns (network_mode none): touches no target."""
    return ("tc", "qdisc", "add", "dev", "lo", "root", "handle", PROBE_HANDLE, "netem", "delay",
            "1ms")


@dataclass(frozen=True)
class RootQdisc:
    kind: str
    handle: str

    @property
    def is_default(self) -> bool:
        return self.handle == DEFAULT_ROOT_HANDLE


def parse_root_qdisc(text: str) -> RootQdisc | None:
    """The root qdisc from `tc -j qdisc show dev X` output; None when there is none."""
    try:
        rows = json.loads(text or "[]")
    except ValueError as e:
        raise ValueError(f"tc -j printed something that is not JSON: {text[:200]!r}") from e
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("root"):
            return RootQdisc(str(row.get("kind", "")), str(row.get("handle", "")))
    return None
