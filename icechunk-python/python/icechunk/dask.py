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

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from icechunk.session import Session

if TYPE_CHECKING:
    import dask.array as da
    import zarr

__all__ = ["store_dask"]


def _block_slices(
    chunks: tuple[tuple[int, ...], ...], region: tuple[slice, ...] | None
) -> list[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """(block index, target slices) of every block of an array with these chunks."""
    starts = []
    for axis, sizes in enumerate(chunks):
        offset = 0
        if region is not None and axis < len(region) and region[axis].start is not None:
            offset = int(region[axis].start)
        edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int) + offset
        starts.append([slice(int(a), int(b)) for a, b in itertools.pairwise(edges)])
    blocks = []
    for index in itertools.product(*(range(len(sizes)) for sizes in chunks)):
        blocks.append((index, tuple(starts[axis][i] for axis, i in enumerate(index))))
    return blocks


def _write_block(fork: Session, path: str, selection: tuple[slice, ...], data: Any) -> Session:
    """Runs on a worker: writes one block into a fork of its own; returns that fork."""
    import zarr

    own = fork.fork()  # tasks that share a worker (and its copy of `fork`) stay apart
    array = zarr.open_array(own.store, path=path, mode="r+")
    array[selection] = np.asarray(data)
    return own


def store_dask(
    session: Session,
    *,
    sources: Sequence[da.Array],
    targets: Sequence[zarr.Array],
    regions: Sequence[tuple[slice, ...] | None] | None = None,
    **compute_kwargs: Any,
) -> None:
    """Write each Dask array of ``sources`` into the matching zarr array of ``targets``
    (opened on ``session.store``), in ``regions`` if given, in parallel through forks of
    ``session``; the forks are merged into ``session`` (commit it afterwards).

    ``compute_kwargs`` go to ``dask.compute`` (for example ``scheduler=``).
    """
    import dask

    if session.read_only:
        raise ValueError("store_dask needs a writable session: repo.writable_session(branch)")
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
    if regions is None:
        regions = [None] * len(sources)
    elif len(regions) != len(sources):
        raise ValueError(f"{len(sources)} sources but {len(regions)} regions")
    if not sources:
        return

    fork = session.fork()
    shared = dask.delayed(fork, pure=False)  # shipped once to each worker
    write = dask.delayed(_write_block, pure=False)
    tasks = []
    for source, target, region in zip(sources, targets, regions, strict=True):
        if target.store is not session.store and getattr(target.store, "session", None) != session:
            raise ValueError("every target must be a zarr array opened on session.store")
        blocks = source.to_delayed()
        for index, selection in _block_slices(source.chunks, region):
            tasks.append(write(shared, target.path, selection, blocks[index]))
    forks = dask.compute(*tasks, **compute_kwargs)
    session.merge(*forks)
