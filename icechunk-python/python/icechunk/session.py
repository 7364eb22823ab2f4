"""``Session``: one version of a repository, plus uncommitted changes if writable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from icechunk._icechunk import Diff, PySession
from icechunk.errors import SessionStateError
from icechunk.store import IcechunkStore

if TYPE_CHECKING:
    from icechunk.conflicts import ConflictSolver
    from icechunk.repository import Repository

__all__ = ["Session"]

_PICKLE_WRITABLE = (
    "cannot pickle a writable session: its uncommitted changes exist only in this process. "
    "Commit, then send other processes a read-only session "
    "(repo.readonly_session(snapshot_id=...)). Writing from many processes needs "
    "Session.fork() and icechunk.xarray.to_icechunk, which merge the workers' changes back; "
    "they are not available in this version yet."
)


class Session:
    """A session; get one from ``Repository.readonly_session`` or ``writable_session``."""

    def __init__(self, core: PySession, repository: Repository) -> None:
        self._session = core
        self._repository = repository
        self._store: IcechunkStore | None = None

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
    def store(self) -> IcechunkStore:
        """The zarr store of this session."""
        if self._store is None:
            self._store = IcechunkStore(self)
        return self._store

    def status(self) -> Diff:
        """The uncommitted changes."""
        return self._session.status()

    def discard_changes(self) -> None:
        self._session.discard_changes()

    def commit(
        self, message: str, metadata: dict[str, Any] | None = None, allow_empty: bool = False
    ) -> str:
        """Write the changes as a new snapshot and move the branch to it, atomically.

        Returns the new snapshot id. Raises ``ConflictError`` if the branch moved since
        this session started.
        """
        return self._session.commit(message, metadata, allow_empty)

    def rebase(self, solver: ConflictSolver) -> None:
        """Replay these changes on the current branch tip (not implemented yet)."""
        raise NotImplementedError(
            "Session.rebase is not implemented in this version of icechunk: on "
            "ConflictError, open a new writable session from the branch tip and apply "
            "your changes again"
        )

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

    def __getstate__(self) -> dict[str, Any]:
        if not self.read_only:
            raise SessionStateError(_PICKLE_WRITABLE)
        return {"repository": self._repository, "snapshot_id": self.snapshot_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        repository: Repository = state["repository"]
        session = repository.readonly_session(snapshot_id=state["snapshot_id"])
        self.__dict__.update(session.__dict__)
