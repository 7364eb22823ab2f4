"""``Session``: one version of a repository, plus uncommitted changes if writable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from icechunk._config_classes import RepositoryConfig
from icechunk._icechunk import ChunkType, Diff, PySession, SessionMode
from icechunk._icechunk import ConflictSolver as _ConflictSolver
from icechunk.store import IcechunkStore

if TYPE_CHECKING:
    from icechunk.conflicts import ConflictSolver
    from icechunk.repository import Repository

__all__ = ["ForkSession", "Session", "SessionMode"]

_PICKLE_WRITABLE = (
    "cannot pickle a writable session: its uncommitted changes exist only in this process. "
    "To write from other processes, send them forks (session.fork()) and merge what they "
    "return (session.merge(*forks)), or use icechunk.xarray.to_icechunk / "
    "icechunk.dask.store_dask, which do that for you. To read elsewhere, commit and send "
    "a read-only session (repo.readonly_session(snapshot_id=...))."
)


def _session_from_bytes(data: bytes, repository: Repository) -> Session:
    """Rebuilds a pickled fork (or read-only session); the I/O runs without the GIL."""
    return Session(PySession.from_bytes(data, repository._repository), repository)


class Session:
    """A session; get one from ``Repository.readonly_session`` or ``writable_session``."""

    def __init__(self, core: PySession, repository: Repository) -> None:
        self._session = core
        self._repository = repository

    @property
    def read_only(self) -> bool:
        return self._session.read_only

    @property
    def snapshot_id(self) -> str:
        """The snapshot this session reads (after a commit: the new one)."""
        return self._session.snapshot_id

    @property
    def branch(self) -> str | None:
        return self._session.branch

    @property
    def has_uncommitted_changes(self) -> bool:
        return self._session.has_uncommitted_changes

    @property
    def repository(self) -> Repository:
        return self._repository

    @property
    def mode(self) -> SessionMode:
        """``SessionMode.readonly``, ``writable``, or ``rearrange`` (a session from
        ``Repository.rearrange_session``, which only moves nodes)."""
        return self._session.mode

    def move(self, from_path: str, to_path: str) -> None:
        """Move (rename) the group or array at ``from_path``, with everything below it, to
        ``to_path``, keeping its chunks (none is copied). Only in a rearrange session
        (``Repository.rearrange_session``); ``to_path`` must not exist and its parent must be
        a group. The commit records the move (``Diff.moved_nodes``)."""
        self._session.move_node(from_path, to_path)

    async def move_async(self, from_path: str, to_path: str) -> None:
        await self._session.move_node_async(from_path, to_path)

    @property
    def config(self) -> RepositoryConfig:
        """The configuration of the repository this session reads (a copy)."""
        return RepositoryConfig._from_engine(self._session.config)

    def get_node_id(self, path: str) -> str:
        """The id of the group or array at ``path`` (``/group/array``), kept for its whole
        life; ``NodeNotFoundError`` if there is none."""
        return self._session.get_node_id(path)

    async def get_node_id_async(self, path: str) -> str:
        return await self._session.get_node_id_async(path)

    def chunk_type(self, array_path: str, chunk_coordinates: Sequence[int]) -> ChunkType:
        """Where the chunk lives: ``native`` (an object of its own), ``inline`` (inside its
        manifest), ``virtual`` (a byte range of a file outside the repository), or
        ``uninitialized`` (no chunk: reads give the fill value)."""
        return self._session.chunk_type(array_path, list(chunk_coordinates))

    async def chunk_type_async(
        self, array_path: str, chunk_coordinates: Sequence[int]
    ) -> ChunkType:
        return await self._session.chunk_type_async(array_path, list(chunk_coordinates))

    async def chunk_coordinates(
        self, array_path: str, batch_size: int = 1000
    ) -> AsyncIterator[tuple[int, ...]]:
        """The coordinates of every chunk the array has, in order (an async iterator)."""
        for coords in await self._session.chunk_coordinates_async(array_path):
            yield tuple(coords)

    def all_virtual_chunk_locations(self) -> list[str]:
        """The URLs of the files this session's virtual chunks point into, each once, sorted
        (Icechunk 2.3 lists one per chunk)."""
        return self._session.all_virtual_chunk_locations()

    async def all_virtual_chunk_locations_async(self) -> list[str]:
        return await self._session.all_virtual_chunk_locations_async()

    # ---- moving chunks (no chunk is copied: only references move) ------------------------
    def shift_array(self, array_path: str, chunk_offset: Iterable[int]) -> None:
        """Shift all chunks of the array at ``array_path`` by ``chunk_offset`` chunks per
        dimension (positive: right/down, negative: left/up).

        Chunks shifted out of the chunk grid are discarded (resize the array first to keep
        them); positions nothing shifts into are cleared (read as the fill value). Chunk
        coordinates are those of zarr's chunk keys (shards, for sharded arrays); only regular
        chunk grids. No chunk bytes are copied: the session re-files chunk references.
        """
        self._session.shift_array(array_path, list(chunk_offset))

    async def shift_array_async(self, array_path: str, chunk_offset: Iterable[int]) -> None:
        await self._session.shift_array_async(array_path, list(chunk_offset))

    def reindex_array(
        self,
        array_path: str,
        forward: Callable[[Iterable[int]], Iterable[int] | None],
        backward: Callable[[Iterable[int]], Iterable[int] | None] | None = None,
    ) -> None:
        """Move chunks of the array at ``array_path`` to ``forward(coordinates)``.

        ``forward`` is called with each existing chunk's coordinates (a list; empty positions
        are not visited) and returns its new coordinates, non-negative and within the chunk
        grid, or ``None`` to leave the chunk in place. Every chunk moves as it was before
        (permutations work); a moved chunk's old position keeps it unless ``backward`` says
        otherwise: ``backward``, the inverse of ``forward``, is called with each existing
        chunk position, and the position is cleared (read as the fill value) when it returns
        ``None`` or a position without a chunk, unless a chunk moves into it.

        Coordinates off the grid raise ``InvalidInputError`` and change nothing; an
        exception of ``forward`` or ``backward`` is raised as an ``IcechunkError`` caused by
        it. Only regular chunk grids; no chunk bytes are copied.
        """
        existing = self._session.chunk_coordinates_list(array_path)
        plan = self._session.reindex_plan(array_path, existing, forward, backward)
        self._session.apply_reindex(array_path, plan)

    async def reindex_array_async(
        self,
        array_path: str,
        forward: Callable[[Iterable[int]], Iterable[int] | None],
        backward: Callable[[Iterable[int]], Iterable[int] | None] | None = None,
    ) -> None:
        # The mappings run here, on the event loop's thread, between the two awaits.
        existing = await self._session.chunk_coordinates_async(array_path)
        plan = self._session.reindex_plan(array_path, existing, forward, backward)
        await self._session.apply_reindex_async(array_path, plan)

    @property
    def store(self) -> IcechunkStore:
        """The zarr store of this session: a new one each time, as in Icechunk 2.3 (read-only
        once the session has committed). Not kept here: the store holds its session, and a
        reference back would make a cycle that keeps a dropped session (its change set, its
        storage's connections) alive until Python's cyclic collector runs."""
        return IcechunkStore(self)

    def status(self) -> Diff:
        """The uncommitted changes."""
        return self._session.status()

    def discard_changes(self) -> None:
        self._session.discard_changes()

    @property
    def is_fork(self) -> bool:
        """Made by ``fork()``: writes, then is merged back instead of committed."""
        return self._session.is_fork

    def commit(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
        allow_empty: bool = False,
    ) -> str:
        """Write the changes as a new snapshot and move the branch to it, atomically.

        Returns the new snapshot id. If the branch moved since this session started:
        ``ConflictError``, or with ``rebase_with`` a rebase with that solver and another
        try, up to ``rebase_tries`` times (``RebaseFailedError`` if the solver fails).
        """
        solver = None if rebase_with is None else _solver(rebase_with)
        return self._session.commit(
            message,
            metadata,
            rebase_with=solver,
            rebase_tries=rebase_tries,
            allow_empty=allow_empty,
        )

    async def commit_async(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
        allow_empty: bool = False,
    ) -> str:
        """``commit`` for asyncio: the event loop runs other tasks meanwhile."""
        solver = None if rebase_with is None else _solver(rebase_with)
        return await self._session.commit_async(
            message,
            metadata,
            rebase_with=solver,
            rebase_tries=rebase_tries,
            allow_empty=allow_empty,
        )

    def amend(
        self, message: str, *, metadata: dict[str, Any] | None = None, allow_empty: bool = False
    ) -> str:
        """Like ``commit``, but the new snapshot replaces the branch tip (this session's base)
        instead of following it: it holds the tip's changes and this session's. Raises
        ``ConflictError`` if the branch moved; the repository's first snapshot cannot be
        amended. Returns the new snapshot id; the session is then read-only."""
        return self._session.amend(message, metadata, allow_empty=allow_empty)

    async def amend_async(
        self, message: str, *, metadata: dict[str, Any] | None = None, allow_empty: bool = False
    ) -> str:
        return await self._session.amend_async(message, metadata, allow_empty=allow_empty)

    def flush(self, message: str, *, metadata: dict[str, Any] | None = None) -> str:
        """Write the changes as a new snapshot without moving any branch (tag it, or create a
        branch on it, to keep it). Returns its id; the session is then read-only, on it."""
        return self._session.flush(message, metadata=metadata)

    async def flush_async(self, message: str, *, metadata: dict[str, Any] | None = None) -> str:
        return await self._session.flush_async(message, metadata=metadata)

    def rebase(self, solver: ConflictSolver) -> None:
        """Move this session onto the current branch tip, replaying its changes on each
        commit that landed since its base; ``solver`` decides conflicts.

        Raises ``RebaseFailedError`` (listing the conflicts) when the solver cannot settle
        them; the session is then left as it was.
        """
        self._session.rebase(_solver(solver))

    async def rebase_async(self, solver: ConflictSolver) -> None:
        await self._session.rebase_async(_solver(solver))

    # ---- distributed writes ------------------------------------------------------------
    def fork(self) -> Session:
        """A writable session for a worker (another thread or process): it picks up this
        session's metadata changes, takes chunk writes, pickles, and comes back with
        ``merge``. A fork cannot commit. Forks of an in-memory repository only work in
        this process (pickling one raises ``InvalidInputError``)."""
        return Session(self._session.fork(), self._repository)

    def merge(self, *forks: Session) -> None:
        """Fold the changes of ``forks`` into this session (all or nothing).

        Raises ``ConflictError`` if two of them (or a fork and this session) wrote the
        same chunk or different metadata for one node.
        """
        self._session.merge(_cores(forks))

    async def merge_async(self, *forks: Session) -> None:
        await self._session.merge_async(_cores(forks))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Session):
            return NotImplemented
        if self is other or self._session is other._session:
            return True
        # Two read-only views of the same snapshot in the same place are interchangeable.
        return (
            self.read_only
            and other.read_only
            and self.snapshot_id == other.snapshot_id
            and self._repository.storage == other._repository.storage
        )

    def __hash__(self) -> int:
        # Consistent with __eq__: a read-only session never changes its snapshot.
        return hash(self.snapshot_id) if self.read_only else id(self)

    def __repr__(self) -> str:
        kind = "read-only" if self.read_only else "writable"
        return f"<icechunk.Session {kind} snapshot={self.snapshot_id} branch={self.branch!r}>"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if self.is_fork and not self.read_only:
            # Its changes travel with it (InvalidInputError for in-memory repositories).
            return (_session_from_bytes, (self._session.to_bytes(), self._repository))
        if not self.read_only:
            raise ValueError(_PICKLE_WRITABLE)  # Icechunk's class for this refusal
        return (_readonly_session, (self._repository, self.snapshot_id))


def _cores(forks: tuple[Session, ...]) -> list[PySession]:
    for fork in forks:
        if not isinstance(fork, Session):
            raise TypeError(f"Session.merge takes sessions, got {type(fork).__name__}")
    return [fork._session for fork in forks]


def _readonly_session(repository: Repository, snapshot_id: str) -> Session:
    return repository.readonly_session(snapshot_id=snapshot_id)


def _solver(solver: ConflictSolver) -> ConflictSolver:
    if not isinstance(solver, _ConflictSolver):
        raise TypeError(
            "expected a conflict solver (icechunk.ConflictDetector() or "
            f"icechunk.BasicConflictSolver(...)), got {type(solver).__name__}"
        )
    return solver


class _ForkSessionType(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Session) and instance.is_fork


class ForkSession(Session, metaclass=_ForkSessionType):
    """The type of the sessions that ``Session.fork()`` returns: written to elsewhere (pickled
    to a worker), then merged back into the session they came from (``Session.merge``), never
    committed. ``isinstance(s, ForkSession)`` tells forks from other sessions."""
