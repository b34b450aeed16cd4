"""Node helpers' pure part: which helper calls a node helper may serve (the rest run
one-shot, as before). The exec's argv is tests/unit/engine/test_exec_capture.py's."""

from __future__ import annotations

from chaos_eval.engine.helper_exec import NODE_HELPER_CAPS, NodeHelper, fits


def helper(volume: str | None = "vol1") -> NodeHelper:
    return NodeHelper("h1", "t1", "2026-01-01T00:00:00Z", volume, "chaos-eval/helper:local", {})


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
