"""The `params:` a campaign may give an `etcd` subject (validated when the campaign loads)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from chaos_eval.subject import SubjectShape

# at least 192 MB: the WAL alone preallocates 128 MB
SHAPE = SubjectShape(
    node_names=frozenset({"etcd1", "etcd2", "etcd3"}), roles=frozenset({"etcd"}),
    min_data_mb=192, default_data_mb=256, takes_image=True, takes_version=False,
)


class EtcdParams(BaseModel):
    """pre_vote: run etcd with `--pre-vote` (Raft's PreVote: a member that lost touch with
    the leader asks whether it could win before it raises its term). etcd 3.4, the version
    built here, leaves it off by default, so a healed partitioned member forces an election
    (its term grew while it was cut off); 3.5 turns it on. Off by default, like the etcd
    being run, so a campaign can compare the two."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    pre_vote: bool = False
