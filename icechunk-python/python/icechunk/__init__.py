"""Icechunk: Zarr on ACID.

A transactional storage engine for Zarr v3: every write happens in a session and
becomes visible all at once with ``commit``; readers always see one whole version;
branches, tags and history give undo and time travel.

    import icechunk as ic, zarr
    repo = ic.Repository.create(ic.local_filesystem_storage("/tmp/repo"))
    with repo.transaction("main", message="first") as store:
        zarr.create_array(store, shape=(4,), dtype="i1", chunks=(2,))
    array = zarr.open_array(repo.readonly_session(branch="main").store)
"""

from icechunk._icechunk import (
    ChunkType,
    Diff,
    NetworkOptions,
    RepositoryConfig,
    SessionMode,
    SnapshotInfo,
    Storage,
    __version__,
    azure_storage,
    gcs_storage,
    http_storage,
    in_memory_storage,
    local_filesystem_storage,
    r2_storage,
    s3_storage,
    tigris_storage,
)
from icechunk.conflicts import (
    BasicConflictSolver,
    Conflict,
    ConflictDetector,
    ConflictSolver,
    ConflictType,
    VersionSelection,
)
from icechunk.errors import (
    AlreadyExistsError,
    ConflictError,
    FormatError,
    IcechunkError,
    InvalidInputError,
    NodeNotFoundError,
    NotFoundError,
    ReadOnlyError,
    RebaseFailedError,
    RefNotFoundError,
    RepositoryNotFoundError,
    SessionStateError,
    SnapshotNotFoundError,
    StorageError,
)
from icechunk.repository import Repository
from icechunk.session import Session
from icechunk.store import IcechunkStore

__all__ = [
    "AlreadyExistsError",
    "BasicConflictSolver",
    "ChunkType",
    "Conflict",
    "ConflictDetector",
    "ConflictError",
    "ConflictSolver",
    "ConflictType",
    "Diff",
    "FormatError",
    "IcechunkError",
    "IcechunkStore",
    "InvalidInputError",
    "NetworkOptions",
    "NodeNotFoundError",
    "NotFoundError",
    "ReadOnlyError",
    "RebaseFailedError",
    "RefNotFoundError",
    "Repository",
    "RepositoryConfig",
    "RepositoryNotFoundError",
    "Session",
    "SessionMode",
    "SessionStateError",
    "SnapshotInfo",
    "SnapshotNotFoundError",
    "Storage",
    "StorageError",
    "VersionSelection",
    "__version__",
    "azure_storage",
    "gcs_storage",
    "http_storage",
    "in_memory_storage",
    "local_filesystem_storage",
    "r2_storage",
    "s3_storage",
    "tigris_storage",
]
