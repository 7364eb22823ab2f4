"""Virtual chunk references as Icechunk 2.3 writes them: ``VirtualChunkSpec`` and the
conversion of a reference's ``checksum`` (the pin of its source) for the engine."""

from __future__ import annotations

import datetime as dt
import math

__all__ = ["VirtualChunkSpec"]


def pin_of(checksum: str | dt.datetime | None) -> str | int | None:
    """The engine's pin of a source: its ETag (a string), or the Unix second after which a
    modification makes the reference stale (a datetime, rounded up: HTTP dates have whole
    seconds, and rounding down would refuse a source written within that second)."""
    if checksum is None or isinstance(checksum, str):
        return checksum
    if isinstance(checksum, dt.datetime):
        if checksum.tzinfo is None:
            raise TypeError(
                "checksum: expected a datetime with non-None tzinfo (a naive time is ambiguous)"
            )
        return max(0, math.ceil(checksum.timestamp()))
    raise TypeError(f"checksum must be an ETag (str) or a datetime, not {type(checksum).__name__}")


class VirtualChunkSpec:
    """One virtual chunk for ``IcechunkStore.set_virtual_refs``: chunk ``index`` of the array
    is ``length`` bytes at ``offset`` of the object at URL ``location``, optionally pinned to
    the object's ETag or to a time it had not been modified after."""

    __slots__ = ("_etag", "_index", "_last_updated", "_length", "_location", "_offset")

    def __init__(
        self,
        index: list[int],
        location: str,
        offset: int,
        length: int,
        etag_checksum: str | None = None,
        last_updated_at_checksum: dt.datetime | None = None,
    ) -> None:
        if etag_checksum is not None and last_updated_at_checksum is not None:
            raise ValueError("give etag_checksum or last_updated_at_checksum, not both")
        self._index = [int(i) for i in index]
        self._location = location
        self._offset = int(offset)
        self._length = int(length)
        self._etag = etag_checksum
        self._last_updated = last_updated_at_checksum

    @property
    def index(self) -> list[int]:
        return list(self._index)

    @property
    def location(self) -> str:
        return self._location

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def length(self) -> int:
        return self._length

    @property
    def etag_checksum(self) -> str | None:
        return self._etag

    @property
    def last_updated_at_checksum(self) -> dt.datetime | None:
        return self._last_updated

    def _engine_row(self) -> tuple[list[int], str, int, int, str | int | None]:
        pin = pin_of(self._etag if self._etag is not None else self._last_updated)
        return (self._index, self._location, self._offset, self._length, pin)

    def __repr__(self) -> str:
        return (
            f"VirtualChunkSpec(index={self._index}, location={self._location!r}, "
            f"offset={self._offset}, length={self._length})"
        )
