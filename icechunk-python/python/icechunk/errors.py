"""The exception tree of icechunk.

The Rust core raises these by family (see ``icechunk-python/src/errors.rs``); each carries
``message`` (also ``str(e)``) and ``kind``, a stable code from ``ErrorKind`` that tells the
precise failure apart without a class per failure::

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
    ├── FormatError                   corrupt or unsupported objects
    └── InternalError                 a bug: please report it
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "ErrorKind",
    "FormatError",
    "IcechunkError",
    "InternalError",
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


class ErrorKind(enum.StrEnum):
    """The stable codes of ``IcechunkError.kind``: ``if e.kind == ErrorKind.REF_NOT_FOUND``.

    Icechunk 2.x's codes, and ``INVALID_INPUT`` for bad arguments that none of them names.
    Codes are only ever added. Not every code is raised by this engine (it has no virtual
    chunks, garbage collection or repository migrations); ``_icechunk._all_error_kinds()``
    lists those it raises.
    """

    # conflicts
    COMMIT_CONFLICT = "commit-conflict"
    BRANCH_UPDATE_CONFLICT = "branch-update-conflict"
    REBASE_FAILED = "rebase-failed"
    CONFIG_UPDATED = "config-updated"
    REPO_INFO_UPDATED = "repo-info-updated"
    UPDATE_ATTEMPTS_EXHAUSTED = "update-attempts-exhausted"
    GC_DELETES_FAILING = "gc-deletes-failing"
    # not found
    NODE_NOT_FOUND = "node-not-found"
    ANCESTOR_NODE_NOT_FOUND = "ancestor-node-not-found"
    CHUNK_NOT_FOUND = "chunk-not-found"
    KEY_NOT_FOUND = "key-not-found"
    SNAPSHOT_NOT_FOUND = "snapshot-not-found"
    NO_SNAPSHOT_AT_TIME = "no-snapshot-at-time"
    REF_NOT_FOUND = "ref-not-found"
    BRANCH_NOT_FOUND = "branch-not-found"
    TAG_NOT_FOUND = "tag-not-found"
    REPOSITORY_NOT_FOUND = "repository-not-found"
    MANIFEST_INFO_NOT_FOUND = "manifest-info-not-found"
    # already exists
    NODE_ALREADY_EXISTS = "node-already-exists"
    BRANCH_ALREADY_EXISTS = "branch-already-exists"
    TAG_ALREADY_EXISTS = "tag-already-exists"
    TAG_PREVIOUSLY_DELETED = "tag-previously-deleted"
    MOVE_WONT_OVERWRITE = "move-wont-overwrite"
    # read only
    READ_ONLY_SESSION = "read-only-session"
    READ_ONLY_STORE = "read-only-store"
    READ_ONLY_STORAGE = "read-only-storage"
    READ_ONLY_REPOSITORY = "read-only-repository"
    # invalid input
    INVALID_KEY = "invalid-key"
    INVALID_CHUNK_INDEX = "invalid-chunk-index"
    ZERO_LENGTH_CHUNK = "zero-length-chunk"
    INVALID_MANIFEST_SPLIT_INDEX = "invalid-manifest-split-index"
    INVALID_REF_TYPE = "invalid-ref-type"
    INVALID_REF_NAME = "invalid-ref-name"
    INVALID_SNAPSHOT_ID = "invalid-snapshot-id"
    INVALID_PATH = "invalid-path"
    BAD_KEY_PREFIX = "bad-key-prefix"
    BAD_METADATA = "bad-metadata"
    BAD_PREFIX = "bad-prefix"
    NOT_AN_ARRAY = "not-an-array"
    NOT_A_GROUP = "not-a-group"
    INVALID_BYTE_RANGE = "invalid-byte-range"
    INVALID_COMMIT_CONFIGURATION = "invalid-commit-configuration"
    INVALID_ARRAY_METADATA = "invalid-array-metadata"
    INVALID_FEATURE_FLAG = "invalid-feature-flag"
    INVALID_VIRTUAL_REF = "invalid-virtual-ref"
    INVALID_CREDENTIALS = "invalid-credentials"
    NO_CONTAINER_FOR_VIRTUAL_CHUNK = "no-container-for-virtual-chunk"
    UNAUTHORIZED_VIRTUAL_CHUNK_CONTAINER = "unauthorized-virtual-chunk-container"
    EMPTY_PREFIX_CREATION = "empty-prefix-creation"
    PARENT_DIRECTORY_NOT_CLEAN = "parent-directory-not-clean"
    BAD_SNAPSHOT_CHAIN_FOR_DIFF = "bad-snapshot-chain-for-diff"
    # session/repository state
    COMMIT_NOT_ALLOWED = "commit-not-allowed"
    MERGE_NOT_ALLOWED = "merge-not-allowed"
    CANNOT_FORK_READ_ONLY_SESSION = "cannot-fork-read-only-session"
    REARRANGE_SESSION_ONLY = "rearrange-session-only"
    NON_REARRANGE_SESSION = "non-rearrange-session"
    MOVE_INTO_SELF_OR_DESCENDANT = "move-into-self-or-descendant"
    MOVE_DESTINATION_PARENT_MISSING = "move-destination-parent-missing"
    MOVE_DESTINATION_PARENT_NOT_GROUP = "move-destination-parent-not-group"
    NO_CHANGES_TO_COMMIT = "no-changes-to-commit"
    NO_AMEND_FOR_INITIAL_COMMIT = "no-amend-for-initial-commit"
    NOT_ON_BRANCH = "not-on-branch"
    NO_SNAPSHOT = "no-snapshot"
    CANNOT_DELETE_MAIN = "cannot-delete-main"
    UNCOMMITTED_CHANGES = "uncommitted-changes"
    MERGE_FAILED = "merge-failed"
    NOT_ALLOWED = "not-allowed"
    UNIMPLEMENTED = "unimplemented"
    REBASE_TX_LOG_PRUNED = "rebase-tx-log-pruned"
    FEATURE_FLAG_DISABLED = "feature-flag-disabled"
    TAG_ERROR = "tag-error"
    INVALID_REPOSITORY_MIGRATION = "invalid-repository-migration"
    # storage / environment
    OBJECT_NOT_FOUND = "object-not-found"
    OBJECT_STORE = "object-store"
    IO = "io"
    STORAGE_CONFIG = "storage-config"
    CANNOT_PARSE_URL = "cannot-parse-url"
    BAD_REDIRECT = "bad-redirect"
    SEMAPHORE_ACQUIRE = "semaphore-acquire"
    THROTTLED = "throttled"
    STORAGE_OTHER = "storage-other"
    VIRTUAL_CHUNK_FETCH = "virtual-chunk-fetch"
    VIRTUAL_CHUNK_MODIFIED = "virtual-chunk-modified"
    INVALID_OBJECT_SIZE = "invalid-object-size"
    # format
    SERIALIZATION = "serialization"
    DESERIALIZATION = "deserialization"
    CONFIG_DESERIALIZATION = "config-deserialization"
    INVALID_FILE_FORMAT = "invalid-file-format"
    UNSUPPORTED_SPEC_VERSION = "unsupported-spec-version"
    UNSUPPORTED_OPERATION_FOR_VERSION = "unsupported-operation-for-version"
    SNAPSHOT_TIMESTAMP = "snapshot-timestamp"
    DUPLICATE_SNAPSHOT_ID = "duplicate-snapshot-id"
    # internal
    CONCURRENCY = "concurrency"
    FLUSH = "flush"
    PARTIAL_VALUES_PANIC = "partial-values-panic"
    CONFLICTING_PATH_NOT_FOUND = "conflicting-path-not-found"
    INCONSISTENT_MANIFESTS = "inconsistent-manifests"
    POISON_LOCK = "poison-lock"
    PICKLE = "pickle"
    UNKNOWN = "unknown"
    # this engine
    INVALID_INPUT = "invalid-input"


class IcechunkError(Exception):
    """Base class of every error raised by icechunk: ``message`` and ``kind``."""

    _default_kind = ErrorKind.UNKNOWN

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self._message = message
        self._kind = str(kind) if kind is not None else str(self._default_kind)

    @property
    def message(self) -> str:
        """What went wrong (also ``str(e)``)."""
        return self._message

    @property
    def kind(self) -> str:
        """The stable code of the failure, an ``ErrorKind`` value."""
        return self._kind

    def __str__(self) -> str:
        return self._message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(message={self._message!r}, kind={self._kind!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (type(self), (self._message, self._kind))


class ConflictError(IcechunkError):
    """The branch tip is no longer the snapshot this session started from.

    ``expected_parent`` is the snapshot the session was based on, ``actual_parent`` the
    branch's tip found at commit time (either may be None).
    """

    _default_kind = ErrorKind.COMMIT_CONFLICT

    def __init__(
        self,
        expected_parent: str | None = None,
        actual_parent: str | None = None,
        message: str | None = None,
        kind: str | None = None,
    ) -> None:
        if message is None:
            message = (
                f"the branch moved: this session is based on {expected_parent}, "
                f"but the tip is now {actual_parent}"
            )
        super().__init__(message, kind)
        self._expected_parent = expected_parent
        self._actual_parent = actual_parent

    @property
    def expected_parent(self) -> str | None:
        """The snapshot the session was based on."""
        return self._expected_parent

    @property
    def actual_parent(self) -> str | None:
        """The branch's tip when the commit was tried."""
        return self._actual_parent

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(expected_parent={self._expected_parent!r}, "
            f"actual_parent={self._actual_parent!r})"
        )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            type(self),
            (self._expected_parent, self._actual_parent, self._message, self._kind),
        )


class RebaseFailedError(ConflictError):
    """A rebase found conflicts its solver could not settle.

    ``snapshot`` is the commit whose changes conflict with ours; ``conflicts`` lists the
    unsettled conflicts (``icechunk.conflicts.Conflict``: ``conflict_type``, ``path``,
    ``conflicted_chunks``). The session is left as it was before the rebase.
    """

    _default_kind = ErrorKind.REBASE_FAILED

    def __init__(self, snapshot: str, conflicts: Iterable[Any]) -> None:
        from icechunk.conflicts import Conflict

        found: list[Conflict] = [c if isinstance(c, Conflict) else Conflict(*c) for c in conflicts]
        shown = "; ".join(_describe(c) for c in found[:20])
        message = f"rebase onto {snapshot} failed with {len(found)} unsolved conflict(s): {shown}"
        super().__init__(None, None, message)
        self._snapshot = snapshot
        self._conflicts = found

    @property
    def snapshot(self) -> str:
        """The snapshot whose changes conflict with the session's."""
        return self._snapshot

    @property
    def conflicts(self) -> list[Any]:
        """The conflicts left unsettled (``icechunk.conflicts.Conflict``)."""
        return self._conflicts

    def __repr__(self) -> str:
        return f"{type(self).__name__}(snapshot={self._snapshot!r}, conflicts={self._conflicts!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (type(self), (self._snapshot, self._conflicts))


def _describe(conflict: Any) -> str:
    """A conflict as the engine words it: ``ChunkDoubleUpdate at /a chunks [2], [5]``."""
    text = f"{conflict.conflict_type} at {conflict.path}"
    chunks = list(conflict.conflicted_chunks or ())
    if chunks:
        shown = ", ".join("[" + ", ".join(str(i) for i in c) + "]" for c in chunks[:10])
        text += f" chunks {shown}"
        if len(chunks) > 10:
            text += f" and {len(chunks) - 10} more"
    return text


class NotFoundError(IcechunkError, KeyError):
    """Something asked for does not exist (also a ``KeyError``)."""


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
    """A write through a read-only session, store or storage."""


class InvalidInputError(IcechunkError, ValueError):
    """An argument the engine cannot accept (bad key, ref name, id, option...); also a
    ``ValueError``."""

    _default_kind = ErrorKind.INVALID_INPUT


class SessionStateError(IcechunkError):
    """The session cannot do this now (for example, pickle with uncommitted changes)."""


class StorageError(IcechunkError):
    """The object store failed, or is misconfigured."""


class FormatError(IcechunkError):
    """An object in storage is corrupt or of an unsupported format version."""


class InternalError(IcechunkError):
    """An unexpected failure inside icechunk: a bug worth reporting."""
