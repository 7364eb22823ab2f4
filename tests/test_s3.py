"""Cloud storages: the constructors, their repr and pickling, and the Python API on a real
S3-compatible server (moto's, on 127.0.0.1; see the ``moto_server`` fixture in conftest)."""

from __future__ import annotations

import base64
import json
import multiprocessing as mp
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from conftest import MOTO_SECRET_ACCESS_KEY, MotoServer, make_storage
from test_api import (
    read_array,
    test_as_of,
    test_branches,
    test_commit_metadata_round_trips,
    test_diff,
    test_pickle_readonly_session_and_store,
    test_readonly_session_refuses_writes,
    test_session_properties_status_and_discard,
    test_snapshot_id_errors,
    test_tags,
    test_transaction,
    test_write_commit_read_and_history,
    write_array,
)

import icechunk as ic
from test_talk import collect

# The API tests imported above run here again, on every kind of storage: pytest collects
# imported test functions with this module's fixtures (`repo`, `local_repo` below).
__all__ = [
    "test_as_of",
    "test_branches",
    "test_commit_metadata_round_trips",
    "test_diff",
    "test_pickle_readonly_session_and_store",
    "test_readonly_session_refuses_writes",
    "test_session_properties_status_and_discard",
    "test_snapshot_id_errors",
    "test_tags",
    "test_transaction",
    "test_write_commit_read_and_history",
]

spawn = mp.get_context("spawn")


@pytest.fixture(params=["memory", "local", "s3"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> ic.Repository:
    return ic.Repository.create(make_storage(request.param, request, tmp_path))


@pytest.fixture(params=["local", "s3"])
def local_repo(request: pytest.FixtureRequest, tmp_path: Path) -> ic.Repository:
    """A repository that other processes can open too."""
    return ic.Repository.create(make_storage(request.param, request, tmp_path))


# ---- constructors --------------------------------------------------------------------------
SECRET = "sEcReT-VaLuE-0123456789"


def _pem_key() -> str:
    # cryptography comes with moto.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


GCS_PEM = _pem_key()
GCS_KEY = json.dumps(
    {
        "type": "service_account",
        "private_key_id": "k1",
        "private_key": GCS_PEM,
        "client_email": "x@y.iam.gserviceaccount.com",
    }
)
AZURE_KEY = base64.b64encode(SECRET.encode()).decode()

CLOUD_STORAGES: dict[str, Any] = {
    "s3": lambda: ic.s3_storage(
        bucket="b",
        prefix="p",
        region="us-east-1",
        access_key_id="AKIAEXAMPLE",
        secret_access_key=SECRET,
        session_token=SECRET + "-token",
    ),
    "s3-endpoint": lambda: ic.s3_storage(
        bucket="b",
        prefix="p",
        endpoint_url="http://127.0.0.1:9",
        allow_http=True,
        access_key_id="AKIAEXAMPLE",
        secret_access_key=SECRET,
        force_path_style=True,
    ),
    "s3-anonymous": lambda: ic.s3_storage(bucket="b", prefix=None, anonymous=True),
    "r2": lambda: ic.r2_storage(
        bucket="b", prefix="p", account_id="abc123", access_key_id="k", secret_access_key=SECRET
    ),
    "tigris": lambda: ic.tigris_storage(
        bucket="b", prefix="p", access_key_id="k", secret_access_key=SECRET
    ),
    "gcs-key": lambda: ic.gcs_storage(
        bucket="b",
        prefix="p",
        service_account_key=GCS_KEY,
    ),
    "gcs-token": lambda: ic.gcs_storage(bucket="b", prefix="p", bearer_token=SECRET),
    "gcs-anonymous": lambda: ic.gcs_storage(bucket="b", prefix="p", anonymous=True),
    "azure-key": lambda: ic.azure_storage(
        account="acct", container="c", prefix="p", access_key=AZURE_KEY
    ),
    "azure-sas": lambda: ic.azure_storage(
        account="acct", container="c", prefix="p", sas_token=f"?sv=2022-11-02&sig={SECRET}"
    ),
    "azure-token": lambda: ic.azure_storage(
        account="acct", container="c", prefix="p", bearer_token=SECRET
    ),
    "http": lambda: ic.http_storage(f"https://user:{SECRET}@example.com/repo?sig={SECRET}"),
}


@pytest.mark.parametrize("kind", sorted(CLOUD_STORAGES))
def test_cloud_storage_repr_hides_credentials_and_pickles(kind: str) -> None:
    storage = CLOUD_STORAGES[kind]()
    text = repr(storage)
    assert SECRET not in text and AZURE_KEY not in text and "PRIVATE KEY" not in text
    assert text.split("(")[0] in {
        "s3_storage",
        "r2_storage",
        "tigris_storage",
        "gcs_storage",
        "azure_storage",
        "http_storage",
    }
    copy = pickle.loads(pickle.dumps(storage))
    assert copy == storage and repr(copy) == text
    assert storage == CLOUD_STORAGES[kind]()  # same spec, same storage


def test_cloud_storage_reprs() -> None:
    assert repr(CLOUD_STORAGES["s3-anonymous"]()) == (
        's3_storage(bucket="b", prefix="", credentials=anonymous)'
    )
    assert 'endpoint_url="https://abc123.r2.cloudflarestorage.com"' in repr(CLOUD_STORAGES["r2"]())
    assert "credentials=sas_token" in repr(CLOUD_STORAGES["azure-sas"]())
    assert repr(CLOUD_STORAGES["http"]()) == 'http_storage("https://***@example.com/repo?***")'
    assert CLOUD_STORAGES["s3"]() != CLOUD_STORAGES["s3-endpoint"]()
    # Without keys, credentials come from the environment (AWS_*), as in Icechunk 2.x; and as
    # there, from_env=False without other credentials is a contradiction.
    assert "credentials=from_env" in repr(ic.s3_storage(bucket="b", prefix="p"))
    with pytest.raises(ic.InvalidInputError):
        ic.s3_storage(bucket="b", prefix="p", from_env=False)
    assert "credentials=from_env" in repr(ic.gcs_storage(bucket="b", prefix="p"))
    with pytest.raises(ic.InvalidInputError):
        ic.gcs_storage(bucket="b", prefix="p", from_env=False)
    assert "credentials=from_env" in repr(ic.azure_storage(account="a", container="c", prefix=""))


@pytest.mark.parametrize(
    "make",
    [
        lambda: ic.s3_storage(bucket="", prefix="p"),
        lambda: ic.s3_storage(bucket="a/b", prefix="p"),
        lambda: ic.s3_storage(bucket="b", prefix="p", access_key_id="k"),
        lambda: ic.s3_storage(bucket="b", prefix="p", session_token=SECRET),
        lambda: ic.s3_storage(
            bucket="b", prefix="p", anonymous=True, access_key_id="k", secret_access_key=SECRET
        ),
        lambda: ic.s3_storage(bucket="b", prefix="p", endpoint_url="http://127.0.0.1:9"),
        lambda: ic.s3_storage(bucket="b", prefix="p", endpoint_url=f"ftp://{SECRET}@host"),
        lambda: ic.r2_storage(bucket="b", prefix="p"),
        lambda: ic.gcs_storage(bucket="b", prefix="p", bearer_token=SECRET, anonymous=True),
        lambda: ic.gcs_storage(
            bucket="b", prefix="p", service_account_key=json.dumps({"private_key": SECRET})
        ),
        lambda: ic.azure_storage(account="a", container="c", prefix="p", sas_token="not a sas"),
        lambda: ic.azure_storage(
            account="a", container="c", prefix="p", access_key=SECRET, bearer_token=SECRET
        ),
        lambda: ic.http_storage(f"ftp://u:{SECRET}@example.com/"),
        lambda: ic.NetworkOptions(initial_backoff=-1.0),
        lambda: ic.s3_storage(
            bucket="b", prefix="p", network=ic.NetworkOptions(read_concurrency=0)
        ),
    ],
)
def test_bad_cloud_arguments_are_refused_without_leaking(make: Any) -> None:
    with pytest.raises(ic.InvalidInputError) as info:
        make()
    assert SECRET not in str(info.value)


def test_network_options() -> None:
    default = ic.NetworkOptions.default()
    assert default == ic.NetworkOptions() and default.max_retries == 10
    fast = ic.NetworkOptions(max_retries=1, initial_backoff=0.01, max_backoff=0.02)
    assert (fast.max_retries, fast.initial_backoff, fast.request_timeout) == (1, 0.01, 60.0)
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert "initial_backoff=0.01" in repr(fast)
    a = ic.s3_storage(bucket="b", prefix="p", anonymous=True, network=fast)
    assert a != ic.s3_storage(bucket="b", prefix="p", anonymous=True)
    assert pickle.loads(pickle.dumps(a)) == a


# ---- on moto -------------------------------------------------------------------------------
def test_s3_round_trip_and_reopen(moto_server: MotoServer) -> None:
    storage = moto_server.storage()
    assert not ic.Repository.exists(storage)
    with pytest.raises(ic.RepositoryNotFoundError):
        ic.Repository.open(storage)
    repo = ic.Repository.create(storage)
    sid = write_array(repo, 7, "sevens")
    # A storage built again from the same arguments, and one that went through pickle.
    for other in (moto_server.storage(_prefix(storage)), pickle.loads(pickle.dumps(storage))):
        reopened = ic.Repository.open(other)
        assert reopened.lookup_branch("main") == sid
        np.testing.assert_array_equal(read_array(reopened.readonly_session(branch="main")), 7)
    with pytest.raises(ic.AlreadyExistsError):
        ic.Repository.create(moto_server.storage(_prefix(storage)))


def _prefix(storage: ic.Storage) -> str:
    return repr(storage).split('prefix="')[1].split('"')[0]


def test_s3_large_chunks_use_ranged_reads(moto_server: MotoServer) -> None:
    network = ic.NetworkOptions(
        max_retries=2, initial_backoff=0.01, large_read_threshold=1000, read_part_size=700
    )
    repo = ic.Repository.create(moto_server.storage(network=network))
    data = np.arange(100_000, dtype="u4").reshape(100, 1000)
    with repo.transaction("main", message="big") as store:
        zarr.create_array(store, name="a", data=data, chunks=(50, 1000), compressors=None)
    got = zarr.open_array(repo.readonly_session(branch="main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(got, data)


def test_s3_errors_are_typed_and_hide_credentials(moto_server: MotoServer) -> None:
    missing = moto_server.storage(bucket="no-such-bucket")
    assert not ic.Repository.exists(missing)
    with pytest.raises(ic.IcechunkError) as info:
        ic.Repository.create(missing)
    assert MOTO_SECRET_ACCESS_KEY not in str(info.value)
    assert MOTO_SECRET_ACCESS_KEY not in repr(missing)
    # Nothing listens there: a storage error once the (few, fast) retries are spent.
    dead = moto_server.storage(
        endpoint_url="http://127.0.0.1:9",
        network=ic.NetworkOptions(max_retries=1, initial_backoff=0.01, connect_timeout=1.0),
    )
    with pytest.raises(ic.StorageError) as dead_info:
        ic.Repository.exists(dead)
    assert MOTO_SECRET_ACCESS_KEY not in str(dead_info.value)


def test_http_storage_on_a_private_bucket_fails_typed(moto_server: MotoServer) -> None:
    """Plain HTTP reads of a bucket that wants signed requests: a typed error, never a hang
    or a wrong answer."""
    s3 = moto_server.storage()
    ic.Repository.create(s3)
    http = ic.http_storage(
        f"{moto_server.endpoint}/icechunk-tests/{_prefix(s3)}",
        network=ic.NetworkOptions(max_retries=1, initial_backoff=0.01),
    )
    for action in (ic.Repository.open, ic.Repository.create):
        with pytest.raises((ic.StorageError, ic.ReadOnlyError)):
            action(http)


def test_http_storage_reads_a_repository_from_a_static_file_server(
    static_http_server: tuple[Path, str],
) -> None:
    """A repository published as plain files (a static web server, a public bucket's HTTP
    endpoint) opens and reads over GETs only: branches, tags, snapshots, history."""
    root, url = static_http_server
    writer = ic.Repository.create(ic.local_filesystem_storage(root))
    data = np.arange(1000, dtype="f4")
    with writer.transaction("main", message="v1") as store:
        zarr.create_array(store, name="a", shape=(1000,), chunks=(100,), dtype="f4")[:] = data
    first = writer.lookup_branch("main")
    writer.create_tag("v1", snapshot_id=first)
    for n in range(3):
        with writer.transaction("main", message=f"update {n}") as store:
            zarr.open_array(store, path="a", mode="r+")[:100] = n
    tip = writer.lookup_branch("main")

    repo = ic.Repository.open(ic.http_storage(url))
    session = repo.readonly_session(branch="main")
    assert session.snapshot_id == tip
    got = zarr.open_array(session.store, path="a", mode="r")[:]
    assert got[:100].tolist() == [2.0] * 100 and got[100:].tolist() == data[100:].tolist()
    old = zarr.open_array(repo.readonly_session(tag="v1").store, path="a", mode="r")[:]
    assert old.tolist() == data.tolist()
    messages = [info.message for info in repo.ancestry(branch="main")]
    assert messages == ["update 2", "update 1", "update 0", "v1", "Repository initialized"]

    # Without the branch hint (a writer that died before writing it), the tip is found by
    # probing the numbered ref records: still GETs only.
    (root / "refs" / "branch.main" / "hint").unlink()
    repo = ic.Repository.open(ic.http_storage(url))
    assert repo.lookup_branch("main") == tip

    # Writes are refused with a typed error, before any request.
    session = repo.writable_session("main")
    zarr.open_group(session.store, mode="a").attrs["x"] = 1
    with pytest.raises(ic.ReadOnlyError):
        session.commit("nope")
    with pytest.raises(ic.ReadOnlyError):
        ic.Repository.create(ic.http_storage(url + "/elsewhere"))


# ---- concurrent committers on one S3 branch -----------------------------------------------
def commit_many(storage: ic.Storage, worker: int, n: int, out: Any) -> None:
    """Commit ``n`` times to main, retrying on ConflictError; report the acknowledged ids."""
    repo = ic.Repository.open(storage)
    acknowledged: list[str] = []
    conflicts = 0
    while len(acknowledged) < n:
        session = repo.writable_session("main")
        zarr.open_group(session.store, mode="a").attrs[f"w{worker}"] = len(acknowledged)
        try:
            acknowledged.append(session.commit(f"worker {worker} #{len(acknowledged)}"))
        except ic.ConflictError:
            conflicts += 1
    out.put((worker, acknowledged, conflicts))


def test_eight_processes_committing_to_one_s3_branch_lose_nothing(
    moto_server: MotoServer,
) -> None:
    storage = moto_server.storage()
    repo = ic.Repository.create(storage)
    with repo.transaction("main", message="root") as store:
        zarr.create_group(store)
    workers, per_worker = 8, 4
    out = spawn.Queue()
    # The storage goes to each process pickled, credentials included.
    procs = [
        spawn.Process(target=commit_many, args=(storage, w, per_worker, out))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    results = collect(out, procs, workers, timeout=300)
    for p in procs:
        p.join(timeout=30)
    acknowledged = {sid for _, ids, _ in results for sid in ids}
    assert len(acknowledged) == workers * per_worker
    history = [s.id for s in ic.Repository.open(storage).ancestry(branch="main")]
    assert acknowledged <= set(history)
    assert len(history) == len(set(history)) == workers * per_worker + 2
    attrs = zarr.open_group(
        ic.Repository.open(storage).readonly_session("main").store, mode="r"
    ).attrs
    assert {attrs[f"w{w}"] for w in range(workers)} == {per_worker - 1}
