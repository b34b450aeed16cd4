"""The JSON Schema of the campaign format, from the pydantic models (chaos_eval.spec.config),
for editors (`# yaml-language-server: $schema=campaign.schema.json`) and check-jsonschema.

The models accept more than their field types say (a subject given as a bare type name, the
seed plan's fault names); the schema says so too, and names the known subject and fault
types. A fault's own parameters are validated by its model at load time (the schema keeps
them an open map of scalars or lists: a list is a grid axis).
`campaigns/campaign.schema.json` is this schema, written by `chaos-eval schema --output`
and checked up to date by a test.
"""

from __future__ import annotations

import json
from typing import Any

from chaos_eval.spec import registry
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.spec.vocabulary import FAULT_ALIASES

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE = "campaign.schema.json"


def campaign_schema() -> dict[str, Any]:
    """The schema as a JSON-ready dict. Pure (deterministic for a given registry)."""
    schema = CampaignConfig.model_json_schema()
    defs = schema["$defs"]
    subjects = sorted(registry.subject_kinds())
    faults = sorted({*registry.fault_kinds(), *FAULT_ALIASES})
    defs["SubjectSpec"]["properties"]["type"] = {
        "type": "string", "enum": subjects, "title": "Type",
        "description": "the subject implementation",
    }
    defs["ChaosSpec"]["properties"]["type"] = {
        "type": "string", "enum": faults, "title": "Type",
        "description": "the fault kind (" + ", ".join(
            f"{alias} = {ours}" for alias, ours in sorted(FAULT_ALIASES.items())) + ")",
    }
    schema["properties"]["subjects"]["items"] = {
        "anyOf": [{"type": "string", "enum": subjects}, {"$ref": "#/$defs/SubjectSpec"}]
    }
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = "chaos-eval campaign"
    return {"$schema": schema.pop("$schema"), **schema}


def schema_text() -> str:
    """The schema as the text of campaigns/campaign.schema.json."""
    return json.dumps(campaign_schema(), indent=2, sort_keys=False) + "\n"
