"""Type stubs of the compiled binding ``icechunk._icechunk`` (see icechunk-python/src)."""

import builtins
import datetime
import os
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, Self, final

from typing_extensions import disjoint_base

from icechunk._icechunk_credentials import (
    AzureCredentials as AzureCredentials,
)
from icechunk._icechunk_credentials import (
    AzureRefreshableCredential as AzureRefreshableCredential,
)
from icechunk._icechunk_credentials import AzureStaticCredentials as AzureStaticCredentials
from icechunk._icechunk_credentials import ChecksumAlgorithm as ChecksumAlgorithm
from icechunk._icechunk_credentials import Credentials as Credentials
from icechunk._icechunk_credentials import GcsBearerCredential as GcsBearerCredential
from icechunk._icechunk_credentials import GcsCredentials as GcsCredentials
from icechunk._icechunk_credentials import GcsStaticCredentials as GcsStaticCredentials
from icechunk._icechunk_credentials import S3Credentials as S3Credentials
from icechunk._icechunk_credentials import S3Options as S3Options
from icechunk._icechunk_credentials import S3StaticCredentials as S3StaticCredentials
from icechunk._icechunk_credentials import (
    _AnyAzureCredential,
    _AnyGcsCredential,
    _AnyS3Credential,
)
from icechunk._icechunk_credentials import _gcs_bearer_credential as _gcs_bearer_credential
from icechunk._icechunk_values import AncestryGraph as AncestryGraph
from icechunk._icechunk_values import Attribution as Attribution
from icechunk._icechunk_values import FeatureFlag as FeatureFlag
from icechunk._icechunk_values import ManifestFileInfo as ManifestFileInfo
from icechunk._icechunk_values import RepoAvailability as RepoAvailability
from icechunk._icechunk_values import RepoStatus as RepoStatus
from icechunk._icechunk_values import SpecVersion as SpecVersion
from icechunk._icechunk_values import (
    StorageConcurrencySettings as StorageConcurrencySettings,
)
from icechunk._icechunk_values import StorageRetriesSettings as StorageRetriesSettings
from icechunk._icechunk_values import StorageSettings as StorageSettings
from icechunk._icechunk_values import StorageTimeoutSettings as StorageTimeoutSettings
from icechunk._icechunk_values import Update as Update
from icechunk._icechunk_values import UpdateType as UpdateType
from icechunk._icechunk_values import _all_error_kinds as _all_error_kinds
from icechunk._icechunk_values import _api_samples as _api_samples
from icechunk._icechunk_values import initialize_logs as initialize_logs
from icechunk._icechunk_values import set_logs_filter as set_logs_filter
from icechunk._icechunk_values import spec_version as spec_version
from icechunk._icechunk_values import user_agent as user_agent

__all__ = [
    "AncestryGraph",
    "AncestryIterator",
    "Attribution",
    "AzureCredentials",
    "AzureRefreshableCredential",
    "AzureStaticCredentials",
    "BasicConflictSolver",
    "ChecksumAlgorithm",
    "ChunkStorageStats",
    "ChunkType",
    "ConflictDetector",
    "ConflictSolver",
    "Credentials",
    "Diff",
    "EngineConfig",
    "FeatureFlag",
    "Finished",
    "GCSummary",
    "GcsBearerCredential",
    "GcsCredentials",
    "GcsStaticCredentials",
    "ManifestFileInfo",
    "NetworkOptions",
    "PyRepository",
    "PySession",
    "PyStore",
    "RepoAvailability",
    "RepoStatus",
    "S3Credentials",
    "S3Options",
    "S3StaticCredentials",
    "SessionMode",
    "SnapshotInfo",
    "SpecVersion",
    "Storage",
    "StorageConcurrencySettings",
    "StorageRetriesSettings",
    "StorageSettings",
    "StorageTimeoutSettings",
    "Update",
    "UpdateType",
    "VersionSelection",
    "__version__",
    "_all_error_kinds",
    "_api_samples",
    "_check_virtual_chunk_container",
    "_gcs_bearer_credential",
    "_storage_from_state",
    "cli_main",
    "in_memory_storage",
    "initialize_logs",
    "local_filesystem_storage",
    "set_logs_filter",
    "spec_version",
    "user_agent",
]

__version__: str

@final
class Storage:
    """Where a repository lives: ``in_memory_storage``, ``local_filesystem_storage`` or a cloud
    constructor (``s3_storage``...). ``repr`` hides credentials; pickling keeps them."""

    @classmethod
    def new_s3(
        cls,
        config: S3Options,
        bucket: str,
        prefix: str | None,
        credentials: _AnyS3Credential | None = None,
        legacy_rooted_keys: bool | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        network: NetworkOptions | None = None,
        unsafe_single_writer: bool = False,
    ) -> Storage: ...
    @classmethod
    def new_s3_object_store(
        cls,
        config: S3Options,
        bucket: str,
        prefix: str | None,
        credentials: _AnyS3Credential | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        network: NetworkOptions | None = None,
    ) -> Storage: ...
    @classmethod
    def new_tigris(
        cls,
        config: S3Options,
        bucket: str,
        prefix: str | None,
        use_weak_consistency: bool,
        credentials: _AnyS3Credential | None = None,
        legacy_rooted_keys: bool | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        network: NetworkOptions | None = None,
    ) -> Storage: ...
    @classmethod
    def new_r2(
        cls,
        config: S3Options,
        bucket: str | None = None,
        prefix: str | None = None,
        account_id: str | None = None,
        credentials: _AnyS3Credential | None = None,
        legacy_rooted_keys: bool | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        network: NetworkOptions | None = None,
    ) -> Storage: ...
    @classmethod
    def new_in_memory(cls) -> Storage: ...
    @classmethod
    def new_local_filesystem(cls, path: str | os.PathLike[str]) -> Storage: ...
    @classmethod
    def new_gcs(
        cls,
        bucket: str,
        prefix: str | None,
        credentials: _AnyGcsCredential | None = None,
        *,
        config: dict[str, str] | None = None,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        endpoint_url: str | None = None,
        allow_http: bool = False,
        network: NetworkOptions | None = None,
    ) -> Storage: ...
    @classmethod
    def new_azure_blob(
        cls,
        account: str,
        container: str,
        prefix: str,
        credentials: _AnyAzureCredential | None = None,
        *,
        config: dict[str, str] | None = None,
        endpoint_url: str | None = None,
        allow_http: bool = False,
        network: NetworkOptions | None = None,
    ) -> Storage: ...
    @classmethod
    def new_http(
        cls,
        base_url: str,
        config: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        *,
        network: NetworkOptions | None = None,
    ) -> Storage: ...
    @classmethod
    def new_redirect(cls, base_url: str) -> Storage: ...
    def default_settings(self) -> StorageSettings: ...
    def with_settings(self, settings: StorageSettings) -> Storage: ...
    def _with_attribution(self, attribution: Attribution) -> Storage: ...
    def list_objects(
        self, settings: StorageSettings | None = None, prefix: str | None = None
    ) -> builtins.list[tuple[str, int]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

def in_memory_storage() -> Storage: ...
def local_filesystem_storage(path: str | os.PathLike[str]) -> Storage: ...
def _storage_from_state(
    kind: str,
    path: str | os.PathLike[str] | None = None,
    memory: tuple[int, int] | None = None,
    spec: bytes | None = None,
) -> Storage: ...

@final
class NetworkOptions:
    """Retries, backoff, timeouts (seconds) and large reads of a cloud storage."""

    max_retries: int
    initial_backoff: float
    max_backoff: float
    retry_timeout: float
    connect_timeout: float
    request_timeout: float
    stream_timeout: float
    large_read_threshold: int
    read_part_size: int
    read_concurrency: int
    def __new__(
        cls,
        *,
        max_retries: int | None = None,
        initial_backoff: float | None = None,
        max_backoff: float | None = None,
        retry_timeout: float | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        stream_timeout: float | None = None,
        large_read_threshold: int | None = None,
        read_part_size: int | None = None,
        read_concurrency: int | None = None,
    ) -> Self: ...
    @staticmethod
    def default() -> NetworkOptions: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, int | float]]: ...

@final
class EngineConfig:
    """This engine's settings of a repository (spec/format.md §11); ``RepositoryConfig``
    maps onto it."""

    inline_chunk_threshold_bytes: int
    compression_level: int
    snapshot_cache_size: int
    manifest_cache_bytes: int
    max_concurrent_requests: int
    manifest_shard_size: int
    inline_manifest_threshold_bytes: int
    num_snapshot_nodes: int
    num_chunk_refs: int
    get_partial_values_concurrency: int
    repo_update_attempts: int
    virtual_chunk_containers: str
    gc_min_grace_period_seconds: int
    def __new__(
        cls,
        *,
        inline_chunk_threshold_bytes: int | None = None,
        compression_level: int | None = None,
        snapshot_cache_size: int | None = None,
        manifest_cache_bytes: int | None = None,
        max_concurrent_requests: int | None = None,
        manifest_shard_size: int | None = None,
        inline_manifest_threshold_bytes: int | None = None,
        num_snapshot_nodes: int | None = None,
        num_chunk_refs: int | None = None,
        get_partial_values_concurrency: int | None = None,
        repo_update_attempts: int | None = None,
        virtual_chunk_containers: str | None = None,
        gc_min_grace_period_seconds: int | None = None,
    ) -> Self: ...
    @staticmethod
    def default() -> EngineConfig: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, int | str]]: ...

@final
class VersionSelection:
    """Which side wins a chunk both sides wrote."""

    Fail: VersionSelection
    UseOurs: VersionSelection
    UseTheirs: VersionSelection
    def __new__(cls, value: int) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...
    def __int__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...

@disjoint_base
class ConflictSolver:
    """The base class of conflict solvers; use ``ConflictDetector`` or ``BasicConflictSolver``."""

@final
class ConflictDetector(ConflictSolver):
    """Fails the rebase on any conflict; disjoint changes rebase cleanly."""

    def __new__(cls) -> Self: ...

@final
class BasicConflictSolver(ConflictSolver):
    """Settles chunks both sides wrote per ``on_chunk_conflict``; our deletion of a node they
    updated wins unless told to fail. Other conflicts fail."""

    def __new__(
        cls,
        *,
        on_chunk_conflict: VersionSelection = ...,
        fail_on_delete_of_updated_array: bool = False,
        fail_on_delete_of_updated_group: bool = False,
    ) -> Self: ...
    @property
    def on_chunk_conflict(self) -> VersionSelection: ...
    @property
    def fail_on_delete_of_updated_array(self) -> bool: ...
    @property
    def fail_on_delete_of_updated_group(self) -> bool: ...

@final
class ChunkType:
    """Where a chunk lives."""

    uninitialized: ChunkType
    native: ChunkType
    virtual: ChunkType
    inline: ChunkType
    def __int__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class SessionMode:
    """What a session may do."""

    readonly: SessionMode
    writable: SessionMode
    rearrange: SessionMode
    def __int__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class SnapshotInfo:
    @property
    def id(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def written_at(self) -> datetime.datetime: ...
    @property
    def message(self) -> str: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class AncestryIterator:
    def __iter__(self) -> Self: ...
    def __next__(self) -> SnapshotInfo: ...
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[SnapshotInfo]: ...

@final
class Diff:
    @property
    def new_groups(self) -> set[str]: ...
    @property
    def new_arrays(self) -> set[str]: ...
    @property
    def deleted_groups(self) -> set[str]: ...
    @property
    def deleted_arrays(self) -> set[str]: ...
    @property
    def updated_groups(self) -> set[str]: ...
    @property
    def updated_arrays(self) -> set[str]: ...
    @property
    def updated_chunks(self) -> dict[str, list[tuple[int, ...]]]: ...
    @property
    def moved_nodes(self) -> list[tuple[str, str]]: ...
    def is_empty(self) -> bool: ...

@final
class PyRepository:
    @staticmethod
    def create(
        storage: Storage,
        config: EngineConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Credentials | None] | None = None,
    ) -> PyRepository: ...
    @staticmethod
    def create_async(
        storage: Storage,
        config: EngineConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Credentials | None] | None = None,
    ) -> Awaitable[PyRepository]: ...
    @staticmethod
    def open(
        storage: Storage,
        config: EngineConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Credentials | None] | None = None,
    ) -> PyRepository: ...
    @staticmethod
    def open_async(
        storage: Storage,
        config: EngineConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Credentials | None] | None = None,
    ) -> Awaitable[PyRepository]: ...
    @staticmethod
    def open_or_create(
        storage: Storage,
        config: EngineConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Credentials | None] | None = None,
    ) -> PyRepository: ...
    @staticmethod
    def open_or_create_async(
        storage: Storage,
        config: EngineConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Credentials | None] | None = None,
    ) -> Awaitable[PyRepository]: ...
    @staticmethod
    def exists(storage: Storage) -> bool: ...
    @staticmethod
    def exists_async(storage: Storage) -> Awaitable[bool]: ...
    @property
    def config(self) -> EngineConfig: ...
    @property
    def authorized_virtual_container_prefixes(self) -> set[str]: ...
    def create_branch(self, name: str, snapshot_id: str) -> None: ...
    def create_branch_async(self, name: str, snapshot_id: str) -> Awaitable[None]: ...
    def list_branches(self) -> set[str]: ...
    def list_branches_async(self) -> Awaitable[set[str]]: ...
    def lookup_branch(self, name: str) -> str: ...
    def lookup_branch_async(self, name: str) -> Awaitable[str]: ...
    def delete_branch(self, name: str) -> None: ...
    def delete_branch_async(self, name: str) -> Awaitable[None]: ...
    def reset_branch(
        self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None
    ) -> None: ...
    def reset_branch_async(
        self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None
    ) -> Awaitable[None]: ...
    def create_tag(self, name: str, snapshot_id: str) -> None: ...
    def create_tag_async(self, name: str, snapshot_id: str) -> Awaitable[None]: ...
    def list_tags(self) -> set[str]: ...
    def list_tags_async(self) -> Awaitable[set[str]]: ...
    def lookup_tag(self, name: str) -> str: ...
    def lookup_tag_async(self, name: str) -> Awaitable[str]: ...
    def delete_tag(self, name: str) -> None: ...
    def delete_tag_async(self, name: str) -> Awaitable[None]: ...
    def lookup_snapshot(self, snapshot_id: str) -> SnapshotInfo: ...
    def lookup_snapshot_async(self, snapshot_id: str) -> Awaitable[SnapshotInfo]: ...
    def ancestry(
        self, *, branch: str | None = None, tag: str | None = None, snapshot_id: str | None = None
    ) -> AncestryIterator: ...
    def ancestry_async(
        self, *, branch: str | None = None, tag: str | None = None, snapshot_id: str | None = None
    ) -> Awaitable[AncestryIterator]: ...
    def diff(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Diff: ...
    def diff_async(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Awaitable[Diff]: ...
    def resolve_version(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: datetime.datetime | None = None,
    ) -> str: ...
    def resolve_version_async(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: datetime.datetime | None = None,
    ) -> Awaitable[str]: ...
    def readonly_session(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: datetime.datetime | None = None,
    ) -> PySession: ...
    def readonly_session_async(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: datetime.datetime | None = None,
    ) -> Awaitable[PySession]: ...
    def writable_session(self, branch: str) -> PySession: ...
    def writable_session_async(self, branch: str) -> Awaitable[PySession]: ...
    def rearrange_session(self, branch: str) -> PySession: ...
    def rearrange_session_async(self, branch: str) -> Awaitable[PySession]: ...
    def set_default_commit_metadata(self, metadata: dict[str, Any]) -> None: ...
    def default_commit_metadata(self) -> dict[str, Any]: ...
    def inspect_snapshot(self, snapshot_id: str) -> dict[str, Any]: ...
    def inspect_snapshot_async(self, snapshot_id: str) -> Awaitable[dict[str, Any]]: ...
    def inspect_manifest(self, manifest_id: str) -> dict[str, Any]: ...
    def inspect_manifest_async(self, manifest_id: str) -> Awaitable[dict[str, Any]]: ...
    def inspect_transaction_log(self, snapshot_id: str) -> dict[str, Any]: ...
    def inspect_transaction_log_async(self, snapshot_id: str) -> Awaitable[dict[str, Any]]: ...
    def inspect_repo_info(self) -> dict[str, Any]: ...
    def inspect_repo_info_async(self) -> Awaitable[dict[str, Any]]: ...
    @staticmethod
    def fetch_config(storage: Storage) -> EngineConfig | None: ...
    @staticmethod
    def fetch_config_async(storage: Storage) -> Awaitable[EngineConfig | None]: ...
    def reopen(
        self,
        config: EngineConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Credentials | None] | None = None,
    ) -> PyRepository: ...
    def get_status(self) -> RepoStatus: ...
    def get_status_async(self) -> Awaitable[RepoStatus]: ...
    def set_status(self, status: RepoStatus) -> None: ...
    def set_status_async(self, status: RepoStatus) -> Awaitable[None]: ...
    def get_metadata(self) -> dict[str, Any]: ...
    def get_metadata_async(self) -> Awaitable[dict[str, Any]]: ...
    def set_metadata(self, metadata: dict[str, Any]) -> None: ...
    def set_metadata_async(self, metadata: dict[str, Any]) -> Awaitable[None]: ...
    def update_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]: ...
    def update_metadata_async(self, metadata: dict[str, Any]) -> Awaitable[dict[str, Any]]: ...
    def feature_flags(self) -> list[FeatureFlag]: ...
    def feature_flags_async(self) -> Awaitable[list[FeatureFlag]]: ...
    def set_feature_flag(self, name: str, setting: bool | None) -> None: ...
    def set_feature_flag_async(self, name: str, setting: bool | None) -> Awaitable[None]: ...
    def save_config(self) -> None: ...
    def save_config_async(self) -> Awaitable[None]: ...
    def ops_log(self) -> list[Update]: ...
    def ops_log_async(self) -> Awaitable[list[Update]]: ...
    def chunk_storage_stats(self, max_concurrent_manifest_fetches: int) -> ChunkStorageStats: ...
    def chunk_storage_stats_async(
        self, max_concurrent_manifest_fetches: int
    ) -> Awaitable[ChunkStorageStats]: ...
    def ancestry_graph(
        self, branch: str | None, tag: str | None, snapshot_id: str | None, plain: bool
    ) -> AncestryGraph: ...
    def ancestry_graph_async(
        self, branch: str | None, tag: str | None, snapshot_id: str | None, plain: bool
    ) -> Awaitable[AncestryGraph]: ...
    def rewrite_manifests(
        self, message: str, branch: str, metadata: dict[str, Any] | None, amend: bool
    ) -> str: ...
    def rewrite_manifests_async(
        self, message: str, branch: str, metadata: dict[str, Any] | None, amend: bool
    ) -> Awaitable[str]: ...
    def list_manifest_files(self, snapshot_id: str) -> list[ManifestFileInfo]: ...
    def list_manifest_files_async(self, snapshot_id: str) -> Awaitable[list[ManifestFileInfo]]: ...
    def expire_snapshots(
        self,
        older_than: datetime.datetime,
        delete_expired_branches: bool,
        delete_expired_tags: bool,
    ) -> list[str]: ...
    def expire_snapshots_async(
        self,
        older_than: datetime.datetime,
        delete_expired_branches: bool,
        delete_expired_tags: bool,
    ) -> Awaitable[list[str]]: ...
    def garbage_collect(
        self,
        delete_object_older_than: datetime.datetime,
        dry_run: bool,
        max_concurrent_manifest_fetches: int,
        max_concurrent_deletes: int,
        progress: Callable[[str, int, int], object] | None,
    ) -> GCSummary: ...
    def garbage_collect_async(
        self,
        delete_object_older_than: datetime.datetime,
        dry_run: bool,
        max_concurrent_manifest_fetches: int,
        max_concurrent_deletes: int,
        progress: Callable[[str, int, int], object] | None,
    ) -> Awaitable[GCSummary]: ...

@final
class GCSummary:
    """What ``Repository.garbage_collect`` deleted (or, in a dry run, would delete)."""
    @property
    def bytes_deleted(self) -> int: ...
    @property
    def chunks_deleted(self) -> int: ...
    @property
    def manifests_deleted(self) -> int: ...
    @property
    def snapshots_deleted(self) -> int: ...
    @property
    def attributes_deleted(self) -> int: ...
    @property
    def transaction_logs_deleted(self) -> int: ...
    @property
    def objects_failed_to_delete(self) -> int: ...
    @property
    def throttled_batches(self) -> int: ...
    @property
    def delete_errors(self) -> list[str]: ...
    @property
    def skipped_phases(self) -> list[str]: ...
    @property
    def objects_kept_for_sessions(self) -> int: ...
    def _repr_html_(self) -> str: ...

@final
class ChunkStorageStats:
    """What a repository's chunks occupy, in bytes."""
    @property
    def native_bytes(self) -> int: ...
    @property
    def virtual_bytes(self) -> int: ...
    @property
    def inlined_bytes(self) -> int: ...
    @property
    def non_virtual_bytes(self) -> int: ...
    @property
    def total_bytes(self) -> int: ...

@final
class PySession:
    @property
    def read_only(self) -> bool: ...
    @property
    def snapshot_id(self) -> str: ...
    @property
    def branch(self) -> str | None: ...
    @property
    def has_uncommitted_changes(self) -> bool: ...
    def status(self) -> Diff: ...
    def discard_changes(self) -> None: ...
    def commit(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1000,
        allow_empty: bool = False,
    ) -> str: ...
    def commit_async(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1000,
        allow_empty: bool = False,
    ) -> Awaitable[str]: ...
    def rebase(self, solver: ConflictSolver) -> None: ...
    def rebase_async(self, solver: ConflictSolver) -> Awaitable[None]: ...
    @property
    def is_fork(self) -> bool: ...
    def fork(self) -> PySession: ...
    def merge(self, forks: builtins.list[PySession]) -> None: ...
    def merge_async(self, forks: builtins.list[PySession]) -> Awaitable[None]: ...
    @property
    def mode(self) -> SessionMode: ...
    def move_node(self, from_path: str, to_path: str) -> None: ...
    def move_node_async(self, from_path: str, to_path: str) -> Awaitable[None]: ...
    @property
    def config(self) -> EngineConfig: ...
    def amend(
        self, message: str, metadata: dict[str, Any] | None = None, *, allow_empty: bool = False
    ) -> str: ...
    def amend_async(
        self, message: str, metadata: dict[str, Any] | None = None, *, allow_empty: bool = False
    ) -> Awaitable[str]: ...
    def flush(self, message: str, *, metadata: dict[str, Any] | None = None) -> str: ...
    def flush_async(
        self, message: str, *, metadata: dict[str, Any] | None = None
    ) -> Awaitable[str]: ...
    def get_node_id(self, path: str) -> str: ...
    def get_node_id_async(self, path: str) -> Awaitable[str]: ...
    def chunk_type(self, array_path: str, chunk_coordinates: builtins.list[int]) -> ChunkType: ...
    def chunk_type_async(
        self, array_path: str, chunk_coordinates: builtins.list[int]
    ) -> Awaitable[ChunkType]: ...
    def shift_array(self, array_path: str, chunk_offset: builtins.list[int]) -> None: ...
    def shift_array_async(
        self, array_path: str, chunk_offset: builtins.list[int]
    ) -> Awaitable[None]: ...
    def reindex_plan(
        self,
        array_path: str,
        existing: builtins.list[builtins.list[int]],
        forward: Callable[[builtins.list[int]], Iterable[int] | None],
        backward: Callable[[builtins.list[int]], Iterable[int] | None] | None = None,
    ) -> builtins.list[tuple[builtins.list[int], builtins.list[int] | None]]: ...
    def apply_reindex(
        self,
        array_path: str,
        plan: builtins.list[tuple[builtins.list[int], builtins.list[int] | None]],
    ) -> None: ...
    def apply_reindex_async(
        self,
        array_path: str,
        plan: builtins.list[tuple[builtins.list[int], builtins.list[int] | None]],
    ) -> Awaitable[None]: ...
    def chunk_refs_list(
        self, array_path: str
    ) -> list[tuple[list[int], int, str, int, int, bytes | None]]: ...
    def chunk_refs_async(
        self, array_path: str
    ) -> Awaitable[list[tuple[list[int], int, str, int, int, bytes | None]]]: ...
    def chunk_coordinates_list(self, array_path: str) -> builtins.list[builtins.list[int]]: ...
    def chunk_coordinates_async(
        self, array_path: str
    ) -> Awaitable[builtins.list[builtins.list[int]]]: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes, repository: PyRepository | None = None) -> PySession: ...
    def store(self) -> PyStore: ...
    def set_virtual_refs_list(
        self,
        array_path: str,
        refs: builtins.list[tuple[builtins.list[int], str, int, int, str | int | None]],
        validate_containers: bool,
    ) -> builtins.list[builtins.list[int]]: ...
    def set_virtual_refs_grid(
        self,
        array_path: str,
        grid_shape: builtins.list[int],
        arr_offset: builtins.list[int] | None,
        locations: builtins.list[str],
        offsets: bytes,
        lengths: bytes,
        checksum: str | int | None,
        validate_containers: bool,
    ) -> builtins.list[builtins.list[int]]: ...
    def all_virtual_chunk_locations(self) -> builtins.list[str]: ...
    def all_virtual_chunk_locations_async(self) -> Awaitable[builtins.list[str]]: ...

@final
class PyStore:
    @property
    def read_only(self) -> bool: ...
    def get(
        self,
        key: str,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
    ) -> Awaitable[bytes | None]: ...
    def get_virtual_chunks(
        self, requests: builtins.list[tuple[str, int | None, int | None, int | None]]
    ) -> Awaitable[builtins.list[bytes | None]]: ...
    def read_batch_into(
        self,
        batch: builtins.list[Any],
        store: Any,
        out: Any,
        shape: builtins.list[int],
        item_size: int,
    ) -> Awaitable[builtins.list[bool] | None] | None: ...
    def write_batch_from(
        self,
        batch: builtins.list[Any],
        store: Any,
        value: Any,
        shape: builtins.list[int],
        item_size: int,
        write_empty_chunks: bool,
    ) -> Awaitable[bool] | None: ...
    def set(self, key: str, value: bytes) -> Awaitable[None]: ...
    def set_if_not_exists(self, key: str, value: bytes) -> Awaitable[bool]: ...
    def delete(self, key: str) -> Awaitable[None]: ...
    def delete_dir(self, prefix: str) -> Awaitable[None]: ...
    def exists(self, key: str) -> Awaitable[bool]: ...
    def list(self) -> Awaitable[builtins.list[str]]: ...
    def list_prefix(self, prefix: str) -> Awaitable[builtins.list[str]]: ...
    def list_dir(self, prefix: str) -> Awaitable[builtins.list[str]]: ...
    def getsize(self, key: str) -> Awaitable[int]: ...
    def getsize_prefix(self, prefix: str) -> Awaitable[int]: ...
    def get_sync(
        self,
        key: str,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
    ) -> bytes | None: ...
    def set_sync(self, key: str, value: bytes) -> None: ...
    def delete_sync(self, key: str) -> None: ...
    def delete_dir_sync(self, prefix: str) -> None: ...
    def set_virtual_ref(
        self,
        key: str,
        location: str,
        offset: int,
        length: int,
        checksum: str | int | None,
        validate_container: bool,
    ) -> None: ...

@final
class Finished:
    """An awaitable whose result is already known (a store call answered at once)."""

    def __await__(self) -> Generator[Any, None, Any]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> None: ...

def _check_virtual_chunk_container(container: str) -> None:
    """Checks a virtual chunk container (its JSON): ``InvalidInputError`` with the reason."""

def cli_main(argv: list[str]) -> int: ...
