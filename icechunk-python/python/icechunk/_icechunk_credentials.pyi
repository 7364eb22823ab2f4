"""Type stubs of ``icechunk._icechunk``'s S3 options and credential classes (see
icechunk-python/src/cloud). Stub-only: ``_icechunk.pyi`` re-exports these names, and nothing
imports this module at runtime."""

import datetime
from typing import Any, Self, TypeAlias, final

from typing_extensions import disjoint_base

@final
class ChecksumAlgorithm:
    """The checksum of uploads to S3: ``Sha256`` and ``Crc64Nvme`` are sent; the others are
    refused when a storage is made."""

    Crc32: ChecksumAlgorithm
    Crc32c: ChecksumAlgorithm
    Crc64Nvme: ChecksumAlgorithm
    Sha1: ChecksumAlgorithm
    Sha256: ChecksumAlgorithm
    def __int__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class S3Options:
    """How to reach an S3 or S3-compatible server."""

    region: str | None
    endpoint_url: str | None
    allow_http: bool
    anonymous: bool
    force_path_style: bool
    network_stream_timeout_seconds: int | None
    requester_pays: bool
    checksum_algorithm: ChecksumAlgorithm | None
    def __new__(
        cls,
        region: str | None = None,
        endpoint_url: str | None = None,
        allow_http: bool = False,
        anonymous: bool = False,
        force_path_style: bool = False,
        network_stream_timeout_seconds: int | None = None,
        requester_pays: bool = False,
        checksum_algorithm: ChecksumAlgorithm | None = None,
    ) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs__(self) -> tuple[Any, ...]: ...

@final
class S3StaticCredentials:
    """An S3 key pair (with a session token for temporary credentials) and its expiry."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    @property
    def expires_after(self) -> datetime.datetime | None: ...
    @expires_after.setter
    def expires_after(self, value: datetime.datetime | None) -> None: ...
    def __new__(
        cls,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None = None,
        expires_after: datetime.datetime | None = None,
    ) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs__(
        self,
    ) -> tuple[str, str, str | None, datetime.datetime | None]: ...

@disjoint_base
class S3Credentials:
    """How to authenticate to S3."""

    @final
    class FromEnv(S3Credentials):
        """Credentials from the environment (``AWS_*``, then the default chain)."""

        __match_args__ = ()

        def __new__(cls) -> S3Credentials.FromEnv: ...

    @final
    class Anonymous(S3Credentials):
        """Unsigned requests, for public buckets."""

        __match_args__ = ()

        def __new__(cls) -> S3Credentials.Anonymous: ...

    @final
    class Static(S3Credentials):
        """A key pair."""

        __match_args__ = ("_0",)
        def __new__(cls, _0: S3StaticCredentials) -> S3Credentials.Static: ...
        @property
        def _0(self) -> S3StaticCredentials: ...
        def __getitem__(self, key: int, /) -> S3StaticCredentials: ...
        def __len__(self) -> int: ...

    @final
    class Refreshable(S3Credentials):
        """Keys a pickled function returns, called again when they expire."""

        __match_args__ = ("pickled_function", "current")
        def __new__(
            cls, pickled_function: bytes, current: S3StaticCredentials | None
        ) -> S3Credentials.Refreshable: ...
        @property
        def pickled_function(self) -> bytes: ...
        @property
        def current(self) -> S3StaticCredentials | None: ...

    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

_AnyS3Credential: TypeAlias = (
    S3Credentials.Static
    | S3Credentials.Anonymous
    | S3Credentials.FromEnv
    | S3Credentials.Refreshable
)

@final
class GcsBearerCredential:
    """A Google Cloud Storage bearer token and its expiry."""

    bearer: str
    @property
    def expires_after(self) -> datetime.datetime | None: ...
    @expires_after.setter
    def expires_after(self, value: datetime.datetime | None) -> None: ...
    def __new__(cls, bearer: str, *, expires_after: datetime.datetime | None = None) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

def _gcs_bearer_credential(
    bearer: str, expires_after: datetime.datetime | None = None
) -> GcsBearerCredential: ...

@disjoint_base
class GcsStaticCredentials:
    """Long-lived Google Cloud Storage credentials."""

    @final
    class ServiceAccount(GcsStaticCredentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: str) -> GcsStaticCredentials.ServiceAccount: ...
        @property
        def _0(self) -> str: ...
        def __getitem__(self, key: int, /) -> str: ...
        def __len__(self) -> int: ...

    @final
    class ServiceAccountKey(GcsStaticCredentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: str) -> GcsStaticCredentials.ServiceAccountKey: ...
        @property
        def _0(self) -> str: ...
        def __getitem__(self, key: int, /) -> str: ...
        def __len__(self) -> int: ...

    @final
    class ApplicationCredentials(GcsStaticCredentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: str) -> GcsStaticCredentials.ApplicationCredentials: ...
        @property
        def _0(self) -> str: ...
        def __getitem__(self, key: int, /) -> str: ...
        def __len__(self) -> int: ...

    @final
    class BearerToken(GcsStaticCredentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: str) -> GcsStaticCredentials.BearerToken: ...
        @property
        def _0(self) -> str: ...
        def __getitem__(self, key: int, /) -> str: ...
        def __len__(self) -> int: ...

    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

_AnyGcsStaticCredential: TypeAlias = (
    GcsStaticCredentials.ServiceAccount
    | GcsStaticCredentials.ServiceAccountKey
    | GcsStaticCredentials.ApplicationCredentials
    | GcsStaticCredentials.BearerToken
)

@disjoint_base
class GcsCredentials:
    """How to authenticate to Google Cloud Storage."""

    @final
    class Anonymous(GcsCredentials):
        __match_args__ = ()
        def __new__(cls) -> GcsCredentials.Anonymous: ...

    @final
    class FromEnv(GcsCredentials):
        __match_args__ = ()
        def __new__(cls) -> GcsCredentials.FromEnv: ...

    @final
    class Static(GcsCredentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: _AnyGcsStaticCredential) -> GcsCredentials.Static: ...
        @property
        def _0(self) -> _AnyGcsStaticCredential: ...
        def __getitem__(self, key: int, /) -> _AnyGcsStaticCredential: ...
        def __len__(self) -> int: ...

    @final
    class Refreshable(GcsCredentials):
        __match_args__ = ("pickled_function", "current")
        def __new__(
            cls, pickled_function: bytes, current: GcsBearerCredential | None
        ) -> GcsCredentials.Refreshable: ...
        @property
        def pickled_function(self) -> bytes: ...
        @property
        def current(self) -> GcsBearerCredential | None: ...

    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

_AnyGcsCredential: TypeAlias = (
    GcsCredentials.Anonymous
    | GcsCredentials.FromEnv
    | GcsCredentials.Static
    | GcsCredentials.Refreshable
)

@disjoint_base
class AzureRefreshableCredential:
    """An Azure credential a refresh function returns, and its expiry."""

    @final
    class AccessKey(AzureRefreshableCredential):
        __match_args__ = ("key", "expires_after")
        def __new__(
            cls, key: str, expires_after: datetime.datetime | None
        ) -> AzureRefreshableCredential.AccessKey: ...
        @property
        def key(self) -> str: ...
        @property
        def expires_after(self) -> datetime.datetime | None: ...

    @final
    class SasToken(AzureRefreshableCredential):
        __match_args__ = ("token", "expires_after")
        def __new__(
            cls, token: str, expires_after: datetime.datetime | None
        ) -> AzureRefreshableCredential.SasToken: ...
        @property
        def token(self) -> str: ...
        @property
        def expires_after(self) -> datetime.datetime | None: ...

    @final
    class BearerToken(AzureRefreshableCredential):
        __match_args__ = ("bearer", "expires_after")
        def __new__(
            cls, bearer: str, expires_after: datetime.datetime | None
        ) -> AzureRefreshableCredential.BearerToken: ...
        @property
        def bearer(self) -> str: ...
        @property
        def expires_after(self) -> datetime.datetime | None: ...

    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@disjoint_base
class AzureStaticCredentials:
    """Long-lived Azure credentials."""

    @final
    class AccessKey(AzureStaticCredentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: str) -> AzureStaticCredentials.AccessKey: ...
        @property
        def _0(self) -> str: ...
        def __getitem__(self, key: int, /) -> str: ...
        def __len__(self) -> int: ...

    @final
    class SasToken(AzureStaticCredentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: str) -> AzureStaticCredentials.SasToken: ...
        @property
        def _0(self) -> str: ...
        def __getitem__(self, key: int, /) -> str: ...
        def __len__(self) -> int: ...

    @final
    class BearerToken(AzureStaticCredentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: str) -> AzureStaticCredentials.BearerToken: ...
        @property
        def _0(self) -> str: ...
        def __getitem__(self, key: int, /) -> str: ...
        def __len__(self) -> int: ...

    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

_AnyAzureStaticCredential: TypeAlias = (
    AzureStaticCredentials.AccessKey
    | AzureStaticCredentials.SasToken
    | AzureStaticCredentials.BearerToken
)

@disjoint_base
class AzureCredentials:
    """How to authenticate to Azure Blob Storage."""

    @final
    class Anonymous(AzureCredentials):
        __match_args__ = ()
        def __new__(cls) -> AzureCredentials.Anonymous: ...

    @final
    class FromEnv(AzureCredentials):
        __match_args__ = ()
        def __new__(cls) -> AzureCredentials.FromEnv: ...

    @final
    class Static(AzureCredentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: _AnyAzureStaticCredential) -> AzureCredentials.Static: ...
        @property
        def _0(self) -> _AnyAzureStaticCredential: ...
        def __getitem__(self, key: int, /) -> _AnyAzureStaticCredential: ...
        def __len__(self) -> int: ...

    @final
    class Refreshable(AzureCredentials):
        __match_args__ = ("pickled_function", "current")
        def __new__(
            cls, pickled_function: bytes, current: AzureRefreshableCredential | None
        ) -> AzureCredentials.Refreshable: ...
        @property
        def pickled_function(self) -> bytes: ...
        @property
        def current(self) -> AzureRefreshableCredential | None: ...

    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

_AnyAzureCredential: TypeAlias = (
    AzureCredentials.Anonymous
    | AzureCredentials.FromEnv
    | AzureCredentials.Static
    | AzureCredentials.Refreshable
)

@disjoint_base
class Credentials:
    """Credentials of any store (for virtual chunk containers)."""

    @final
    class S3(Credentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: _AnyS3Credential) -> Credentials.S3: ...
        @property
        def _0(self) -> _AnyS3Credential: ...
        def __getitem__(self, key: int, /) -> _AnyS3Credential: ...
        def __len__(self) -> int: ...

    @final
    class Gcs(Credentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: _AnyGcsCredential) -> Credentials.Gcs: ...
        @property
        def _0(self) -> _AnyGcsCredential: ...
        def __getitem__(self, key: int, /) -> _AnyGcsCredential: ...
        def __len__(self) -> int: ...

    @final
    class Azure(Credentials):
        __match_args__ = ("_0",)
        def __new__(cls, _0: _AnyAzureCredential) -> Credentials.Azure: ...
        @property
        def _0(self) -> _AnyAzureCredential: ...
        def __getitem__(self, key: int, /) -> _AnyAzureCredential: ...
        def __len__(self) -> int: ...

    @final
    class LocalFileSystemAccess(Credentials):
        __match_args__ = ()
        def __new__(cls) -> Credentials.LocalFileSystemAccess: ...

    @final
    class HttpAccess(Credentials):
        __match_args__ = ()
        def __new__(cls) -> Credentials.HttpAccess: ...

    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...
