"""Parallel writes of Dask arrays into an Icechunk session, through forks.

``store_dask(session, sources=[...], targets=[...])`` is ``dask.array.store`` for
Icechunk: every block is written by a task into its own fork of ``session`` (so it works
on any scheduler, ``dask.distributed`` processes included), the tasks return their forks,
and the forks are merged back into ``session``. The caller commits::

    session = repo.writable_session("main")
    array = zarr.create_array(session.store, name="a", shape=x.shape, chunks=..., dtype=...)
    icechunk.dask.store_dask(session, sources=[x], targets=[array])
    session.commit("wrote a")

Blocks should be aligned with the target's chunks: two blocks that write parts of one
chunk would write it twice, and the merge refuses that with a ``ConflictError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from icechunk.session import Session

if TYPE_CHECKING:
    import dask.array as da
    import zarr

__all__ = ["extract_session", "session_merge_reduction", "store_dask"]


def _region_offsets(ndim: int, region: tuple[slice, ...] | None) -> tuple[int, ...]:
    """Where ``region`` starts in the target, per axis (0 where it does not say)."""
    offsets = []
    for axis in range(ndim):
        start = region[axis].start if region is not None and axis < len(region) else None
        offsets.append(0 if start is None else int(start))
    return tuple(offsets)


def _write_block(
    fork: Session, target: tuple[str, Any, Any], selection: tuple[slice, ...], data: Any
) -> Session:
    """Runs on a worker: writes one block into a fork of its own; returns that fork.
    ``target`` is the array's path, metadata and config: the array is built from them
    rather than opened, which would read and parse its metadata again for every block."""
    import zarr
    from zarr.storage import StorePath

    path, metadata, config = target
    own = fork.fork()  # tasks that share a worker (and its copy of `fork`) stay apart
    array = zarr.Array(zarr.AsyncArray(metadata, StorePath(own.store, path), config))
    array[selection] = np.asarray(data)
    return own


def _write_block_here(
    data: Any,
    fork: Session,
    target: tuple[str, Any, Any],
    offsets: tuple[int, ...],
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """``map_blocks``'s side of ``_write_block``: the block's place comes from Dask
    (``block_info``), and its fork goes back in a one-element object array."""
    assert block_info is not None  # map_blocks passes it: the parameter is named so
    location = block_info[0]["array-location"]
    selection = tuple(
        slice(start + offset, stop + offset)
        for (start, stop), offset in zip(location, offsets, strict=True)
    )
    out = np.empty((1,) * len(offsets), dtype=object)
    out[(0,) * len(offsets)] = _write_block(fork, target, selection, data)
    return out


def _merge_forks(*forks: Any) -> Session:
    """Runs on a worker: folds forks into the first (one level of the merge tree). A fork
    may come inside a numpy block (the blocks of ``session_merge_reduction``'s arrays)."""
    sessions = [
        s for f in forks for s in (f.ravel().tolist() if isinstance(f, np.ndarray) else [f])
    ]
    first, *rest = sessions
    if rest:
        first.merge(*rest)
    return first


def _tree_merge(forks: list[Any], split_every: int | None) -> Any:
    """Delayed merges of ``forks``, ``split_every`` at a time (default 32), level by level,
    down to one delayed fork: no single task receives every fork of a large write."""
    import dask

    # Merging forks of a chunk or a few is cheap next to a Dask task's own overhead (about
    # a millisecond of scheduling each): wide levels, few tasks. 8 wide, 10,000 blocks took
    # 1,430 merge tasks; 32 wide, 323.
    width = 32 if split_every is None else int(split_every)
    if width < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    merge = dask.delayed(_merge_forks, pure=False)
    level = list(forks)
    while len(level) > 1:
        level = [merge(*level[i : i + width]) for i in range(0, len(level), width)]
    return level[0]


def extract_session(store: Any) -> Session:
    """The writable session behind a zarr array's store (an ``IcechunkStore``)."""
    session = getattr(store, "session", None)
    if not isinstance(session, Session):
        raise ValueError("targets must be zarr arrays opened on an IcechunkStore")
    if session.read_only:
        raise ValueError(
            "store_dask needs a writable session or fork: repo.writable_session(branch)"
        )
    return session


def store_dask(
    session: Session | None = None,
    *,
    sources: Sequence[da.Array],
    targets: Sequence[zarr.Array],
    regions: Sequence[tuple[slice, ...] | None] | None = None,
    split_every: int | None = None,
    **store_kwargs: Any,
) -> Session:
    """Write each Dask array of ``sources`` into the matching zarr array of ``targets``
    (opened on the store of ``session``, or, as Icechunk 2.x is called, of a fork), in
    ``regions`` if given, in parallel through forks; the forks are merged back in a tree,
    ``split_every`` at a time, and into that session, which is returned (commit it, or
    merge it into the session it was forked from).

    ``store_kwargs`` go to ``dask.compute`` (for example ``scheduler=``); ``compute=False``
    and the other ``dask.array.store`` options are not supported.
    """
    import dask
    import dask.array as da

    if session is None:
        if not targets:
            raise ValueError("store_dask needs targets (or a session)")
        session = extract_session(targets[0].store)
    elif session.read_only:
        raise ValueError("store_dask needs a writable session: repo.writable_session(branch)")
    for unsupported in ("compute", "return_stored", "load_stored", "lock"):
        if unsupported in store_kwargs:
            raise ValueError(f"store_dask does not support {unsupported}=")
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
    if regions is None:
        regions = [None] * len(sources)
    elif len(regions) != len(sources):
        raise ValueError(f"{len(sources)} sources but {len(regions)} regions")
    if not sources:
        return session

    fork = session.fork()
    shared = dask.delayed(fork, pure=False)  # shipped once to each worker
    write = dask.delayed(_write_block, pure=False)
    tasks = []
    for source, target, region in zip(sources, targets, regions, strict=True):
        # session.store is a new store each time: compare the sessions, not the stores.
        if getattr(target.store, "session", None) != session:
            raise ValueError("every target must be a zarr array opened on the session's store")
        # Shipped once to each worker, like the fork.
        spec = dask.delayed((target.path, target.metadata, target._async_array.config), pure=False)
        if source.ndim == 0:
            tasks.append(write(shared, spec, (), source.to_delayed().item()))
            continue
        # Each block written by the task that makes it: map_blocks is blockwise, so Dask
        # fuses the write with the source's own blockwise steps (one task a chunk, not two,
        # and no block shipped between workers on its way to storage).
        written = da.map_blocks(
            _write_block_here,
            source,
            shared,
            spec,
            _region_offsets(source.ndim, region),
            dtype=object,
            chunks=tuple((1,) * len(sizes) for sizes in source.chunks),
            meta=np.empty((0,) * source.ndim, dtype=object),
        )
        tasks.extend(written.to_delayed().ravel().tolist())
    (merged,) = dask.compute(_tree_merge(tasks, split_every), **store_kwargs)
    session.merge(merged)
    return session


def session_merge_reduction(
    arrays: da.Array | Sequence[da.Array], *, split_every: int | None, **store_kwargs: Any
) -> Session:
    """Merges the sessions that the blocks of ``arrays`` hold (each block one fork, as
    ``map_blocks`` writing into forks returns them) in a tree, ``split_every`` at a time,
    and returns the merged fork."""
    import dask

    arrays = [arrays] if not isinstance(arrays, Sequence) else list(arrays)
    forks = [block for array in arrays for block in array.to_delayed().ravel()]
    if not forks:
        raise ValueError("no blocks to merge")
    (merged,) = dask.compute(_tree_merge(forks, split_every), **store_kwargs)
    return merged
