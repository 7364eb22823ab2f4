"""Virtual chunk containers and their authorization (Icechunk 2.3's API): the store configs,
containers in ``RepositoryConfig`` (validation, stored with the repository, pickled), and
``authorize_virtual_chunk_access`` on opening (prefixes, credential kinds, reopen, pickle).
Reading virtual chunks is tested with the stores that write them."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

import icechunk as ic
from icechunk import ObjectStoreConfig as O

S3 = ic.s3_store(region="us-east-1")


def container(prefix: str, store: ic.ObjectStoreConfig, name: str | None = None) -> Any:
    return ic.VirtualChunkContainer(prefix, store, name)


# ---- store configs and containers --------------------------------------------------------


def test_store_constructors_build_the_variants() -> None:
    assert isinstance(S3, O.S3) and isinstance(S3, ic.ObjectStoreConfig)
    assert S3._0.region == "us-east-1" and S3._0.network_stream_timeout_seconds == 60
    compatible = ic.s3_store(endpoint_url="http://127.0.0.1:9", allow_http=True, s3_compatible=True)
    assert isinstance(compatible, O.S3Compatible) and compatible._0.allow_http
    assert ic.gcs_store({"service_account": "x"})._0 == {"service_account": "x"}
    assert ic.gcs_store()._0 is None
    azure = ic.azure_store(account="acct", config={"use_emulator": "true"})
    assert azure == O.Azure({"account": "acct", "use_emulator": "true"})
    assert ic.storage.azure_store is ic.azure_store
    http = ic.http_store({"timeout": "5s"}, {"authorization": "Bearer t"})
    assert isinstance(http, O.Http) and (http._0, http._1) == (
        {"timeout": "5s"},
        {"authorization": "Bearer t"},
    )
    local = ic.local_filesystem_store("/data")
    assert local == O.LocalFileSystem("/data") and local._0 == Path("/data")
    assert repr(local) == "icechunk.config.ObjectStoreConfig.LocalFileSystem('/data')"
    assert "ObjectStoreConfig.S3(" in repr(S3)
    for store in (S3, compatible, http, local, O.InMemory(), O.Azure({"account_name": "a"})):
        assert pickle.loads(pickle.dumps(store)) == store
    assert S3 != compatible and O.Gcs(None) != O.Azure(None)
    assert ic.storage.s3_store is ic.s3_store and ic.config.ObjectStoreConfig is O
    with pytest.raises(TypeError):
        O.S3("not options")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        O.Gcs({"key": 1})  # type: ignore[dict-item]


def test_containers_compare_print_and_pickle() -> None:
    c = container("s3://bucket/data/", S3, "data")
    assert (c.url_prefix, c.name, c.store) == ("s3://bucket/data/", "data", S3)
    assert c == container("s3://bucket/data/", ic.s3_store(region="us-east-1"), "data")
    assert c != container("s3://bucket/data/", S3)
    assert pickle.loads(pickle.dumps(c)) == c
    assert 'url_prefix="s3://bucket/data/"' in repr(c) and 'name="data"' in repr(c)
    c.name = "renamed"
    assert c.name == "renamed"
    assert ic.virtual.VirtualChunkContainer is ic.VirtualChunkContainer
    with pytest.raises(TypeError):
        ic.VirtualChunkContainer("s3://b/", "s3")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix", "store"),
    [
        ("s3://bucket/", S3),
        ("s3://bucket/deep/folder/", ic.s3_store(s3_compatible=True, endpoint_url="http://h:9")),
        ("s3://bucket/", O.Tigris(ic.S3Options())),
        ("gs://bucket/", ic.gcs_store()),
        ("gcs://bucket/", ic.gcs_store()),
        ("az://container/", O.Azure({"account_name": "acct"})),
        ("abfs://container@acct.dfs.core.windows.net/", O.Azure(None)),
        ("https://example.com/data/", ic.http_store()),
        ("http://localhost:8080/", ic.http_store()),
        ("file:///data/", ic.local_filesystem_store("/data")),
    ],
)
def test_valid_containers_are_accepted(prefix: str, store: ic.ObjectStoreConfig) -> None:
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(container(prefix, store))
    assert config.get_virtual_chunk_container(prefix) == container(prefix, store)


@pytest.mark.parametrize(
    ("prefix", "store", "reason"),
    [
        ("s3://bucket", S3, "must end in a / character"),
        ("file:///data/", S3, "scheme `file` does not fit"),
        ("s3://bucket/", ic.local_filesystem_store("/data"), "scheme `s3` does not fit"),
        ("s3://bucket/", ic.gcs_store(), "scheme `s3` does not fit"),
        ("ftp://host/", ic.http_store(), "scheme `ftp`"),
        ("memory:///", O.InMemory(), "no url prefix"),
        ("/data/", ic.local_filesystem_store("/data"), "not an absolute URL"),
        ("s3:///", S3, "must name a bucket"),
        ("file:///", ic.local_filesystem_store("/"), "must name a folder"),
    ],
)
def test_invalid_containers_are_refused(
    prefix: str, store: ic.ObjectStoreConfig, reason: str
) -> None:
    config = ic.RepositoryConfig.default()
    with pytest.raises(ValueError, match=reason) as info:
        config.set_virtual_chunk_container(container(prefix, store))
    assert isinstance(info.value, ic.InvalidInputError)
    assert config.virtual_chunk_containers is None


def test_setting_replaces_by_prefix_or_name_and_clear_empties() -> None:
    config = ic.RepositoryConfig.default()
    assert config.virtual_chunk_containers is None
    config.set_virtual_chunk_container(container("s3://a/", S3, "first"))
    config.set_virtual_chunk_container(container("s3://b/", S3))
    assert set(config.virtual_chunk_containers or {}) == {"s3://a/", "s3://b/"}
    # Looked up by url prefix, as Icechunk 2.3 does.
    assert config.get_virtual_chunk_container("first") is None
    assert config.get_virtual_chunk_container("s3://b/") == container("s3://b/", S3)
    config.set_virtual_chunk_container(container("s3://a/", S3, "second"))
    assert (config.virtual_chunk_containers or {})["s3://a/"].name == "second"
    config.set_virtual_chunk_container(container("s3://c/", S3, "second"))
    assert set(config.virtual_chunk_containers or {}) == {"s3://b/", "s3://c/"}
    config.clear_virtual_chunk_containers()
    assert (
        config.virtual_chunk_containers is None
        and config.get_virtual_chunk_container("s3://b/") is None
    )


def test_containers_are_stored_with_the_repository(tmp_path: Path) -> None:
    config = ic.RepositoryConfig.default()
    stores = [
        container("s3://bucket/", ic.s3_store(region="eu-west-1", anonymous=True), "public"),
        container(
            "s3://other/",
            ic.s3_store(endpoint_url="http://h:9", allow_http=True, s3_compatible=True),
        ),
        container("gs://bucket/", ic.gcs_store({"service_account": "/key.json"})),
        container("https://example.com/", ic.http_store({"timeout": "5s"}, {"x-api": "k"})),
        container(f"file://{tmp_path}/data/", ic.local_filesystem_store(str(tmp_path / "data"))),
        container("az://c/", O.Azure({"account_name": "acct"})),
        container(
            "s3://checked/",
            ic.s3_store(region="r", checksum_algorithm=ic.ChecksumAlgorithm.Sha256),
        ),
    ]
    for c in stores:
        config.set_virtual_chunk_container(c)
    storage = ic.local_filesystem_storage(str(tmp_path / "repo"))
    repo = ic.Repository.create(storage, config=config)
    expected = {c.url_prefix: c for c in stores}
    assert repo.config.virtual_chunk_containers == expected
    assert ic.Repository.fetch_config(storage).virtual_chunk_containers == expected  # type: ignore[union-attr]
    assert ic.Repository.open(storage).config.virtual_chunk_containers == expected
    assert pickle.loads(pickle.dumps(repo.config)).virtual_chunk_containers == expected

    # A config saved later (with one container less) is what open applies.
    fewer = repo.config
    fewer.virtual_chunk_containers = {k: v for k, v in expected.items() if k != "az://c/"}
    reopened = repo.reopen(fewer)
    reopened.save_config()
    assert set(ic.Repository.open(storage).config.virtual_chunk_containers or {}) == set(
        expected
    ) - {"az://c/"}
    # Opening with a config without containers keeps the saved ones (configs merge).
    opened = ic.Repository.open(
        storage, config=ic.RepositoryConfig(inline_chunk_threshold_bytes=10)
    )
    assert set(opened.config.virtual_chunk_containers or {}) == set(expected) - {"az://c/"}


def test_a_bad_container_in_a_config_is_refused_on_create() -> None:
    config = ic.RepositoryConfig(virtual_chunk_containers={"s3://b": container("s3://b", S3)})
    with pytest.raises(ic.InvalidInputError, match="must end in a / character"):
        ic.Repository.create(ic.in_memory_storage(), config=config)


# ---- authorization --------------------------------------------------------------------


def configured(tmp_path: Path) -> tuple[ic.RepositoryConfig, str]:
    config = ic.RepositoryConfig.default()
    local = f"file://{tmp_path}/"
    config.set_virtual_chunk_container(container("s3://bucket/", S3))
    config.set_virtual_chunk_container(container(local, ic.local_filesystem_store(str(tmp_path))))
    config.set_virtual_chunk_container(container("https://h/", ic.http_store()))
    config.set_virtual_chunk_container(container("gs://g/", ic.gcs_store()))
    return config, local


def test_authorized_prefixes_follow_the_opening_and_reopen(tmp_path: Path) -> None:
    config, local = configured(tmp_path)
    storage = ic.in_memory_storage()
    plain = ic.Repository.create(storage, config=config)
    assert plain.authorized_virtual_container_prefixes == set()
    access = ic.containers_credentials(
        {
            "s3://bucket/": ic.s3_credentials(anonymous=True),
            local: ic.credentials.LocalFileSystemAccess,
            "https://h/": ic.credentials.HttpAccess,
            "gs://g/": ic.gcs_credentials(anonymous=True),
            "s3://no-container/": ic.s3_from_env_credentials(),
        }
    )
    repo = ic.Repository.open(storage, authorize_virtual_chunk_access=access)
    everything = {"s3://bucket/", local, "https://h/", "gs://g/", "s3://no-container/"}
    assert repo.authorized_virtual_container_prefixes == everything
    assert repo.reopen().authorized_virtual_container_prefixes == everything
    assert (
        repo.reopen(authorize_virtual_chunk_access={}).authorized_virtual_container_prefixes
        == set()
    )
    only_local = {local: ic.credentials.LocalFileSystemAccess}
    narrowed = repo.reopen(authorize_virtual_chunk_access=only_local)
    assert narrowed.authorized_virtual_container_prefixes == {local}
    # Pickled repositories and sessions keep their authorizations.
    assert pickle.loads(pickle.dumps(repo)).authorized_virtual_container_prefixes == everything
    session = pickle.loads(pickle.dumps(narrowed.readonly_session("main")))
    assert session._repository.authorized_virtual_container_prefixes == {local}


@pytest.mark.parametrize(
    "how", ["create", "open_or_create", "create_async", "open_or_create_async"]
)
def test_every_opening_takes_authorizations(how: str, tmp_path: Path) -> None:
    import asyncio

    config, local = configured(tmp_path)
    opener = getattr(ic.Repository, how)
    kwargs: dict[str, Any] = {
        "config": config,
        "authorize_virtual_chunk_access": {local: ic.credentials.LocalFileSystemAccess},
    }
    result = opener(ic.in_memory_storage(), **kwargs)
    repo = asyncio.run(result) if how.endswith("_async") else result
    assert repo.authorized_virtual_container_prefixes == {local}


def test_credentials_are_converted_and_checked_against_the_store(tmp_path: Path) -> None:
    config, local = configured(tmp_path)
    storage = ic.in_memory_storage()
    ic.Repository.create(storage, config=config)
    wrapped = ic.containers_credentials(
        {
            "s3://bucket/": ic.s3_credentials(
                access_key_id="AKIA", secret_access_key="Very-Secret-Value-123"
            ),
            "gs://g/": ic.gcs_credentials(bearer_token="token"),
            "az://c/": ic.azure_credentials(access_key="key"),
            local: ic.credentials.LocalFileSystemAccess,
            "https://h/": ic.credentials.HttpAccess,
            "s3://none/": None,
        }
    )
    assert isinstance(wrapped["s3://bucket/"], ic.Credentials.S3)
    assert isinstance(wrapped["gs://g/"], ic.Credentials.Gcs)
    assert isinstance(wrapped["az://c/"], ic.Credentials.Azure)
    assert wrapped[local] == ic.credentials.LocalFileSystemAccess and wrapped["s3://none/"] is None
    with pytest.raises(TypeError):
        ic.containers_credentials({"s3://bucket/": "not credentials"})  # type: ignore[dict-item]
    assert ic.containers_credentials({}) == {}

    with pytest.warns(DeprecationWarning, match="s3://none/"):
        repo = ic.Repository.open(storage, authorize_virtual_chunk_access=wrapped)
    assert "az://c/" in repo.authorized_virtual_container_prefixes
    assert "Very-Secret-Value-123" not in repr(
        pickle.loads(pickle.dumps(repo)).__getstate__()["authorizations"]
    )

    for prefix, wrong in [
        ("s3://bucket/", ic.credentials.LocalFileSystemAccess),
        (local, ic.Credentials.S3(ic.s3_credentials(anonymous=True))),
        ("https://h/", ic.credentials.LocalFileSystemAccess),
        ("gs://g/", ic.Credentials.Azure(ic.azure_credentials(access_key="k"))),
    ]:
        with pytest.raises(ic.InvalidInputError, match="do not fit") as info:
            ic.Repository.open(storage, authorize_virtual_chunk_access={prefix: wrong})
        assert info.value.kind == "invalid-credentials"
    with pytest.raises(TypeError, match=r"icechunk\.Credentials"):
        ic.Repository.open(
            storage,
            authorize_virtual_chunk_access={"s3://bucket/": ic.s3_credentials(anonymous=True)},
        )
    with pytest.raises(TypeError):
        ic.Repository.open(storage, authorize_virtual_chunk_access=["s3://bucket/"])  # type: ignore[arg-type]


def test_error_kinds_of_virtual_chunks_exist() -> None:
    kinds = set(ic._icechunk._all_error_kinds())
    for kind in (
        "unauthorized-virtual-chunk-container",
        "no-container-for-virtual-chunk",
        "invalid-virtual-ref",
        "virtual-chunk-modified",
        "virtual-chunk-fetch",
        "invalid-object-size",
    ):
        assert kind in kinds
        assert ic.ErrorKind(kind).value == kind
