"""The files chaos-eval ships beside its code, found the same way in a clone, an editable
install and a wheel: through importlib.resources, never relative to a checkout.

A shipped file is named by its path in the repository (`compose/etcd.yml`,
`chaos/helper/shaper.py`, `subjects/tikv/gateway.py`, `campaigns/smoke.yaml`); the first
folder names the installed package that carries it. Installs are unpacked directories, so
every answer is a real filesystem path (Compose and `docker cp` need one).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# repository folder -> installed package (setup.py maps the folders the same way)
PACKAGES = {
    "eval": "chaos_eval",
    "chaos": "chaos_eval.chaos",
    "subjects": "chaos_eval.subjects",
    "compose": "chaos_eval.compose",
    "campaigns": "chaos_eval.campaigns",
}


def shipped(rel: str) -> Path:
    """The installed path of the shipped file (or folder) `rel`, a repository path. Raises
    ValueError for a path outside the shipped folders or one that climbs out of them."""
    top, _, rest = rel.partition("/")
    parts = [p for p in rest.split("/") if p]
    if top not in PACKAGES or any(p in (".", "..") for p in parts):
        raise ValueError(f"{rel!r} is not a file chaos-eval ships")
    return Path(str(files(PACKAGES[top]))).joinpath(*parts)
