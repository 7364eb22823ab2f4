"""A reader of Icechunk-on-ACID repositories written from spec/format.md alone.

It imports nothing from the engine: objects are decoded with flatbuffers code generated from
spec/format.fbs (`format_generated.py`, regenerate with `generate.sh`), checked by a verifier
driven by the same schema, and every chunk is checked against its CRC-32C.
"""

from .errors import (
    CorruptError,
    FormatError,
    InvalidInputError,
    NotAncestorError,
    NotFoundError,
    ReaderError,
    RefNotFoundError,
    RepositoryNotFoundError,
    SnapshotNotFoundError,
    UnsupportedFormatError,
)
from .repository import Repository

__all__ = [
    "CorruptError",
    "FormatError",
    "InvalidInputError",
    "NotAncestorError",
    "NotFoundError",
    "ReaderError",
    "RefNotFoundError",
    "Repository",
    "RepositoryNotFoundError",
    "SnapshotNotFoundError",
    "UnsupportedFormatError",
]
