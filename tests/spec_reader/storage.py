"""The object-store primitives a reader needs (spec §1), over a repository on local disk.

Keys map to files as spec §3.1 says: each `/`-separated segment is a directory or file name,
verbatim. Files named `<name>#<digits>` are a writer's temporary files: never objects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_TEMPORARY = re.compile(r".*#[0-9]+")


class LocalStorage:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _file(self, key: str) -> Path:
        segments = key.split("/")
        if any(s in ("", ".", "..") for s in segments) or _TEMPORARY.fullmatch(segments[-1]):
            raise ValueError(f"not an object key: {key!r}")
        return self.root.joinpath(*segments)

    def get(self, key: str) -> bytes | None:
        """The whole object, or None if there is none."""
        try:
            return self._file(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def get_range(self, key: str, start: int, end: int) -> bytes | None:
        """Bytes [start, end) of the object (fewer if it is shorter), or None."""
        try:
            with self._file(key).open("rb") as f:
                f.seek(start)
                return f.read(max(0, end - start))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def list(self, prefix: str) -> list[str]:
        """Every object key under the folder `prefix` ("refs/"), relative to it."""
        base = self._folder(prefix)
        out = []
        for dirpath, _, files in os.walk(base):
            rel = Path(dirpath).relative_to(base)
            for name in files:
                if not _TEMPORARY.fullmatch(name):
                    out.append("/".join((*rel.parts, name)))
        return out

    def list_folders(self, prefix: str) -> list[str]:
        """The names of the immediate sub-folders of `prefix` that hold at least one object."""
        base = self._folder(prefix)
        if not base.is_dir():
            return []
        return [
            entry.name
            for entry in base.iterdir()
            if entry.is_dir() and self.list(f"{prefix.rstrip('/')}/{entry.name}/")
        ]

    def _folder(self, prefix: str) -> Path:
        prefix = prefix.strip("/")
        return self.root.joinpath(*prefix.split("/")) if prefix else self.root


class MemoryStorage:
    """Objects in a dict: for tests that build objects by hand."""

    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def get_range(self, key: str, start: int, end: int) -> bytes | None:
        data = self.objects.get(key)
        return None if data is None else data[start:end]

    def list(self, prefix: str) -> list[str]:
        return [k[len(prefix) :] for k in self.objects if k.startswith(prefix)]

    def list_folders(self, prefix: str) -> list[str]:
        return sorted({k[len(prefix) :].split("/")[0] for k in self.list(prefix) if "/" in k})
