"""Node helpers' pure parts: the bounded exec argv and which helper calls a node helper
may serve (the rest run one-shot, as before)."""

from __future__ import annotations

import pytest

from chaos_eval.engine.helper_exec import NODE_HELPER_CAPS, NodeHelper, exec_argv, fits


def helper(volume: str | None = "vol1") -> NodeHelper:
    return NodeHelper("h1", "t1", "2026-01-01T00:00:00Z", volume, "chaos-eval/helper:local", {})


def test_exec_argv_bounds_the_command_with_timeout() -> None:
    assert exec_argv(("iptables-save",), 30) == ("timeout", "-k", "1", "30.000", "iptables-save")
    assert exec_argv(["tc", "-j", "qdisc", "show"], 0.5)[3:] == ("0.500", "tc", "-j", "qdisc",
                                                                 "show")
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            exec_argv(("true",), bad)


def test_fits_only_what_the_helper_offers() -> None:
    img = "chaos-eval/helper:local"
    assert NODE_HELPER_CAPS == ("NET_ADMIN",)
    assert fits(helper(), volume=None, caps=("NET_ADMIN",), image=img)
    assert fits(helper(), volume=None, caps=(), image=img)  # fewer caps: fine
    assert fits(helper(), volume="vol1", caps=("NET_ADMIN",), image=img)
    assert not fits(helper(), volume="vol2", caps=(), image=img)  # another volume
    assert not fits(helper(None), volume="vol1", caps=(), image=img)  # no volume mounted
    assert not fits(helper(), volume=None, caps=("NET_ADMIN", "NET_RAW"), image=img)
    assert not fits(helper(), volume=None, caps=("SYS_ADMIN",), image=img)
    assert not fits(helper(), volume=None, caps=(), image="other/helper:1")
