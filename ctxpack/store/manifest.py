"""The manifest: what an index directory says about itself, and which table versions readers use."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..models import Skipped

SCHEMA_VERSION = 3


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the index directory says about itself."""

    schema: int
    encoding: str
    settings: str  # fingerprint of the settings that change what is stored
    db: str
    versions: dict[str, int]
    skipped: tuple[Skipped, ...]
    updated: float
    updates: int
    pending: str = ""  # the journal of updates not yet in the tables ("" when there is none)

    def to_json(self) -> str:
        d = {
            "schema": self.schema, "encoding": self.encoding, "settings": self.settings,
            "db": self.db, "versions": self.versions, "updated": self.updated,
            "updates": self.updates, "pending": self.pending,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }
        return json.dumps(d, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        d = json.loads(text)
        return cls(
            schema=int(d["schema"]), encoding=str(d["encoding"]), settings=str(d.get("settings", "")),
            db=str(d["db"]), versions={k: int(v) for k, v in d["versions"].items()},
            skipped=tuple(Skipped(s["path"], s["reason"]) for s in d.get("skipped", [])),
            updated=float(d.get("updated", 0)), updates=int(d.get("updates", 0)),
            pending=str(d.get("pending", "")),
        )
