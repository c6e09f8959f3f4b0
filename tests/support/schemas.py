"""Documented JSON outputs, checked against their schema in docs/ on every real run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

DOCS = Path(__file__).resolve().parents[2] / "docs"


def assert_drift_output(data: Any) -> None:
    """`tether drift -o json` output matches docs/drift-output.schema.json."""
    schema = json.loads((DOCS / "drift-output.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
