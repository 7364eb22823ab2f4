"""Write xarray datasets into an Icechunk session, Dask-backed data in parallel.

``to_icechunk(ds, session)`` is ``ds.to_zarr(session.store)`` that works with any Dask
scheduler, ``dask.distributed`` worker processes included: the metadata (and variables not
backed by Dask) is written through ``session.store`` here; the Dask-backed variables are
written by the workers into forks of the session, which come back and are merged into
``session``. The caller commits::

    session = repo.writable_session("main")
    icechunk.xarray.to_icechunk(ds, session)
    session.commit("wrote ds")
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from icechunk.dask import store_dask
from icechunk.session import Session

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["to_icechunk"]


def to_icechunk(
    obj: xr.Dataset | xr.DataArray,
    session: Session,
    *,
    group: str | None = None,
    mode: Literal["w", "w-", "a", "a-", "r+", "r"] | None = None,
    append_dim: Hashable | None = None,
    region: Mapping[str, slice | Literal["auto"]] | Literal["auto"] | None = None,
    encoding: Mapping[Any, Any] | None = None,
    safe_chunks: bool = True,
    align_chunks: bool = False,
    write_empty_chunks: bool | None = None,
    chunkmanager_store_kwargs: Mapping[str, Any] | None = None,
    split_every: int | None = None,
    compute_kwargs: dict[str, Any] | None = None,
) -> None:
    """Write ``obj`` into ``session`` (not committed), as ``obj.to_zarr(session.store,
    group=group, mode=mode, append_dim=append_dim, region=region, ...)`` would, with the
    Dask-backed variables written in parallel through forks of ``session``.

    ``chunkmanager_store_kwargs`` (Icechunk's name) and ``compute_kwargs`` go to
    ``dask.compute`` (for example ``scheduler=``); without them the current scheduler (a
    ``dask.distributed`` client, if any) runs the writes. The workers' forks are merged
    ``split_every`` at a time (see ``icechunk.dask.store_dask``).
    """
    import xarray as xr
    from xarray.backends.common import ArrayWriter
    from xarray.backends.writers import dump_to_store, get_writable_zarr_store

    if not isinstance(session, Session):
        raise TypeError(f"to_icechunk writes into an icechunk.Session, got {type(session)}")
    if session.read_only:
        raise ValueError("to_icechunk needs a writable session: repo.writable_session(branch)")
    dataset = obj.to_dataset() if isinstance(obj, xr.DataArray) else obj
    for v in dataset.variables.values():
        if v.size == 0:  # as xarray's to_zarr does: zero-length Dask arrays break stores
            v.load()

    zstore = get_writable_zarr_store(
        session.store,
        mode=mode,
        group=group,
        consolidated=False,
        append_dim=append_dim,
        region=region,
        safe_chunks=safe_chunks,
        align_chunks=align_chunks,
        zarr_format=3,
        write_empty_chunks=write_empty_chunks,
    )
    dataset = zstore._validate_and_autodetect_region(dataset)
    encoding = dict(encoding or {})
    zstore._validate_encoding(encoding)

    # Metadata and in-memory variables are written here; Dask-backed variables are only
    # collected (sources, target arrays, regions), to be written by the workers.
    writer = ArrayWriter()
    dump_to_store(dataset, zstore, writer, encoding=encoding)
    if writer.sources:
        store_dask(
            session,
            sources=writer.sources,
            targets=writer.targets,
            regions=writer.regions,
            split_every=split_every,
            **{**(chunkmanager_store_kwargs or {}), **(compute_kwargs or {})},
        )
