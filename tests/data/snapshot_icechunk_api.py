"""Writes a JSON snapshot of a published icechunk's public API: what each public name is,
its signature, and its members. ``tests/test_api_names.py`` compares ours against it, so the
test runs without the published wheel installed.

    /path/to/icechunk-2.3-venv/bin/python tests/data/snapshot_icechunk_api.py \
        > tests/data/icechunk_2_3_api.json

Signatures are recorded as parameter lists (name, kind, default); annotations are left out,
since the two packages spell the same types differently.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import sys
import types
from typing import Any

SUBMODULES = [
    "config",
    "conflicts",
    "credentials",
    "ops",
    "repository",
    "session",
    "snapshots",
    "storage",
    "store",
    "types",
    "virtual",
]


def params(obj: Any) -> list[list[Any]] | None:
    """[name, kind, default-repr-or-None] per parameter, or None without a signature."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    out = []
    for p in sig.parameters.values():
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        out.append([p.name, p.kind.name, default])
    return out


def describe_member(owner: type, name: str, nested: bool) -> dict[str, Any]:
    raw = inspect.getattr_static(owner, name)
    value = getattr(owner, name)
    if isinstance(raw, property) or type(raw).__name__ == "getset_descriptor":
        return {"kind": "property"}
    if isinstance(raw, staticmethod):
        return {"kind": "staticmethod", "params": params(value)}
    if isinstance(raw, classmethod) or type(raw).__name__ == "classmethod_descriptor":
        return {"kind": "classmethod", "params": params(value)}
    if inspect.isclass(value):
        # Variants of a tagged union are nested classes that subclass it: described once,
        # from the union.
        return describe_class(value, nested=True) if not nested else {"kind": "class"}
    if isinstance(value, owner):  # an enum member: its value, or its int
        member_value = getattr(value, "value", None)
        if member_value is None:
            try:
                member_value = int(value)
            except (TypeError, ValueError):
                member_value = None
        return {"kind": "member", "value": repr(member_value)}
    if callable(value):
        kind = "builtin" if type(raw).__name__ == "builtin_function_or_method" else "method"
        return {"kind": kind, "params": params(value)}
    return {"kind": "attribute", "type": type(value).__name__}


def describe_class(cls: type, nested: bool = False) -> dict[str, Any]:
    members = {}
    base_names = set(dir(object))
    for name in sorted(dir(cls)):
        if name.startswith("_") or name in base_names:
            continue
        if issubclass(cls, BaseException) and name in dir(BaseException):
            continue
        try:
            members[name] = describe_member(cls, name, nested)
        except AttributeError:
            continue
    kind = "enum" if isinstance(cls, enum.EnumMeta) else "class"
    if issubclass(cls, BaseException):
        kind = "exception"
    return {
        "kind": kind,
        "params": params(cls),
        "bases": [b.__name__ for b in cls.__mro__[1:] if b is not object],
        "members": members,
    }


def describe(value: Any) -> dict[str, Any]:
    if isinstance(value, types.ModuleType):
        return {"kind": "module"}
    if inspect.isclass(value):
        return describe_class(value)
    if callable(value) and not isinstance(value, types.GenericAlias):
        if isinstance(value, types.FunctionType | types.BuiltinFunctionType):
            return {"kind": "function", "params": params(value)}
    return {"kind": "alias", "repr": repr(value)}


def main() -> None:
    import icechunk

    snapshot: dict[str, Any] = {"version": icechunk.__version__, "modules": {}, "names": {}}
    for module_name in ["", *SUBMODULES]:
        full = "icechunk" + (f".{module_name}" if module_name else "")
        module = importlib.import_module(full)
        exported = sorted(getattr(module, "__all__", []))
        snapshot["modules"][full] = exported
        for name in exported:
            if not hasattr(module, name):
                continue
            snapshot["names"].setdefault(name, describe(getattr(module, name)))
    snapshot["top_level"] = sorted(n for n in dir(icechunk) if not n.startswith("_"))
    for name in snapshot["top_level"]:
        if name not in snapshot["names"]:
            snapshot["names"][name] = describe(getattr(icechunk, name))
    json.dump(snapshot, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
