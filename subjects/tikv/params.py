"""The `params:` a campaign may give a `tikv` subject (validated when the campaign loads)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chaos_eval.subject import SubjectShape

PDS = ("pd1", "pd2", "pd3")
STORES = ("tikv1", "tikv2", "tikv3")
# below 512 MB TiKV's RocksDB and raft engine leave no room to work
SHAPE = SubjectShape(
    node_names=frozenset(PDS + STORES), roles=frozenset({"pd", "tikv"}),
    min_data_mb=512, default_data_mb=1024, takes_image=False, takes_version=True,
)


class TikvParams(BaseModel):
    """max_store_down_time_s: PD's schedule.max-store-down-time, how long a store may miss
    heartbeats before PD declares it Down and starts moving its replicas elsewhere (PD's
    own default is 30 minutes, longer than any trial)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_store_down_time_s: int = Field(default=30, ge=1, le=86400)
