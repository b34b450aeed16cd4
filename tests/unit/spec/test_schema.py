"""The campaign JSON Schema: shipped up to date, every bundled campaign valid against it
(checked by check-jsonschema itself), bad campaigns rejected by it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chaos_eval.spec.config import load_campaign
from chaos_eval.spec.matrix import spec_hash
from chaos_eval.spec.schema import SCHEMA_FILE, schema_text

CAMPAIGNS = Path(__file__).resolve().parents[3] / "campaigns"
SCHEMA = CAMPAIGNS / SCHEMA_FILE
CHECK = Path(sys.executable).parent / "check-jsonschema"
BUNDLED = sorted(CAMPAIGNS.glob("*.yaml"))


def check(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK), "--schemafile", str(SCHEMA), *map(str, files)],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_shipped_schema_is_up_to_date() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == schema_text(), (
        "campaigns/campaign.schema.json is stale: "
        "chaos-eval schema -o campaigns/campaign.schema.json"
    )


def test_every_bundled_campaign_validates_against_the_schema() -> None:
    assert len(BUNDLED) >= 6
    result = check(*BUNDLED)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_every_bundled_campaign_points_editors_at_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema={SCHEMA_FILE}"
    load_campaign(path)  # and the loader agrees


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"name": "x", "subjects": ["etcd"], "bogus": 1}, "bogus"),
        ({"name": "x", "subjects": ["nosuch"]}, "nosuch"),
        ({"name": "x", "subjects": ["etcd"], "chaos_types": [{"type": "meteor"}]}, "meteor"),
        ({"name": "x", "subjects": ["etcd"], "parallel": 0}, "0"),
    ],
)
def test_schema_rejects_what_the_loader_rejects(tmp_path: Path, doc: object, needle: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = check(bad)
    assert result.returncode == 1 and needle in result.stdout, result.stdout


def test_schema_is_json_schema_2020_12() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"].endswith("2020-12/schema")
    assert "network_partition" in schema["$defs"]["ChaosSpec"]["properties"]["type"]["enum"]


# The hashes of the bundled campaigns written before the seed vocabulary, drift and the schema
# comment: their trial keys derive from these, so resume of an old campaign stays exact.
PINNED = {
    "smoke.yaml": "2371a0d037969c4b2da7a3242ef725b7a726704ce10f408a5b428e66d6d9af53",
    "all-faults.yaml": "198f57e52ab9a5f62473fbd9a01ebde7e3098399bc53fc6db0001beb18e154e6",
    "redis.yaml": "f7d82df5a90f46d97c37fd62a3cad7493b2c6f307fed28bdcab7d7d388e30749",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_existing_campaigns_keep_their_spec_hash(name: str) -> None:
    assert spec_hash(load_campaign(CAMPAIGNS / name)) == PINNED[name]
