"""Type stubs of ``icechunk._icechunk``'s small value classes and functions (see
icechunk-python/src/api_types.rs and logs.rs). Stub-only: ``_icechunk.pyi`` re-exports these
names, and nothing imports this module at runtime."""

import builtins
import datetime
from typing import Any, Self, final

from typing_extensions import disjoint_base

@final
class RepoAvailability:
    """Whether a repository takes writes."""

    online: RepoAvailability
    read_only: RepoAvailability
    def __int__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class SpecVersion:
    """The versions of the on-storage format: one, ``v1``."""

    v1: SpecVersion
    @staticmethod
    def current() -> SpecVersion: ...
    def __int__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __lt__(self, value: object, /) -> bool: ...
    def __le__(self, value: object, /) -> bool: ...
    def __gt__(self, value: object, /) -> bool: ...
    def __ge__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

def spec_version() -> SpecVersion: ...
def user_agent() -> str: ...
def initialize_logs() -> None: ...
def set_logs_filter(log_filter_directive: str | None) -> None: ...
def _all_error_kinds() -> builtins.list[str]: ...
def _api_samples() -> dict[str, Any]: ...

@final
class RepoStatus:
    """Whether a repository takes writes, since when, and why not."""

    @property
    def availability(self) -> RepoAvailability: ...
    @property
    def set_at(self) -> datetime.datetime: ...
    @property
    def limited_availability_reason(self) -> str | None: ...
    def __new__(
        cls,
        availability: RepoAvailability,
        set_at: datetime.datetime | None = None,
        limited_availability_reason: str | None = None,
    ) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs__(self) -> tuple[RepoAvailability, datetime.datetime, str | None]: ...

@final
class Attribution:
    """Labels for the ``User-Agent`` of a repository's requests."""

    @property
    def client(self) -> str | None: ...
    @property
    def workload(self) -> str | None: ...
    @property
    def principal(self) -> str | None: ...
    def __new__(
        cls, *, client: str | None = None, workload: str | None = None, principal: str | None = None
    ) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, str | None]]: ...

@final
class FeatureFlag:
    """A repository feature that can be switched on or off."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def default_enabled(self) -> bool: ...
    @property
    def setting(self) -> bool | None: ...
    @property
    def enabled(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class ManifestFileInfo:
    """One manifest object of a snapshot."""

    @property
    def id(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def num_chunk_refs(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...

@disjoint_base
class UpdateType:
    """What an entry of the operations log records."""

    @final
    class RepoInitialized(UpdateType):
        __match_args__ = ()
        def __new__(cls) -> UpdateType.RepoInitialized: ...

    @final
    class RepoMigrated(UpdateType):
        __match_args__ = ("from_version", "to_version")
        def __new__(cls, from_version: int, to_version: int) -> UpdateType.RepoMigrated: ...
        @property
        def from_version(self) -> int: ...
        @property
        def to_version(self) -> int: ...

    @final
    class RepoStatusChanged(UpdateType):
        __match_args__ = ("status",)
        def __new__(cls, status: RepoStatus) -> UpdateType.RepoStatusChanged: ...
        @property
        def status(self) -> RepoStatus: ...

    @final
    class ConfigChanged(UpdateType):
        __match_args__ = ()
        def __new__(cls) -> UpdateType.ConfigChanged: ...

    @final
    class MetadataChanged(UpdateType):
        __match_args__ = ()
        def __new__(cls) -> UpdateType.MetadataChanged: ...

    @final
    class FeatureFlagChanged(UpdateType):
        __match_args__ = ("id", "new_value")
        def __new__(cls, id: int, new_value: bool | None) -> UpdateType.FeatureFlagChanged: ...
        @property
        def id(self) -> int: ...
        @property
        def new_value(self) -> bool | None: ...

    @final
    class TagCreated(UpdateType):
        __match_args__ = ("name",)
        def __new__(cls, name: str) -> UpdateType.TagCreated: ...
        @property
        def name(self) -> str: ...

    @final
    class TagDeleted(UpdateType):
        __match_args__ = ("name", "previous_snap_id")
        def __new__(cls, name: str, previous_snap_id: str) -> UpdateType.TagDeleted: ...
        @property
        def name(self) -> str: ...
        @property
        def previous_snap_id(self) -> str: ...

    @final
    class BranchCreated(UpdateType):
        __match_args__ = ("name",)
        def __new__(cls, name: str) -> UpdateType.BranchCreated: ...
        @property
        def name(self) -> str: ...

    @final
    class BranchDeleted(UpdateType):
        __match_args__ = ("name", "previous_snap_id")
        def __new__(cls, name: str, previous_snap_id: str) -> UpdateType.BranchDeleted: ...
        @property
        def name(self) -> str: ...
        @property
        def previous_snap_id(self) -> str: ...

    @final
    class BranchReset(UpdateType):
        __match_args__ = ("name", "previous_snap_id")
        def __new__(cls, name: str, previous_snap_id: str) -> UpdateType.BranchReset: ...
        @property
        def name(self) -> str: ...
        @property
        def previous_snap_id(self) -> str: ...

    @final
    class NewCommit(UpdateType):
        __match_args__ = ("branch", "new_snap_id")
        def __new__(cls, branch: str, new_snap_id: str) -> UpdateType.NewCommit: ...
        @property
        def branch(self) -> str: ...
        @property
        def new_snap_id(self) -> str: ...

    @final
    class CommitAmended(UpdateType):
        __match_args__ = ("branch", "previous_snap_id", "new_snap_id")
        def __new__(
            cls, branch: str, previous_snap_id: str, new_snap_id: str
        ) -> UpdateType.CommitAmended: ...
        @property
        def branch(self) -> str: ...
        @property
        def previous_snap_id(self) -> str: ...
        @property
        def new_snap_id(self) -> str: ...

    @final
    class NewDetachedSnapshot(UpdateType):
        __match_args__ = ("new_snap_id",)
        def __new__(cls, new_snap_id: str) -> UpdateType.NewDetachedSnapshot: ...
        @property
        def new_snap_id(self) -> str: ...

    @final
    class GCRan(UpdateType):
        __match_args__ = ()
        def __new__(cls) -> UpdateType.GCRan: ...

    @final
    class ExpirationRan(UpdateType):
        __match_args__ = ()
        def __new__(cls) -> UpdateType.ExpirationRan: ...

    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class Update:
    """One entry of the repository's operations log."""

    @property
    def kind(self) -> UpdateType: ...
    @property
    def updated_at(self) -> datetime.datetime: ...
    @property
    def backup_path(self) -> str | None: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class AncestryGraph:
    """A drawing of a repository's history: ``print()`` it, or let Jupyter show its SVG."""

    def _repr_svg_(self) -> str: ...

@final
class StorageConcurrencySettings:
    """How many requests read one object at once, and how large each is."""

    max_concurrent_requests_for_object: int | None
    ideal_concurrent_request_size: int | None
    def __new__(
        cls,
        max_concurrent_requests_for_object: int | None = None,
        ideal_concurrent_request_size: int | None = None,
    ) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs__(self) -> tuple[int | None, int | None]: ...

@final
class StorageRetriesSettings:
    """How often and how patiently failed requests are retried."""

    max_tries: int | None
    initial_backoff_ms: int | None
    max_backoff_ms: int | None
    def __new__(
        cls,
        max_tries: int | None = None,
        initial_backoff_ms: int | None = None,
        max_backoff_ms: int | None = None,
    ) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs__(self) -> tuple[int | None, int | None, int | None]: ...

@final
class StorageTimeoutSettings:
    """Timeouts of requests, in milliseconds."""

    connect_timeout_ms: int | None
    read_timeout_ms: int | None
    operation_timeout_ms: int | None
    operation_attempt_timeout_ms: int | None
    def __new__(
        cls,
        connect_timeout_ms: int | None = None,
        read_timeout_ms: int | None = None,
        operation_timeout_ms: int | None = None,
        operation_attempt_timeout_ms: int | None = None,
    ) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs__(self) -> tuple[int | None, int | None, int | None, int | None]: ...

@final
class StorageSettings:
    """How a repository talks to its storage; ``None`` fields keep the storage's own values."""

    concurrency: StorageConcurrencySettings | None
    retries: StorageRetriesSettings | None
    unsafe_use_conditional_create: bool | None
    unsafe_use_conditional_update: bool | None
    unsafe_use_metadata: bool | None
    storage_class: str | None
    metadata_storage_class: str | None
    chunks_storage_class: str | None
    minimum_size_for_multipart_upload: int | None
    timeouts: StorageTimeoutSettings | None
    def __new__(
        cls,
        concurrency: StorageConcurrencySettings | None = None,
        retries: StorageRetriesSettings | None = None,
        unsafe_use_conditional_create: bool | None = None,
        unsafe_use_conditional_update: bool | None = None,
        unsafe_use_metadata: bool | None = None,
        storage_class: str | None = None,
        metadata_storage_class: str | None = None,
        chunks_storage_class: str | None = None,
        minimum_size_for_multipart_upload: int | None = None,
        timeouts: StorageTimeoutSettings | None = None,
    ) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs__(self) -> tuple[Any, ...]: ...
