"""Snapshot expiration and garbage collection, as ``Repository`` methods (spec/format.md §13).

``expire_snapshots`` takes old snapshots out of every ref's history; ``garbage_collect`` then
deletes the objects no ref reaches and that are older than its cut-off. Writers may keep
working meanwhile: a writing session announces itself with a lease, and whatever it has
written is kept until it commits (or for 24 hours at most).

A collection shows a progress bar per phase on stderr when tqdm is installed (none when
stderr is not a terminal: ``tqdm(disable=None)``).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
from typing import Any

from icechunk._icechunk import GCSummary, PyRepository

__all__ = ["RepositoryMaintenance"]


def _aware(when: datetime.datetime, name: str) -> datetime.datetime:
    """``when`` if it is a timezone-aware datetime; a naive one is refused (its time zone
    is a guess, and a wrong guess deletes hours of work)."""
    if not isinstance(when, datetime.datetime):
        raise TypeError(f"{name} must be a datetime.datetime, not {type(when).__name__}")
    if when.tzinfo is None or when.tzinfo.utcoffset(when) is None:
        raise ValueError(
            f"{name} must be timezone-aware, e.g. datetime.datetime.now(datetime.UTC) - "
            "datetime.timedelta(days=7)"
        )
    return when


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


# What each phase of a collection counts (the engine's `GcProgress`).
_UNITS = {"snapshots": "snapshot", "manifests": "shard", "listing": "folder", "deleting": "object"}


class _ProgressBars:
    """``progress(phase, done, total)`` for the engine: one tqdm bar per phase, made when
    the phase's first report comes (a refused collection shows none). The engine calls it
    from the collecting thread with each phase's first and last step and otherwise at most
    ten times a second; after it raises, it is not called again."""

    def __init__(self, tqdm: Any) -> None:
        self._tqdm = tqdm
        self._bar: Any = None
        self._phase: str | None = None
        self._done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self._phase:
            self.close()
            self._phase, self._done = phase, 0
            self._bar = self._tqdm(
                total=total,
                desc=f"garbage_collect: {phase}",
                unit=_UNITS.get(phase, "step"),
                disable=None,  # hidden when stderr is not a terminal
            )
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.close()


def _progress_bars() -> _ProgressBars | None:
    """Progress bars if tqdm can be imported; without it, no progress at all (the engine
    then does not report any)."""
    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except Exception:  # not installed, or broken: a collection does not need it
        return None
    return _ProgressBars(tqdm)


def _close(progress: _ProgressBars | None) -> None:
    """Closes the last bar; a display that fails does not fail the collection."""
    if progress is not None:
        with contextlib.suppress(Exception):
            progress.close()


class RepositoryMaintenance:
    """Mixed into ``Repository``."""

    _repository: PyRepository

    def expire_snapshots(
        self,
        older_than: datetime.datetime,
        *,
        delete_expired_branches: bool = False,
        delete_expired_tags: bool = False,
    ) -> set[str]:
        """Takes the snapshots written before ``older_than`` (exclusive) out of the history
        of every tag and branch; returns their ids. The root snapshot and every ref's tip are
        kept, except that ``delete_expired_branches`` / ``delete_expired_tags`` delete the
        refs whose tip is older (``main`` never). Expired snapshots stay readable by id until
        ``garbage_collect`` deletes them."""
        when = _aware(older_than, "older_than")
        return set(
            self._repository.expire_snapshots(when, delete_expired_branches, delete_expired_tags)
        )

    async def expire_snapshots_async(
        self,
        older_than: datetime.datetime,
        *,
        delete_expired_branches: bool = False,
        delete_expired_tags: bool = False,
    ) -> set[str]:
        when = _aware(older_than, "older_than")
        expired = await self._repository.expire_snapshots_async(
            when, delete_expired_branches, delete_expired_tags
        )
        return set(expired)

    def garbage_collect(
        self,
        delete_object_older_than: datetime.datetime,
        *,
        dry_run: bool = False,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
        max_concurrent_deletes: int = 10,
        max_consecutive_delete_failures: int = 50,
        max_concurrent_listings: int | None = None,
    ) -> GCSummary:
        """Deletes the objects that no branch or tag reaches and that were written before
        ``delete_object_older_than`` (exclusive); ``dry_run`` only counts them. Objects a
        writing session may still commit are kept whatever their age. Icechunk's memory
        bounds are accepted; ours come from keeping the reachable set as ids. A cut-off
        later than the minimum grace period of the repository's config allows
        (``gc_min_grace_period_seconds``) raises ``InvalidInputError`` and deletes nothing.
        With tqdm installed, each phase shows a progress bar on a terminal."""
        when = _aware(delete_object_older_than, "delete_object_older_than")
        fetches = _positive(max_concurrent_manifest_fetches, "max_concurrent_manifest_fetches")
        deletes = _positive(max_concurrent_deletes, "max_concurrent_deletes")
        progress = _progress_bars()
        try:
            return self._repository.garbage_collect(when, dry_run, fetches, deletes, progress)
        finally:
            _close(progress)

    async def garbage_collect_async(
        self,
        delete_object_older_than: datetime.datetime,
        *,
        dry_run: bool = False,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
        max_concurrent_deletes: int = 10,
        max_consecutive_delete_failures: int = 50,
        max_concurrent_listings: int | None = None,
    ) -> GCSummary:
        when = _aware(delete_object_older_than, "delete_object_older_than")
        fetches = _positive(max_concurrent_manifest_fetches, "max_concurrent_manifest_fetches")
        deletes = _positive(max_concurrent_deletes, "max_concurrent_deletes")
        progress = _progress_bars()
        try:
            return await self._repository.garbage_collect_async(
                when, dry_run, fetches, deletes, progress
            )
        finally:
            _close(progress)
