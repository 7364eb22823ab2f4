"""The exception tree of icechunk.

The Rust core raises these by kind (see ``icechunk-python/src/errors.rs``)::

    IcechunkError
    ├── ConflictError                 a branch moved since the session started
    │   └── RebaseFailedError
    ├── NotFoundError (also KeyError)
    │   ├── RepositoryNotFoundError
    │   ├── RefNotFoundError          branch or tag
    │   ├── SnapshotNotFoundError
    │   └── NodeNotFoundError         array, group or key
    ├── AlreadyExistsError            also a move onto an existing node
    ├── ReadOnlyError (also ValueError, like zarr's read-only stores)
    ├── InvalidInputError (also ValueError)
    ├── SessionStateError             also moves refused (rearrange sessions)
    ├── StorageError
    └── FormatError                   corrupt or unsupported objects
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "FormatError",
    "IcechunkError",
    "InvalidInputError",
    "NodeNotFoundError",
    "NotFoundError",
    "ReadOnlyError",
    "RebaseFailedError",
    "RefNotFoundError",
    "RepositoryNotFoundError",
    "SessionStateError",
    "SnapshotNotFoundError",
    "StorageError",
]


class IcechunkError(Exception):
    """Base class of every error raised by icechunk."""


class ConflictError(IcechunkError):
    """The branch tip is no longer the snapshot this session started from.

    ``expected_parent`` is the snapshot the session was based on, ``actual_parent`` the
    branch's tip found at commit time (either may be None).
    """

    def __init__(
        self,
        message: str = "",
        expected_parent: str | None = None,
        actual_parent: str | None = None,
    ) -> None:
        super().__init__(message)
        self.expected_parent = expected_parent
        self.actual_parent = actual_parent

    def __reduce__(self) -> tuple[type[ConflictError], tuple[str, str | None, str | None]]:
        message = self.args[0] if self.args else ""
        return (type(self), (message, self.expected_parent, self.actual_parent))


class RebaseFailedError(ConflictError):
    """A rebase found conflicts its solver could not settle.

    ``snapshot`` is the commit whose changes conflict with ours; ``conflicts`` lists the
    unsettled conflicts (``icechunk.conflicts.Conflict``: ``conflict_type``, ``path``,
    ``conflicted_chunks``). The session is left as it was before the rebase.
    """

    def __init__(
        self,
        message: str = "",
        snapshot: str | None = None,
        conflicts: Iterable[Any] = (),
    ) -> None:
        from icechunk.conflicts import Conflict

        super().__init__(message)
        self.snapshot = snapshot
        self.conflicts: list[Conflict] = [
            c if isinstance(c, Conflict) else Conflict(*c) for c in conflicts
        ]

    def __reduce__(  # type: ignore[override]
        self,
    ) -> tuple[type[RebaseFailedError], tuple[str, str | None, list[Any]]]:
        message = self.args[0] if self.args else ""
        return (type(self), (message, self.snapshot, self.conflicts))


class NotFoundError(IcechunkError, KeyError):
    """Something asked for does not exist."""

    def __str__(self) -> str:
        # KeyError shows repr(message); show the message itself.
        return str(self.args[0]) if self.args else ""


class RepositoryNotFoundError(NotFoundError):
    """No repository at this storage location."""


class RefNotFoundError(NotFoundError):
    """No such branch or tag."""


class SnapshotNotFoundError(NotFoundError):
    """No such snapshot."""


class NodeNotFoundError(NotFoundError):
    """No such array, group or key."""


class AlreadyExistsError(IcechunkError):
    """A repository, branch or tag of that name already exists."""


class ReadOnlyError(IcechunkError, ValueError):
    """A write through a read-only session or store."""


class InvalidInputError(IcechunkError, ValueError):
    """An argument the engine cannot accept (bad key, ref name, id, ...)."""


class SessionStateError(IcechunkError):
    """The session cannot do this now (for example, pickle with uncommitted changes)."""


class StorageError(IcechunkError):
    """The object store failed."""


class FormatError(IcechunkError):
    """An object in storage is corrupt or of an unsupported format version."""
