"""The `params:` a campaign may give a `redis` subject (validated when the campaign loads)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from chaos_eval.subject import SubjectShape

REDIS_NODES = ("redis1", "redis2", "redis3")
SENTINELS = ("sentinel1", "sentinel2", "sentinel3")
SHAPE = SubjectShape(
    node_names=frozenset(REDIS_NODES + SENTINELS),
    roles=frozenset({"primary", "replica", "sentinel"}),
    min_data_mb=192, default_data_mb=256, takes_image=True, takes_version=False,
)

WriteTo = Literal["primary", "bound"]


class RedisParams(BaseModel):
    """write_to: where the workload's writes go.

    primary  every client writes to the primary the sentinels name at call time (the answer
             most of them give), as a Sentinel-aware application does
    bound    a client bound to a Redis node writes to that node only, whatever its role now
             (a replica refuses: READONLY -> fail; a primary cut off from the others keeps
             accepting); a client bound to a sentinel writes where that sentinel points
    Reads for durability (and the workload's reads) always go to the current primary.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    write_to: WriteTo = "primary"
