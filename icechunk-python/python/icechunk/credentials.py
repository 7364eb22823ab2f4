"""Credentials of the object stores, as Icechunk 2.x names them.

Each store has a family: ``s3_credentials`` (and ``s3_static_credentials``,
``s3_from_env_credentials``, ``s3_anonymous_credentials``, ``s3_refreshable_credentials``),
``gcs_credentials`` and ``azure_credentials`` likewise. Each returns a variant of
``S3Credentials``, ``GcsCredentials`` or ``AzureCredentials``, which ``Storage.new_s3`` and
friends take; the ``*_storage`` functions of ``icechunk.storage`` build them from keyword
arguments.

Refreshable credentials call ``get_credentials`` (a picklable callable) when the
credentials it last returned are about to expire (``expires_after``), on a thread of the
engine; ``scatter_initial_credentials=True`` calls it once now, so that the copies of a
pickled storage start with those credentials instead of all calling it at once. The
callable is pickled with the storage, and so are the initial credentials.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from datetime import datetime

from icechunk._icechunk import (
    AzureCredentials,
    AzureRefreshableCredential,
    AzureStaticCredentials,
    Credentials,
    GcsBearerCredential,
    GcsCredentials,
    GcsStaticCredentials,
    S3Credentials,
    S3StaticCredentials,
)
from icechunk.errors import InvalidInputError

__all__ = [
    "AnyAzureCredential",
    "AnyAzureStaticCredential",
    "AnyCredential",
    "AnyGcsCredential",
    "AnyGcsStaticCredential",
    "AnyS3Credential",
    "AzureCredentials",
    "AzureRefreshableCredential",
    "AzureStaticCredentials",
    "Credentials",
    "GcsBearerCredential",
    "GcsCredentials",
    "GcsStaticCredentials",
    "HttpAccess",
    "LocalFileSystemAccess",
    "S3Credentials",
    "S3StaticCredentials",
    "azure_anonymous_credentials",
    "azure_credentials",
    "azure_from_env_credentials",
    "azure_refreshable_credentials",
    "azure_static_credentials",
    "containers_credentials",
    "gcs_anonymous_credentials",
    "gcs_credentials",
    "gcs_from_env_credentials",
    "gcs_refreshable_credentials",
    "gcs_static_credentials",
    "s3_anonymous_credentials",
    "s3_credentials",
    "s3_from_env_credentials",
    "s3_refreshable_credentials",
    "s3_static_credentials",
]

AnyS3Credential = (
    S3Credentials.Static
    | S3Credentials.Anonymous
    | S3Credentials.FromEnv
    | S3Credentials.Refreshable
)
AnyGcsStaticCredential = (
    GcsStaticCredentials.ServiceAccount
    | GcsStaticCredentials.ServiceAccountKey
    | GcsStaticCredentials.ApplicationCredentials
    | GcsStaticCredentials.BearerToken
)
AnyGcsCredential = (
    GcsCredentials.Anonymous
    | GcsCredentials.FromEnv
    | GcsCredentials.Static
    | GcsCredentials.Refreshable
)
AnyAzureStaticCredential = (
    AzureStaticCredentials.AccessKey
    | AzureStaticCredentials.SasToken
    | AzureStaticCredentials.BearerToken
)
AnyAzureCredential = (
    AzureCredentials.FromEnv
    | AzureCredentials.Anonymous
    | AzureCredentials.Static
    | AzureCredentials.Refreshable
)
AnyCredential = (
    Credentials.S3
    | Credentials.Gcs
    | Credentials.Azure
    | Credentials.LocalFileSystemAccess
    | Credentials.HttpAccess
)

#: Access to a ``file://`` virtual chunk container, which needs no credentials.
LocalFileSystemAccess = Credentials.LocalFileSystemAccess()
#: Access to an ``http(s)://`` virtual chunk container, which needs no credentials.
HttpAccess = Credentials.HttpAccess()


def _pickled(get_credentials: Callable[[], object]) -> bytes:
    """The callable, pickled now: one that cannot be pickled is refused at once."""
    if not callable(get_credentials):
        raise InvalidInputError(f"get_credentials must be callable, not {type(get_credentials)}")
    try:
        return pickle.dumps(get_credentials)
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise InvalidInputError(
            f"get_credentials must be picklable (a module-level function, or an instance of a "
            f"module-level class), so that storages and sessions can be pickled: {e}"
        ) from e


def _conflict(function: str) -> InvalidInputError:
    return InvalidInputError(f"Conflicting arguments to {function} function")


# ---- S3 --------------------------------------------------------------------------------------


def s3_refreshable_credentials(
    get_credentials: Callable[[], S3StaticCredentials],
    scatter_initial_credentials: bool = False,
) -> S3Credentials.Refreshable:
    """S3 credentials that ``get_credentials()`` returns, called again when they expire.

    ``scatter_initial_credentials=True`` calls it now, and the storage's copies (pickled to
    workers) start with that answer.
    """
    pickled = _pickled(get_credentials)
    current = get_credentials() if scatter_initial_credentials else None
    if current is not None and not isinstance(current, S3StaticCredentials):
        raise InvalidInputError(
            f"get_credentials must return S3StaticCredentials, not {type(current).__name__}"
        )
    return S3Credentials.Refreshable(pickled, current)


def s3_static_credentials(
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    expires_after: datetime | None = None,
) -> S3Credentials.Static:
    """An S3 key pair (with a session token for temporary credentials); requests fail after
    ``expires_after``."""
    return S3Credentials.Static(
        S3StaticCredentials(
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            expires_after=expires_after,
        )
    )


def s3_anonymous_credentials() -> S3Credentials.Anonymous:
    """Unsigned requests, for public buckets."""
    return S3Credentials.Anonymous()


def s3_from_env_credentials() -> S3Credentials.FromEnv:
    """Credentials from the environment (``AWS_*`` variables, then web identity, container
    and instance credentials), found where the storage is used."""
    return S3Credentials.FromEnv()


def s3_credentials(
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
) -> AnyS3Credential:
    """S3 credentials from one kind of argument: keys, ``anonymous``, ``from_env`` or
    ``get_credentials``; none at all means from the environment. Mixing kinds raises
    ``InvalidInputError`` (a ``ValueError``)."""
    no_keys = (
        access_key_id is None
        and secret_access_key is None
        and session_token is None
        and expires_after is None
    )
    if (from_env is None or from_env) and no_keys and not anonymous and get_credentials is None:
        return s3_from_env_credentials()
    if anonymous and no_keys and not from_env and get_credentials is None:
        return s3_anonymous_credentials()
    if get_credentials is not None and no_keys and not from_env and not anonymous:
        return s3_refreshable_credentials(
            get_credentials, scatter_initial_credentials=scatter_initial_credentials
        )
    if (
        access_key_id
        and secret_access_key
        and not from_env
        and not anonymous
        and get_credentials is None
    ):
        return s3_static_credentials(
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            expires_after=expires_after,
        )
    raise _conflict("s3_credentials")


# ---- GCS -------------------------------------------------------------------------------------


def gcs_static_credentials(
    *,
    service_account_file: str | None = None,
    service_account_key: str | None = None,
    application_credentials: str | None = None,
    bearer_token: str | None = None,
) -> AnyGcsStaticCredential:
    """Long-lived GCS credentials: the first of these given."""
    if service_account_file is not None:
        return GcsStaticCredentials.ServiceAccount(service_account_file)
    if service_account_key is not None:
        return GcsStaticCredentials.ServiceAccountKey(service_account_key)
    if application_credentials is not None:
        return GcsStaticCredentials.ApplicationCredentials(application_credentials)
    if bearer_token is not None:
        return GcsStaticCredentials.BearerToken(bearer_token)
    raise _conflict("gcs_static_credentials")


def gcs_refreshable_credentials(
    get_credentials: Callable[[], GcsBearerCredential],
    scatter_initial_credentials: bool = False,
) -> GcsCredentials.Refreshable:
    """GCS bearer tokens that ``get_credentials()`` returns, called again when they expire."""
    pickled = _pickled(get_credentials)
    current = get_credentials() if scatter_initial_credentials else None
    if current is not None and not isinstance(current, GcsBearerCredential):
        raise InvalidInputError(
            f"get_credentials must return GcsBearerCredential, not {type(current).__name__}"
        )
    return GcsCredentials.Refreshable(pickled, current)


def gcs_anonymous_credentials() -> GcsCredentials.Anonymous:
    """Unsigned requests, for public buckets."""
    return GcsCredentials.Anonymous()


def gcs_from_env_credentials() -> GcsCredentials.FromEnv:
    """Credentials from the environment (``GOOGLE_*`` variables, application default
    credentials, instance metadata)."""
    return GcsCredentials.FromEnv()


def gcs_credentials(
    *,
    service_account_file: str | None = None,
    service_account_key: str | None = None,
    application_credentials: str | None = None,
    bearer_token: str | None = None,
    from_env: bool | None = None,
    anonymous: bool | None = None,
    get_credentials: Callable[[], GcsBearerCredential] | None = None,
    scatter_initial_credentials: bool = False,
) -> AnyGcsCredential:
    """GCS credentials from one kind of argument; none at all means from the environment.
    Unlike Icechunk 2.x, ``anonymous=True`` with other credentials is refused rather than
    winning over them."""
    static = (
        service_account_file is not None
        or service_account_key is not None
        or application_credentials is not None
        or bearer_token is not None
    )
    if anonymous:
        if static or from_env or get_credentials is not None:
            raise _conflict("gcs_credentials")
        return gcs_anonymous_credentials()
    if (from_env is None or from_env) and not static and get_credentials is None:
        return gcs_from_env_credentials()
    if static and not from_env:
        return GcsCredentials.Static(
            gcs_static_credentials(
                service_account_file=service_account_file,
                service_account_key=service_account_key,
                application_credentials=application_credentials,
                bearer_token=bearer_token,
            )
        )
    if get_credentials is not None and not static and not from_env:
        return gcs_refreshable_credentials(
            get_credentials, scatter_initial_credentials=scatter_initial_credentials
        )
    raise _conflict("gcs_credentials")


# ---- Azure -----------------------------------------------------------------------------------


def azure_static_credentials(
    *,
    access_key: str | None = None,
    sas_token: str | None = None,
    bearer_token: str | None = None,
) -> AnyAzureStaticCredential:
    """Long-lived Azure credentials: exactly one of these."""
    if [access_key, sas_token, bearer_token].count(None) != 2:
        raise _conflict("azure_static_credentials")
    if access_key is not None:
        return AzureStaticCredentials.AccessKey(access_key)
    if sas_token is not None:
        return AzureStaticCredentials.SasToken(sas_token)
    assert bearer_token is not None
    return AzureStaticCredentials.BearerToken(bearer_token)


def azure_refreshable_credentials(
    get_credentials: Callable[[], AzureRefreshableCredential],
    scatter_initial_credentials: bool = False,
) -> AzureCredentials.Refreshable:
    """Azure credentials that ``get_credentials()`` returns, called again when they expire."""
    pickled = _pickled(get_credentials)
    current = get_credentials() if scatter_initial_credentials else None
    if current is not None and not isinstance(current, AzureRefreshableCredential):
        raise InvalidInputError(
            f"get_credentials must return an AzureRefreshableCredential, "
            f"not {type(current).__name__}"
        )
    return AzureCredentials.Refreshable(pickled, current)


def azure_from_env_credentials() -> AzureCredentials.FromEnv:
    """Credentials from the environment (``AZURE_*`` variables, then managed identity)."""
    return AzureCredentials.FromEnv()


def azure_anonymous_credentials() -> AzureCredentials.Anonymous:
    """Unsigned requests, for public containers."""
    return AzureCredentials.Anonymous()


def azure_credentials(
    *,
    access_key: str | None = None,
    sas_token: str | None = None,
    bearer_token: str | None = None,
    from_env: bool | None = None,
    anonymous: bool | None = None,
    get_credentials: Callable[[], AzureRefreshableCredential] | None = None,
    scatter_initial_credentials: bool = False,
) -> AnyAzureCredential:
    """Azure credentials from one kind of argument; none at all means from the environment.
    Unlike Icechunk 2.x, ``anonymous=True`` or ``get_credentials`` with other credentials is
    refused rather than winning over them."""
    static = access_key is not None or sas_token is not None or bearer_token is not None
    if anonymous:
        if static or from_env or get_credentials is not None:
            raise _conflict("azure_credentials")
        return azure_anonymous_credentials()
    if get_credentials is not None:
        if static or from_env:
            raise _conflict("azure_credentials")
        return azure_refreshable_credentials(
            get_credentials, scatter_initial_credentials=scatter_initial_credentials
        )
    if (from_env is None or from_env) and not static:
        return azure_from_env_credentials()
    if static and not from_env:
        return AzureCredentials.Static(
            azure_static_credentials(
                access_key=access_key, sas_token=sas_token, bearer_token=bearer_token
            )
        )
    raise _conflict("azure_credentials")


def containers_credentials(
    m: Mapping[
        str,
        AnyS3Credential
        | AnyGcsCredential
        | AnyAzureCredential
        | Credentials.LocalFileSystemAccess
        | Credentials.HttpAccess
        | None,
    ],
) -> dict[str, AnyCredential | None]:
    """Build a map of credentials for virtual chunk containers.

    ``m`` maps container url prefixes to credentials: S3, GCS and Azure ones are wrapped in
    ``Credentials.S3``/``Gcs``/``Azure``; the ``LocalFileSystemAccess`` (``file://``) and
    ``HttpAccess`` (``http(s)://``) sentinels and ``Credentials`` pass as they are. ``None``
    (deprecated) reads credentials from the environment when the repository opens. Pass the
    result as ``authorize_virtual_chunk_access``."""
    wrapped: dict[str, AnyCredential | None] = {}
    for prefix, credential in m.items():
        if credential is None or isinstance(credential, Credentials):
            wrapped[prefix] = credential
        elif isinstance(credential, S3Credentials):
            wrapped[prefix] = Credentials.S3(credential)
        elif isinstance(credential, GcsCredentials):
            wrapped[prefix] = Credentials.Gcs(credential)
        elif isinstance(credential, AzureCredentials):
            wrapped[prefix] = Credentials.Azure(credential)
        else:
            raise TypeError(
                f"the credentials for `{prefix}` must be S3, GCS or Azure credentials, or "
                f"LocalFileSystemAccess / HttpAccess, got {type(credential).__name__}"
            )
    return wrapped
