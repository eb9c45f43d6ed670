"""JSON Schemas of the event catalogue, exported to events/schemas/ for producers in any language.

python -m storefront.schemas events/schemas    # rewrite the exported schemas
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from storefront.events import DomainEvent, event_classes


def schema_file_name(cls: type[DomainEvent]) -> str:
    version = cls.model_fields["schema_version"].default
    return f"{cls.model_fields['event_type'].default}.v{version}.schema.json"


def schema_of(cls: type[DomainEvent]) -> dict[str, Any]:
    schema = cls.model_json_schema(by_alias=True, mode="validation")
    # Producers must say what they send: the discriminator fields are required on the wire.
    schema["required"] = sorted({*schema.get("required", []), "eventType", "schemaVersion"})
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://storefront.example.com/schemas/{schema_file_name(cls)}"
    return schema


def exported_schemas() -> dict[str, str]:
    """File name -> file text, exactly as they are committed."""
    return {
        schema_file_name(c): json.dumps(schema_of(c), indent=2, sort_keys=True) + "\n"
        for c in event_classes()
    }


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in exported_schemas().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in export(Path(sys.argv[1] if len(sys.argv) > 1 else "events/schemas")):
        print(path)
