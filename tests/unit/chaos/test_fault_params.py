from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from chaos_eval.chaos.node_kill import NodeKillFault, NodeKillParams
from chaos_eval.chaos.partition import PartitionParams
from chaos_eval.chaos.pause import PauseFault, PauseParams
from chaos_eval.engine.client import Docker
from chaos_eval.errors import FaultError
from chaos_eval.fault import UndoOp
from chaos_eval.subject import Endpoint, Node, TrialContext

CTX = TrialContext(campaign_id=1, trial_key="k" * 16, seed=7)
EP = (Endpoint("client", "127.0.0.1", 32768),)
N = tuple(Node(f"etcd{i}", "etcd", f"cid{i}", f"172.20.0.{i + 1}", EP, (2380,)) for i in (1, 2, 3))


@pytest.mark.parametrize(
    ("model", "bad"),
    [
        (NodeKillParams, {"signal": "SIGHUP"}),
        (NodeKillParams, {"signal": 9}),
        (NodeKillParams, {"signal": "SIGKILL", "grace": 1}),
        (PauseParams, {"duration": 3}),
        (PartitionParams, {"shape": "ring"}),
        (PartitionParams, {"shape": None}),
    ],
)
def test_params_reject_bad_values(model: type[BaseModel], bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(bad)


def test_params_defaults() -> None:
    assert NodeKillParams().signal == "SIGKILL"
    assert NodeKillParams.model_validate({"signal": "SIGTERM"}).signal == "SIGTERM"
    assert PauseParams.model_validate({}) == PauseParams()
    assert PartitionParams().shape == "isolate"


def test_undo_plans_and_descriptions() -> None:
    kill = NodeKillFault(NodeKillParams(), N[:1], N, CTX, Docker())
    assert kill.kind == "node_kill"
    assert [(a.op, a.container) for a in kill.undo_plan()] == [(UndoOp.START_CONTAINER, "cid1")]
    assert kill.describe() == "node_kill SIGKILL etcd1"
    pause = PauseFault(PauseParams(), N[1:], N, CTX, Docker())
    assert pause.kind == "pause"
    assert [a.op for a in pause.undo_plan()] == [UndoOp.UNPAUSE_CONTAINER] * 2
    assert pause.describe() == "pause etcd2,etcd3"


def test_faults_need_targets_with_an_endpoint() -> None:
    bare = (Node("etcd1", "etcd", "cid1", "172.20.0.2"),)
    with pytest.raises(FaultError, match="no targets"):
        NodeKillFault(NodeKillParams(), (), N, CTX, Docker())
    with pytest.raises(FaultError, match="no targets"):
        PauseFault(PauseParams(), (), N, CTX, Docker())
    with pytest.raises(FaultError, match="publishes no endpoint"):
        NodeKillFault(NodeKillParams(), bare, N, CTX, Docker())
    with pytest.raises(FaultError, match="publishes no endpoint"):
        PauseFault(PauseParams(), bare, N, CTX, Docker())
