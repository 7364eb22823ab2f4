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

import warnings

# The submodules, as Icechunk 2.x offers them.
from icechunk import config as config
from icechunk import conflicts as conflicts
from icechunk import credentials as credentials
from icechunk import errors as errors
from icechunk import ops as ops
from icechunk import repository as repository
from icechunk import session as session
from icechunk import snapshots as snapshots
from icechunk import storage as storage
from icechunk import store as store
from icechunk import types as types
from icechunk import virtual as virtual
from icechunk._icechunk import (
    ChunkType,
    Diff,
    GCSummary,
    NetworkOptions,
    RepoAvailability,
    RepoStatus,
    SessionMode,
    SnapshotInfo,
    SpecVersion,
    __version__,
    spec_version,
    user_agent,
)
from icechunk._virtual_refs import VirtualChunkSpec
from icechunk.codec_pipeline import CodecPipeline
from icechunk.config import (
    Attribution,
    CachingConfig,
    CompressionAlgorithm,
    CompressionConfig,
    FeatureFlag,
    ManifestConfig,
    ManifestPreloadCondition,
    ManifestPreloadConfig,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
    ManifestSplittingConfig,
    ManifestVirtualChunkLocationCompressionConfig,
    RepositoryConfig,
    initialize_logs,
    set_logs_filter,
    shutdown_telemetry,
)
from icechunk.conflicts import (
    BasicConflictSolver,
    Conflict,
    ConflictDetector,
    ConflictSolver,
    ConflictType,
    VersionSelection,
)
from icechunk.credentials import (
    AnyAzureCredential,
    AnyAzureStaticCredential,
    AnyCredential,
    AnyGcsCredential,
    AnyGcsStaticCredential,
    AnyS3Credential,
    AzureCredentials,
    AzureRefreshableCredential,
    AzureStaticCredentials,
    Credentials,
    GcsBearerCredential,
    GcsCredentials,
    GcsStaticCredentials,
    S3Credentials,
    S3StaticCredentials,
    azure_anonymous_credentials,
    azure_credentials,
    azure_from_env_credentials,
    azure_refreshable_credentials,
    azure_static_credentials,
    containers_credentials,
    gcs_credentials,
    gcs_from_env_credentials,
    gcs_refreshable_credentials,
    gcs_static_credentials,
    s3_anonymous_credentials,
    s3_credentials,
    s3_from_env_credentials,
    s3_refreshable_credentials,
    s3_static_credentials,
)
from icechunk.errors import (
    AlreadyExistsError,
    ConflictError,
    ErrorKind,
    FormatError,
    IcechunkError,
    InternalError,
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
from icechunk.ops import Update, UpdateType
from icechunk.repository import Repository
from icechunk.session import ForkSession, Session
from icechunk.snapshots import AncestryGraph, ManifestFileInfo
from icechunk.storage import (
    ChecksumAlgorithm,
    S3Options,
    Storage,
    StorageConcurrencySettings,
    StorageRetriesSettings,
    StorageSettings,
    StorageTimeoutSettings,
    azure_storage,
    gcs_storage,
    http_storage,
    in_memory_storage,
    local_filesystem_storage,
    r2_storage,
    redirect_storage,
    s3_storage,
    tigris_storage,
)
from icechunk.store import IcechunkStore
from icechunk.types import CommitMethod
from icechunk.virtual import (
    AnyObjectStoreConfig,
    ObjectStoreConfig,
    VirtualChunkContainer,
    azure_store,
    gcs_store,
    http_store,
    local_filesystem_store,
    s3_store,
)

__all__ = [
    "AlreadyExistsError",
    "AncestryGraph",
    "AnyAzureCredential",
    "AnyAzureStaticCredential",
    "AnyCredential",
    "AnyGcsCredential",
    "AnyGcsStaticCredential",
    "AnyObjectStoreConfig",
    "AnyS3Credential",
    "Attribution",
    "AzureCredentials",
    "AzureRefreshableCredential",
    "AzureStaticCredentials",
    "BasicConflictSolver",
    "CachingConfig",
    "ChecksumAlgorithm",
    "ChunkType",
    "CodecPipeline",
    "CommitMethod",
    "CompressionAlgorithm",
    "CompressionConfig",
    "Conflict",
    "ConflictDetector",
    "ConflictError",
    "ConflictSolver",
    "ConflictType",
    "Credentials",
    "Diff",
    "ErrorKind",
    "FeatureFlag",
    "ForkSession",
    "FormatError",
    "GCSummary",
    "GcsBearerCredential",
    "GcsCredentials",
    "GcsStaticCredentials",
    "IcechunkError",
    "IcechunkStore",
    "InternalError",
    "InvalidInputError",
    "ManifestConfig",
    "ManifestFileInfo",
    "ManifestPreloadCondition",
    "ManifestPreloadConfig",
    "ManifestSplitCondition",
    "ManifestSplitDimCondition",
    "ManifestSplittingConfig",
    "ManifestVirtualChunkLocationCompressionConfig",
    "NetworkOptions",
    "NodeNotFoundError",
    "NotFoundError",
    "ObjectStoreConfig",
    "ReadOnlyError",
    "RebaseFailedError",
    "RefNotFoundError",
    "RepoAvailability",
    "RepoStatus",
    "Repository",
    "RepositoryConfig",
    "RepositoryNotFoundError",
    "S3Credentials",
    "S3Options",
    "S3StaticCredentials",
    "Session",
    "SessionMode",
    "SessionStateError",
    "SnapshotInfo",
    "SnapshotNotFoundError",
    "SpecVersion",
    "Storage",
    "StorageConcurrencySettings",
    "StorageError",
    "StorageRetriesSettings",
    "StorageSettings",
    "StorageTimeoutSettings",
    "Update",
    "UpdateType",
    "VersionSelection",
    "VirtualChunkContainer",
    "VirtualChunkSpec",
    "__version__",
    "azure_anonymous_credentials",
    "azure_credentials",
    "azure_from_env_credentials",
    "azure_refreshable_credentials",
    "azure_static_credentials",
    "azure_storage",
    "azure_store",
    "containers_credentials",
    "gcs_credentials",
    "gcs_from_env_credentials",
    "gcs_refreshable_credentials",
    "gcs_static_credentials",
    "gcs_storage",
    "gcs_store",
    "http_storage",
    "http_store",
    "in_memory_storage",
    "initialize_logs",
    "local_filesystem_storage",
    "local_filesystem_store",
    "print_debug_info",
    "r2_storage",
    "redirect_storage",
    "s3_anonymous_credentials",
    "s3_credentials",
    "s3_from_env_credentials",
    "s3_refreshable_credentials",
    "s3_static_credentials",
    "s3_storage",
    "s3_store",
    "set_logs_filter",
    "shutdown_telemetry",
    "spec_version",
    "supported_spec_versions",
    "tigris_storage",
    "upgrade_icechunk_repository",
    "user_agent",
    "virtual",
]


def print_debug_info() -> None:
    """Print the versions of the platform, Python, icechunk and the libraries it works with,
    for bug reports."""
    import platform
    from importlib import import_module

    print(f"platform:  {platform.platform()}")
    print(f"python:  {platform.python_version()}")
    print(f"icechunk:  {__version__}")
    print(f"format:  {int(spec_version())}")
    for package in ["zarr", "numcodecs", "numpy", "xarray", "dask"]:
        try:
            version = getattr(import_module(package), "__version__", "?")
        except ImportError:
            continue
        print(f"{package}:  {version}")


def supported_spec_versions() -> list[SpecVersion]:
    """The format versions this library reads and writes: version 1, the only one."""
    return [SpecVersion.v1]


def upgrade_icechunk_repository(
    repo: Repository,
    *,
    dry_run: bool,
    delete_unused_v1_files: bool = True,
    prefetch_concurrency: int | None = None,
) -> Repository:
    """Icechunk 2.x's migration of 1.x repositories to its format 2. This engine has one
    format version, so there is never anything to upgrade: raises ``SessionStateError``
    (kind ``invalid-repository-migration``), as Icechunk 2.x does for a repository that is
    already at the latest version."""
    raise SessionStateError(
        "this repository uses format version 1 of this engine, its only version: there is "
        "nothing to upgrade",
        ErrorKind.INVALID_REPOSITORY_MIGRATION,
    )


try:
    initialize_logs()
except InvalidInputError as _e:  # a bad ICECHUNK_LOG must not make the package unusable
    warnings.warn(f"icechunk logs stay off: {_e}", stacklevel=2)
