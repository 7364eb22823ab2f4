"""Where repositories live: ``Storage`` and its constructors, as Icechunk 2.x names them.

``in_memory_storage``, ``local_filesystem_storage``, ``s3_storage`` (and the S3-compatibles
``r2_storage``, ``tigris_storage``), ``gcs_storage``, ``azure_storage``, ``http_storage``
(read-only) and ``redirect_storage`` (read-only, found by following HTTP redirects).

Beyond Icechunk 2.x's arguments, every cloud constructor takes ``network=``
(``NetworkOptions``: retries, backoff, timeouts, large reads); ``s3_storage`` takes
``unsafe_single_writer=`` (see the README), ``gcs_storage`` and ``azure_storage`` take
``endpoint_url=`` and ``allow_http=`` (emulators). Options this engine cannot honour raise
``InvalidInputError`` when set: ``legacy_rooted_keys=True``, ``use_weak_consistency=True``
(Tigris), a ``checksum_algorithm`` other than ``Sha256`` or ``Crc64Nvme``, and extra headers
that a request signature must cover (``x-amz-*`` on signed S3 requests, ``x-ms-*`` with an
Azure shared key).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from icechunk._icechunk import (
    ChecksumAlgorithm,
    ChunkType,
    GcsBearerCredential,
    NetworkOptions,
    S3Options,
    S3StaticCredentials,
    Storage,
    StorageConcurrencySettings,
    StorageRetriesSettings,
    StorageSettings,
    StorageTimeoutSettings,
)
from icechunk.credentials import (
    AnyS3Credential,
    azure_credentials,
    gcs_credentials,
    s3_credentials,
)
from icechunk.virtual import (
    AnyObjectStoreConfig,
    ObjectStoreConfig,
    azure_store,
    gcs_store,
    http_store,
    local_filesystem_store,
    s3_store,
)

__all__ = [
    "AnyObjectStoreConfig",
    "ChecksumAlgorithm",
    "ChunkType",
    "NetworkOptions",
    "ObjectStoreConfig",
    "S3Options",
    "Storage",
    "StorageConcurrencySettings",
    "StorageRetriesSettings",
    "StorageSettings",
    "StorageTimeoutSettings",
    "azure_storage",
    "azure_store",
    "gcs_storage",
    "gcs_store",
    "http_storage",
    "http_store",
    "in_memory_storage",
    "local_filesystem_storage",
    "local_filesystem_store",
    "r2_storage",
    "redirect_storage",
    "s3_object_store_storage",
    "s3_storage",
    "s3_store",
    "tigris_storage",
]


_CREDENTIAL_ARGS = (
    "access_key_id",
    "secret_access_key",
    "session_token",
    "expires_after",
    "anonymous",
    "from_env",
    "get_credentials",
    "scatter_initial_credentials",
)
_OPTION_ARGS = (
    "region",
    "endpoint_url",
    "allow_http",
    "force_path_style",
    "network_stream_timeout_seconds",
    "requester_pays",
    "checksum_algorithm",
)
_EXTRA_ARGS = ("read_headers", "write_headers", "headers", "network")


def _s3_parts(args: dict[str, Any]) -> tuple[AnyS3Credential, S3Options, dict[str, Any]]:
    """The credentials, ``S3Options`` and keyword arguments of ``Storage.new_s3`` and friends
    from the arguments of an ``*_storage`` function (its ``locals()``)."""
    credentials = s3_credentials(**{k: args[k] for k in _CREDENTIAL_ARGS if k in args})
    options = S3Options(
        anonymous=bool(args["anonymous"]), **{k: args[k] for k in _OPTION_ARGS if k in args}
    )
    return credentials, options, {k: args[k] for k in _EXTRA_ARGS}


def in_memory_storage() -> Storage:
    """A new, empty storage in this process's memory (gone with its last reference).

    It survives pickling within this process only."""
    return Storage.new_in_memory()


def local_filesystem_storage(path: str) -> Storage:
    """A folder of the local file system (created if missing)."""
    return Storage.new_local_filesystem(path)


def http_storage(
    base_url: str,
    opts: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    *,
    network: NetworkOptions | None = None,
) -> Storage:
    """A repository served over HTTP(S), read-only (GETs only; a write raises
    ``ReadOnlyError``).

    ``opts`` are ``object_store`` client options by name (e.g. ``{"timeout": "30s"}``);
    ``headers`` go with every request (e.g. ``{"authorization": "Bearer ..."}``).
    """
    return Storage.new_http(base_url, opts, headers, network=network)


def redirect_storage(base_url: str) -> Storage:
    """The read-only storage that the HTTP redirects of ``base_url`` lead to.

    ``base_url`` is requested now and redirects are followed (at most 10) until a location
    names a store: ``s3://bucket/prefix``, ``r2://...``, ``tigris://...``, ``gs://...``, or
    ``http+icechunk://host/path`` (``https+icechunk``, ``http+ic``, ``https+ic``) for a
    repository served over plain HTTP(S). A store location's query may set ``region``,
    ``endpoint_url``, ``account_id`` (R2), ``force_path_style``, ``allow_http``, and
    ``from_env=true`` to sign requests with the environment's credentials; they are unsigned
    otherwise. The storage pickles as the store it resolved to.
    """
    return Storage.new_redirect(base_url)


def s3_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int = 60,
    requester_pays: bool = False,
    checksum_algorithm: ChecksumAlgorithm | None = None,
    legacy_rooted_keys: bool | None = None,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    network: NetworkOptions | None = None,
    unsafe_single_writer: bool = False,
) -> Storage:
    """An S3 bucket, or one of an S3-compatible server at ``endpoint_url`` (MinIO, Ceph...).

    Credentials (see ``icechunk.credentials.s3_credentials``): keys, ``anonymous=True``,
    ``get_credentials`` (refreshed when they expire), or, by default, the environment's.
    ``network_stream_timeout_seconds`` fails a request when no bytes arrive for that long
    (0: never). ``requester_pays`` marks requests to requester-pays buckets. Headers are
    added to reads, writes, or both. ``unsafe_single_writer`` accepts a server that cannot
    create objects only if absent (one writer at a time only).
    """
    credentials, options, extra = _s3_parts(locals())
    return Storage.new_s3(
        options,
        bucket,
        prefix,
        credentials,
        legacy_rooted_keys,
        unsafe_single_writer=unsafe_single_writer,
        **extra,
    )


def s3_object_store_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    force_path_style: bool = False,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    network: NetworkOptions | None = None,
) -> Storage:
    """The same as ``s3_storage`` without refreshable credentials (every S3 storage of this
    engine is on ``object_store``)."""
    credentials, options, extra = _s3_parts(locals())
    return Storage.new_s3_object_store(options, bucket, prefix, credentials, **extra)


def tigris_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    use_weak_consistency: bool = False,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
    network_stream_timeout_seconds: int = 60,
    checksum_algorithm: ChecksumAlgorithm | None = None,
    legacy_rooted_keys: bool | None = None,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    network: NetworkOptions | None = None,
) -> Storage:
    """A Tigris bucket; every request asks for global strong consistency
    (``use_weak_consistency=True`` is refused: commits rely on it)."""
    credentials, options, extra = _s3_parts(locals())
    return Storage.new_tigris(
        options, bucket, prefix, use_weak_consistency, credentials, legacy_rooted_keys, **extra
    )


def r2_storage(
    *,
    bucket: str | None = None,
    prefix: str | None = None,
    account_id: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
    network_stream_timeout_seconds: int = 60,
    checksum_algorithm: ChecksumAlgorithm | None = None,
    legacy_rooted_keys: bool | None = None,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    network: NetworkOptions | None = None,
) -> Storage:
    """A Cloudflare R2 bucket: give the account id (or the full ``endpoint_url``)."""
    credentials, options, extra = _s3_parts(locals())
    return Storage.new_r2(
        options, bucket, prefix, account_id, credentials, legacy_rooted_keys, **extra
    )


def gcs_storage(
    *,
    bucket: str,
    prefix: str | None,
    service_account_file: str | None = None,
    service_account_key: str | None = None,
    application_credentials: str | None = None,
    bearer_token: str | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    config: dict[str, str] | None = None,
    get_credentials: Callable[[], GcsBearerCredential] | None = None,
    scatter_initial_credentials: bool = False,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    network: NetworkOptions | None = None,
) -> Storage:
    """A Google Cloud Storage bucket. Credentials: see
    ``icechunk.credentials.gcs_credentials``. ``config`` holds ``object_store`` GCS options
    by name; ``endpoint_url`` another base URL than Google's (an emulator)."""
    credentials = gcs_credentials(
        service_account_file=service_account_file,
        service_account_key=service_account_key,
        application_credentials=application_credentials,
        bearer_token=bearer_token,
        from_env=from_env,
        anonymous=anonymous,
        get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
    )
    return Storage.new_gcs(
        bucket,
        prefix,
        credentials,
        config=config,
        read_headers=read_headers,
        write_headers=write_headers,
        headers=headers,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        network=network,
    )


def azure_storage(
    *,
    account: str,
    container: str,
    prefix: str,
    access_key: str | None = None,
    sas_token: str | None = None,
    bearer_token: str | None = None,
    from_env: bool | None = None,
    anonymous: bool | None = None,
    config: dict[str, str] | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    network: NetworkOptions | None = None,
) -> Storage:
    """A container of an Azure storage account. Credentials: see
    ``icechunk.credentials.azure_credentials``. ``config`` holds ``object_store`` Azure options
    by name; ``endpoint_url`` another endpoint than the account's (Azurite)."""
    credentials = azure_credentials(
        access_key=access_key,
        sas_token=sas_token,
        bearer_token=bearer_token,
        from_env=from_env,
        anonymous=anonymous,
    )
    return Storage.new_azure_blob(
        account,
        container,
        prefix or "",
        credentials,
        config=config,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        network=network,
    )
