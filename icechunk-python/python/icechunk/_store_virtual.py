"""``IcechunkStore``'s virtual chunk references (Icechunk 2.3's names): chunks that are
byte ranges of files outside the repository. Setting them reads nothing and uploads
nothing; reads check the file's virtual chunk container and its authorization."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from icechunk._virtual_refs import VirtualChunkSpec, pin_of

if TYPE_CHECKING:
    import numpy as np

    from icechunk._icechunk import PySession, PyStore

__all__ = ["VirtualRefs"]

Failed = list[tuple[int, ...]] | None


def _array_path(path: str) -> str:
    # Icechunk takes "a" as well as "/g/a".
    return path if path.startswith("/") else "/" + path


def _failed(coords: list[list[int]]) -> Failed:
    return [tuple(c) for c in coords] or None


def _u64_bytes(values: Any, what: str) -> bytes:
    import numpy as np

    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {array.shape}")
    if array.size and (array.dtype.kind not in "iu" or array.min() < 0):
        raise ValueError(f"{what} must hold non-negative integers, got dtype {array.dtype}")
    return array.astype("<u8", copy=False).tobytes()


class VirtualRefs:
    """Mixed into ``IcechunkStore``."""

    _store: PyStore

    def _check_writable(self) -> None:
        raise NotImplementedError

    @property
    def _core_session(self) -> PySession:
        raise NotImplementedError

    def set_virtual_ref(
        self,
        key: str,
        location: str,
        *,
        offset: int,
        length: int,
        checksum: str | dt.datetime | None = None,
        validate_container: bool = True,
    ) -> None:
        """Make the chunk at ``key`` the ``length`` bytes at ``offset`` of the object at URL
        ``location``. ``checksum`` pins the source (its ETag, or a time it had not been
        modified after): a read of a source changed since raises ``StorageError``. With
        ``validate_container``, a location in no virtual chunk container of the repository
        raises ``InvalidInputError``."""
        self._check_writable()
        self._store.set_virtual_ref(
            key, location, offset, length, pin_of(checksum), validate_container
        )

    async def set_virtual_ref_async(
        self,
        key: str,
        location: str,
        *,
        offset: int,
        length: int,
        checksum: str | dt.datetime | None = None,
        validate_container: bool = True,
    ) -> None:
        self.set_virtual_ref(
            key,
            location,
            offset=offset,
            length=length,
            checksum=checksum,
            validate_container=validate_container,
        )

    def set_virtual_refs(
        self,
        array_path: str,
        chunks: list[VirtualChunkSpec],
        *,
        validate_containers: bool = True,
    ) -> Failed:
        """Set many virtual chunks of the array at ``array_path`` at once. All are checked
        first: a bad index or URL raises and sets none. With ``validate_containers``, chunks
        whose location lies in no container are left out; their indices are returned (None
        when every chunk was set)."""
        self._check_writable()
        rows = [spec._engine_row() for spec in chunks]
        failed = self._core_session.set_virtual_refs_list(
            _array_path(array_path), rows, validate_containers
        )
        return _failed(failed)

    async def set_virtual_refs_async(
        self,
        array_path: str,
        chunks: list[VirtualChunkSpec],
        *,
        validate_containers: bool = True,
    ) -> Failed:
        return self.set_virtual_refs(array_path, chunks, validate_containers=validate_containers)

    def set_virtual_refs_arr(
        self,
        array_path: str,
        chunk_grid_shape: Sequence[int],
        locations: list[str],
        offsets: np.ndarray[Any, Any],
        lengths: np.ndarray[Any, Any],
        *,
        validate_containers: bool = True,
        arr_offset: Sequence[int] | None = None,
        checksum: str | dt.datetime | None = None,
    ) -> Failed:
        """Set the virtual chunks of a grid of ``chunk_grid_shape`` chunks given as flat
        columns in C order (``""`` in ``locations``: no chunk there, left as it is), shifted
        by ``arr_offset`` (to append), all pinned by ``checksum``. Returns what
        ``set_virtual_refs`` returns."""
        self._check_writable()
        failed = self._core_session.set_virtual_refs_grid(
            _array_path(array_path),
            [int(n) for n in chunk_grid_shape],
            None if arr_offset is None else [int(n) for n in arr_offset],
            list(locations),
            _u64_bytes(offsets, "offsets"),
            _u64_bytes(lengths, "lengths"),
            pin_of(checksum),
            validate_containers,
        )
        return _failed(failed)

    async def set_virtual_refs_arr_async(
        self,
        array_path: str,
        chunk_grid_shape: Sequence[int],
        locations: list[str],
        offsets: np.ndarray[Any, Any],
        lengths: np.ndarray[Any, Any],
        *,
        validate_containers: bool = True,
        arr_offset: Sequence[int] | None = None,
        checksum: str | dt.datetime | None = None,
    ) -> Failed:
        return self.set_virtual_refs_arr(
            array_path,
            chunk_grid_shape,
            locations,
            offsets,
            lengths,
            validate_containers=validate_containers,
            arr_offset=arr_offset,
            checksum=checksum,
        )
