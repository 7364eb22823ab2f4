"""A flatbuffers verifier driven by spec/format.fbs (spec §4.1 step 8).

The Python flatbuffers runtime reads without checking anything, so every payload is verified
here first, with the rules and limits the spec gives: bounds, alignment relative to the start
of the payload, vtables, required fields, unions, strings (UTF-8, NUL-terminated), nesting
depth. The schema is parsed from the .fbs file itself, so the verifier cannot drift from it.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorruptError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "spec" / "format.fbs"

MAX_DEPTH = 64
# Not bounded by the engine (usize::MAX / 2); spec §4.1 lets a reader bound them.
MAX_TABLES = 2**63 - 1
MAX_APPARENT_SIZE = 2**63 - 1

_SCALARS = {
    "bool": 1,
    "byte": 1,
    "ubyte": 1,
    "int8": 1,
    "uint8": 1,
    "short": 2,
    "ushort": 2,
    "int16": 2,
    "uint16": 2,
    "int": 4,
    "uint": 4,
    "int32": 4,
    "uint32": 4,
    "float": 4,
    "long": 8,
    "ulong": 8,
    "int64": 8,
    "uint64": 8,
    "double": 8,
}


@dataclass
class Field:
    name: str
    type: str
    required: bool


@dataclass
class Schema:
    structs: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (size, align)
    tables: dict[str, list[Field]] = field(default_factory=dict)
    unions: dict[str, list[str]] = field(default_factory=dict)


def parse_schema(text: str) -> Schema:
    """The subset of the flatbuffers IDL that spec/format.fbs uses."""
    text = re.sub(r"//[^\n]*", "", text)
    schema = Schema()
    for kind, name, body in re.findall(r"\b(struct|table|union)\s+(\w+)\s*\{([^}]*)\}", text):
        if kind == "union":
            schema.unions[name] = [m.strip() for m in body.split(",") if m.strip()]
            continue
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            m = re.fullmatch(r"(\w+)\s*:\s*([\w\[\]:]+)\s*(?:=\s*[^()]+?)?\s*(\(([^)]*)\))?", decl)
            if m is None:
                raise ValueError(f"unsupported declaration in the schema: {decl!r}")
            attrs = [a.strip() for a in (m.group(4) or "").split(",")]
            fields.append(Field(m.group(1), m.group(2), "required" in attrs))
        if kind == "struct":
            size, align = 0, 1
            for f in fields:
                arr = re.fullmatch(r"\[(\w+):(\d+)\]", f.type)
                elem, count = (arr.group(1), int(arr.group(2))) if arr else (f.type, 1)
                esize = _SCALARS[elem]
                size = -(-size // esize) * esize + esize * count
                align = max(align, esize)
            schema.structs[name] = (-(-size // align) * align, align)
        else:
            schema.tables[name] = fields
    return schema


SCHEMA = parse_schema(SCHEMA_PATH.read_text())


class _Invalid(Exception):
    pass


class Verifier:
    def __init__(
        self,
        buf: bytes,
        schema: Schema = SCHEMA,
        max_depth: int = MAX_DEPTH,
        max_tables: int = MAX_TABLES,
        max_apparent_size: int = MAX_APPARENT_SIZE,
    ) -> None:
        self.buf = buf
        self.schema = schema
        self.max_depth = max_depth
        self.max_tables = max_tables
        self.max_apparent_size = max_apparent_size
        self.depth = 0
        self.tables = 0
        self.apparent_size = 0

    # ---- primitives: every read is in bounds and aligned to its own size ----
    def _range(self, pos: int, size: int) -> None:
        if pos < 0 or pos + size > len(self.buf):
            raise _Invalid(f"range {pos}..{pos + size} is outside the buffer of {len(self.buf)}")
        self.apparent_size += size
        if self.apparent_size > self.max_apparent_size:
            raise _Invalid("apparent size too large")

    def _aligned(self, pos: int, align: int) -> None:
        if pos % align:
            raise _Invalid(f"position {pos} is not aligned to {align}")

    def _in_buffer(self, pos: int, size: int, align: int | None = None) -> None:
        self._aligned(pos, size if align is None else align)
        self._range(pos, size)

    def _u16(self, pos: int) -> int:
        self._in_buffer(pos, 2)
        return struct.unpack_from("<H", self.buf, pos)[0]

    def _u32(self, pos: int) -> int:
        self._in_buffer(pos, 4)
        return struct.unpack_from("<I", self.buf, pos)[0]

    def _u8(self, pos: int) -> int:
        self._in_buffer(pos, 1)
        return self.buf[pos]

    # ---- composite values ----
    def _vector(self, pos: int, elem_size: int, elem_align: int | None = None) -> tuple[int, int]:
        """Verifies a vector's length and extent; returns (start, length)."""
        length = self._u32(pos)
        start = pos + 4
        self._aligned(start, elem_size if elem_align is None else elem_align)
        self._range(start, length * elem_size)
        return start, length

    def _string(self, pos: int) -> None:
        start, length = self._vector(pos, 1)
        try:
            bytes(self.buf[start : start + length]).decode("utf-8")
        except UnicodeDecodeError as e:
            raise _Invalid(f"string at {start} is not UTF-8: {e}") from None
        if start + length >= len(self.buf) or self.buf[start + length] != 0:
            raise _Invalid(f"string at {start} has no NUL terminator")

    def _offset_target(self, pos: int) -> int:
        return pos + self._u32(pos)

    def table(self, pos: int, name: str) -> None:
        self._in_buffer(pos, 4)
        soffset = struct.unpack_from("<i", self.buf, pos)[0]
        vtable = pos - soffset
        if not 0 <= vtable < len(self.buf):
            raise _Invalid(f"vtable of the table at {pos} is outside the buffer")
        vtable_len = self._u16(vtable)
        self._aligned(vtable + vtable_len, 2)
        self._range(vtable, vtable_len)
        self.tables += 1
        if self.tables > self.max_tables:
            raise _Invalid("too many tables")
        self.depth += 1
        if self.depth > self.max_depth:
            raise _Invalid("tables nested too deeply")

        def slot(index: int) -> int | None:
            voffset = 4 + 2 * index
            if voffset >= vtable_len:
                return None
            field_offset = self._u16(vtable + voffset)
            return pos + field_offset if field_offset else None

        fields = self.schema.tables[name]
        for index, f in enumerate(fields):
            if f.type in self.schema.unions:
                # The union's value; its type is the `<name>_type` slot just before it (the
                # type slot itself was verified as a ubyte). An unknown type passes here, as
                # in the engine's verifier; decoding refuses it.
                key_pos, value_pos = slot(index - 1), slot(index)
                if key_pos is None and value_pos is None:
                    if f.required:
                        raise _Invalid(f"{name}.{f.name} is required")
                    continue
                if key_pos is None or value_pos is None:
                    raise _Invalid(f"{name}.{f.name}: union type and value disagree")
                key = self._u8(key_pos)
                members = self.schema.unions[f.type]
                if 1 <= key <= len(members):
                    self.table(self._offset_target(value_pos), members[key - 1])
                continue
            at = slot(index)
            if at is None:
                if f.required:
                    raise _Invalid(f"{name}.{f.name} is required")
                continue
            self._value(at, f.type)
        self.depth -= 1

    def _value(self, pos: int, type_: str) -> None:
        if type_ in _SCALARS:
            self._in_buffer(pos, _SCALARS[type_])
        elif type_ in self.schema.structs:
            size, align = self.schema.structs[type_]
            self._in_buffer(pos, size, align)
        elif type_ == "string":
            self._string(self._offset_target(pos))
        elif type_ in self.schema.tables:
            self.table(self._offset_target(pos), type_)
        elif type_.startswith("[") and type_.endswith("]"):
            elem = type_[1:-1]
            vec = self._offset_target(pos)
            if elem in _SCALARS:
                self._vector(vec, _SCALARS[elem])
            elif elem in self.schema.structs:
                self._vector(vec, *self.schema.structs[elem])
            elif elem in self.schema.tables or elem == "string":
                start, length = self._vector(vec, 4)
                for i in range(length):
                    self._value(start + 4 * i, elem)
            else:
                raise ValueError(f"unsupported vector type {type_}")
        else:
            raise ValueError(f"unsupported type {type_}")


def add_union_type_slots(schema: Schema) -> Schema:
    """A union field `x: U` occupies two slots: `x_type: ubyte`, then `x`."""
    for name, fields in schema.tables.items():
        expanded: list[Field] = []
        for f in fields:
            if f.type in schema.unions:
                expanded.append(Field(f"{f.name}_type", "ubyte", False))
            expanded.append(f)
        schema.tables[name] = expanded
    return schema


add_union_type_slots(SCHEMA)


def verify(buf: bytes, root: str, path: str, **limits: int) -> Verifier:
    """Verifies `buf` as a flatbuffer with root table `root`; Corrupt naming `path` if not.

    The root is not size-prefixed and has no file identifier: bytes 0..4 are the offset of
    the root table.
    """
    verifier = Verifier(buf, **limits)
    try:
        verifier.table(verifier._offset_target(0), root)
    except _Invalid as e:
        raise CorruptError(f"object `{path}` is corrupt: invalid {root} flatbuffer: {e}") from None
    return verifier
