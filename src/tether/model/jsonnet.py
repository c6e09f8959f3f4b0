"""`spec.source.directory.jsonnet`: how the `*.jsonnet` files of a directory source are
evaluated (Argo CD's field of that name: external variables, top-level arguments,
library directories). Pure: parsing and validation only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether.model.fields import Fields, drop_none, list_or_none, parse_alone, show

# A top-level argument is a parameter of the file's top-level function: an identifier.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class JsonnetVariable:
    """One external variable (`std.extVar(name)`) or top-level argument: a string, or
    jsonnet code when `code` is true."""

    name: str
    value: str
    code: bool = False

    def to_dict(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"name": self.name, "value": self.value}
        if self.code:
            wire["code"] = True
        return wire


@dataclass(frozen=True)
class JsonnetSource:
    ext_vars: tuple[JsonnetVariable, ...] = ()
    tlas: tuple[JsonnetVariable, ...] = ()
    # Library directories (`-J`), relative to the repository root as in Argo CD.
    libs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "extVars": list_or_none([v.to_dict() for v in self.ext_vars]),
                "tlas": list_or_none([v.to_dict() for v in self.tlas]),
                "libs": list_or_none(self.libs),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JsonnetSource:
        return parse_alone(parse_jsonnet, data, "jsonnet")


def _parse_variables(fields: Fields, key: str, *, identifiers: bool) -> tuple[JsonnetVariable, ...]:
    found: list[JsonnetVariable] = []
    seen: set[str] = set()
    for item in fields.children(key):
        item.only(("name", "value", "code"))
        name = item.required_string("name")
        if name and identifiers and not _IDENTIFIER.match(name):
            item.problem(
                "name", f"must be a jsonnet identifier (a parameter name), got {show(name)}"
            )
        if name in seen:
            item.problem("name", f"{show(name)} is given twice")
        seen.add(name)
        if not item.has("value"):
            item.problem("value", "is required")
        found.append(
            JsonnetVariable(name=name, value=item.string("value"), code=item.boolean("code"))
        )
    return tuple(found)


def parse_jsonnet(fields: Fields) -> JsonnetSource:
    fields.only(("extVars", "tlas", "libs"))
    libs = fields.strings("libs")
    for index, lib in enumerate(libs):
        # Read inside the checked-out tree: a library path must not leave it.
        if not lib or lib.startswith("/") or ".." in lib.split("/"):
            fields.problems.add(
                f"{fields.path_of('libs')}[{index}]",
                f"must be a relative path inside the repository, got {show(lib)}",
            )
    return JsonnetSource(
        ext_vars=_parse_variables(fields, "extVars", identifiers=False),
        tlas=_parse_variables(fields, "tlas", identifiers=True),
        libs=libs,
    )
