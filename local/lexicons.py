"""The official AT Protocol lexicons (`../shared/specs/bluesky/lexicons/`) as JSON Schemas, to validate what the
sandbox Bluesky receives and answers, and what relaycast sends, against the protocol's own definitions.

Each lexicon definition becomes a JSON Schema under `$defs` (named `nsid#name`), checked by `jsonschema`:
objects and their required and nullable fields, strings with their formats and lengths, integers with their
bounds, arrays, refs, open and closed unions (a member is chosen by its `$type`), blobs and cid-links.
Fields a lexicon does not name are allowed, as the protocol allows them (lexicons evolve by adding fields).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

LEXICONS = Path(__file__).resolve().parents[1].parent / "shared" / "specs" / "bluesky" / "lexicons"

# The string formats of the lexicon language, as patterns loose enough for every valid value (the spec's own
# syntax rules, shortened: a datetime is RFC 3339 with a zone, a DID is did:<method>:<id>, …).
FORMATS = {
    "datetime": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
    "did": r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$",
    "handle": r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$",
    "at-uri": r"^at://[^/?#\s]+(/[a-zA-Z0-9.-]+(/[a-zA-Z0-9._~:@!$&')(*+,;=-]+)?)?$",
    "nsid": r"^[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+$",
    "cid": r"^[a-zA-Z0-9+=]{8,256}$",
    "record-key": r"^[a-zA-Z0-9._:~-]{1,512}$",
    "tid": r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$",
    "uri": r"^[a-z][a-z.+-]*:\S+$",
    "language": r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$",
}
FORMATS["at-identifier"] = f"({FORMATS['did']})|({FORMATS['handle']})"


class LexiconError(ValueError):
    """A body that its lexicon does not allow: `path` is where in the body, `message` what is wrong."""

    def __init__(self, nsid: str, part: str, error: ValidationError):
        self.path = "/".join(str(p) for p in error.absolute_path)
        super().__init__(f"{nsid} {part}: {self.path or '(body)'}: {error.message}")


class Lexicons:
    """The lexicons of a folder; `validate(nsid, part, body)` raises LexiconError when the body breaks them."""

    def __init__(self, folder: Path = LEXICONS):
        self.documents = {doc["id"]: doc for doc in (json.loads(p.read_text()) for p in sorted(folder.rglob("*.json")))}
        if not self.documents:
            raise FileNotFoundError(f"no lexicon in {folder}")

    @cached_property
    def _defs(self) -> dict[str, Any]:
        return {f"{nsid}#{name}": self._schema(nsid, definition)
                for nsid, doc in self.documents.items() for name, definition in doc["defs"].items()}

    def validate(self, nsid: str, part: str, body: Any) -> None:
        """`part` is "input" or "output" (a procedure's or a query's body), "parameters" (a query string, as the
        server reads it: integers and booleans already converted) or "record" (a record type)."""
        main = self.documents[nsid]["defs"]["main"]
        if part == "record":
            schema = self._schema(nsid, main["record"])
        elif part == "parameters":
            schema = self._schema(nsid, {**main.get("parameters", {"properties": {}}), "type": "object"})
        else:
            if "schema" not in main.get(part, {}):
                raise KeyError(f"{nsid} has no {part} schema")
            schema = self._schema(nsid, main[part]["schema"])
        validator = Draft202012Validator({**schema, "$defs": self._defs})
        error = next(iter(sorted(validator.iter_errors(body), key=lambda e: len(list(e.absolute_path)))), None)
        if error is not None:
            raise LexiconError(nsid, part, error)

    # ---- lexicon → JSON Schema ---------------------------------------------------------------------

    @staticmethod
    def _ref(nsid: str, ref: str) -> str:
        """A lexicon ref ("#name", "nsid#name" or "nsid") as its `$defs` key."""
        if ref.startswith("#"):
            return f"{nsid}{ref}"
        return ref if "#" in ref else f"{ref}#main"

    def _schema(self, nsid: str, d: dict[str, Any]) -> dict[str, Any]:
        kind = d.get("type")
        if kind in ("object", "params"):
            nullable = set(d.get("nullable", []))
            properties = {}
            for name, prop in d.get("properties", {}).items():
                schema = self._schema(nsid, prop)
                properties[name] = {"anyOf": [schema, {"type": "null"}]} if name in nullable else schema
            return {"type": "object", "properties": properties, "required": d.get("required", [])}
        if kind == "record":
            return self._schema(nsid, d["record"])
        if kind == "string":
            schema: dict[str, Any] = {"type": "string"}
            if "format" in d:
                schema["pattern"] = FORMATS[d["format"]]
            for ours, theirs in (("maxLength", "maxLength"), ("minLength", "minLength"), ("enum", "enum"), ("const", "const")):
                if theirs in d:
                    schema[ours] = d[theirs]
            # A lexicon's maxLength counts UTF-8 bytes, JSON Schema's counts code points: a looser bound, never a
            # wrong refusal. maxGraphemes is left to the byte bound every official lexicon gives beside it.
            return schema
        if kind == "integer":
            return {"type": "integer", **{k: d[k] for k in ("minimum", "maximum", "enum", "const") if k in d}}
        if kind == "boolean":
            return {"type": "boolean", **({"const": d["const"]} if "const" in d else {})}
        if kind == "array":
            bounds = {ours: d[theirs] for theirs, ours in (("maxLength", "maxItems"), ("minLength", "minItems")) if theirs in d}
            return {"type": "array", "items": self._schema(nsid, d["items"]), **bounds}
        if kind == "ref":
            return {"$ref": f"#/$defs/{self._ref(nsid, d['ref'])}"}
        if kind == "union":
            members = {self._ref(nsid, r): self._type_name(self._ref(nsid, r)) for r in d["refs"]}
            branches = [{"if": {"properties": {"$type": {"const": t}}, "required": ["$type"]},
                         "then": {"$ref": f"#/$defs/{key}"}} for key, t in members.items()]
            schema = {"type": "object", "required": ["$type"], "allOf": branches}
            if d.get("closed"):
                schema["properties"] = {"$type": {"enum": list(members.values())}}
            return schema
        if kind == "cid-link":
            return {"type": "object", "properties": {"$link": {"type": "string", "pattern": FORMATS["cid"]}}, "required": ["$link"]}
        if kind == "blob":
            return {"type": "object", "properties": {"$type": {"const": "blob"}, "mimeType": {"type": "string"},
                                                     "size": {"type": "integer"}}, "required": ["mimeType"]}
        if kind == "bytes":
            return {"type": "object", "properties": {"$bytes": {"type": "string"}}, "required": ["$bytes"]}
        if kind == "token":
            return {"type": "string"}
        if kind == "unknown":
            return {"type": "object"}
        if kind in ("query", "procedure", "subscription", "permission-set"):
            return {}  # an endpoint is validated through its parts, never as a value
        raise ValueError(f"{nsid}: lexicon type {kind!r} is not known here")

    @staticmethod
    def _type_name(key: str) -> str:
        """The `$type` a union member carries: "nsid" for a main definition, "nsid#name" otherwise."""
        return key.removesuffix("#main")
