"""The `params:` a campaign may give a `redis` subject (validated when the campaign loads)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

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
