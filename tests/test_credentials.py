"""Credentials and storage constructors with Icechunk 2.3's names, and refreshable
credentials for real: on moto's S3 server, through a proxy that records every request's
headers (so the test sees which key signed each request)."""

from __future__ import annotations

import datetime as dt
import http.server
import pickle
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zarr
from _fault_proxy import FaultProxy, Request
from conftest import FAST_NETWORK, MOTO_ACCESS_KEY_ID, MOTO_BUCKET, MotoServer

import icechunk as ic

SECRET = "cred-Secret/Value+ShouldNeverShow"
UTC = dt.UTC


# ---- refresh functions: module level, so that they pickle by reference --------------------

CALLS: list[str] = []


def rotating_keys() -> ic.S3StaticCredentials:
    """Key 1 expires 7 s after it is fetched; later keys last an hour."""
    CALLS.append("rotating")
    n = len(CALLS)
    lifetime = dt.timedelta(seconds=7) if n == 1 else dt.timedelta(hours=1)
    return ic.S3StaticCredentials(
        access_key_id=f"AKIAROTATING{n:08d}",
        secret_access_key=SECRET,
        expires_after=dt.datetime.now(UTC) + lifetime,
    )


def hour_keys() -> ic.S3StaticCredentials:
    CALLS.append("hour")
    return ic.S3StaticCredentials(
        f"AKIAHOUR{len(CALLS):08d}", SECRET, None, dt.datetime.now(UTC) + dt.timedelta(hours=1)
    )


def gcs_token() -> ic.GcsBearerCredential:
    return ic.GcsBearerCredential("token", expires_after=dt.datetime.now(UTC))


def azure_token() -> ic.AzureRefreshableCredential:
    return ic.AzureRefreshableCredential.BearerToken("token", None)


def not_credentials() -> str:
    CALLS.append("wrong")
    return "not credentials"


def failing_keys() -> ic.S3StaticCredentials:
    CALLS.append("failing")
    raise RuntimeError("the token service is down")


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


# ---- the credential functions ------------------------------------------------------------


def test_s3_credentials_choose_one_kind() -> None:
    assert isinstance(ic.s3_credentials(), ic.S3Credentials.FromEnv)
    assert isinstance(ic.s3_credentials(from_env=True), ic.S3Credentials.FromEnv)
    assert isinstance(ic.s3_credentials(anonymous=True), ic.S3Credentials.Anonymous)
    when = dt.datetime(2031, 1, 1, tzinfo=UTC)
    static = ic.s3_credentials(
        access_key_id="AKIA1", secret_access_key=SECRET, session_token="t", expires_after=when
    )
    assert isinstance(static, ic.S3Credentials.Static)
    assert (static._0.access_key_id, static._0.session_token, static._0.expires_after) == (
        "AKIA1",
        "t",
        when,
    )
    refreshable = ic.s3_credentials(get_credentials=hour_keys)
    assert isinstance(refreshable, ic.S3Credentials.Refreshable)
    assert refreshable.current is None and CALLS == []
    assert pickle.loads(refreshable.pickled_function) is hour_keys
    scattered = ic.s3_credentials(get_credentials=hour_keys, scatter_initial_credentials=True)
    assert isinstance(scattered, ic.S3Credentials.Refreshable)
    assert CALLS == ["hour"] and scattered.current is not None
    assert scattered.current.access_key_id == "AKIAHOUR00000001"
    assert ic.s3_from_env_credentials() == ic.S3Credentials.FromEnv()
    assert ic.s3_anonymous_credentials() == ic.S3Credentials.Anonymous()
    assert ic.s3_static_credentials(access_key_id="a", secret_access_key="b") == (
        ic.S3Credentials.Static(ic.S3StaticCredentials("a", "b"))
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access_key_id": "k"},
        {"session_token": "t"},
        {"from_env": False},
        {"anonymous": True, "access_key_id": "k", "secret_access_key": SECRET},
        {"get_credentials": hour_keys, "from_env": True},
        {"get_credentials": hour_keys, "access_key_id": "k", "secret_access_key": SECRET},
    ],
)
def test_s3_credentials_refuse_mixed_kinds(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ic.InvalidInputError, match="Conflicting") as info:
        ic.s3_credentials(**kwargs)
    assert isinstance(info.value, ValueError) and SECRET not in str(info.value)
    assert CALLS == []


def test_refresh_functions_must_pickle_and_return_credentials() -> None:
    with pytest.raises(ic.InvalidInputError, match="picklable"):
        ic.s3_refreshable_credentials(lambda: hour_keys())
    with pytest.raises(ic.InvalidInputError, match="callable"):
        ic.s3_refreshable_credentials("not a function")  # type: ignore[arg-type]
    with pytest.raises(ic.InvalidInputError, match="S3StaticCredentials"):
        ic.s3_refreshable_credentials(not_credentials, scatter_initial_credentials=True)  # type: ignore[arg-type]
    with pytest.raises(ic.InvalidInputError, match="GcsBearerCredential"):
        ic.gcs_refreshable_credentials(hour_keys, scatter_initial_credentials=True)  # type: ignore[arg-type]


def test_gcs_and_azure_credentials() -> None:
    assert isinstance(ic.gcs_credentials(), ic.GcsCredentials.FromEnv)
    assert isinstance(ic.gcs_credentials(anonymous=True), ic.GcsCredentials.Anonymous)
    static = ic.gcs_credentials(bearer_token=SECRET)
    assert isinstance(static, ic.GcsCredentials.Static)
    assert isinstance(static._0, ic.GcsStaticCredentials.BearerToken) and static._0._0 == SECRET
    assert isinstance(
        ic.gcs_static_credentials(service_account_file="/k.json"),
        ic.GcsStaticCredentials.ServiceAccount,
    )
    assert isinstance(ic.gcs_credentials(get_credentials=gcs_token), ic.GcsCredentials.Refreshable)
    with pytest.raises(ic.InvalidInputError):
        ic.gcs_credentials(bearer_token=SECRET, from_env=True)
    with pytest.raises(ic.InvalidInputError):
        ic.gcs_static_credentials()
    assert isinstance(ic.azure_credentials(), ic.AzureCredentials.FromEnv)
    assert isinstance(ic.azure_credentials(anonymous=True), ic.AzureCredentials.Anonymous)
    sas = ic.azure_credentials(sas_token="sv=1&sig=x")
    assert isinstance(sas, ic.AzureCredentials.Static)
    assert isinstance(sas._0, ic.AzureStaticCredentials.SasToken)
    assert isinstance(
        ic.azure_credentials(get_credentials=azure_token), ic.AzureCredentials.Refreshable
    )
    with pytest.raises(ic.InvalidInputError):
        ic.gcs_credentials(anonymous=True, bearer_token=SECRET)
    for bad in (
        {"access_key": "a", "sas_token": "b"},
        {"access_key": "a", "from_env": True},
        {"anonymous": True, "sas_token": "b"},
        {"get_credentials": azure_token, "access_key": "a"},
    ):
        with pytest.raises(ic.InvalidInputError):
            ic.azure_credentials(**bad)
    assert ic.azure_from_env_credentials() == ic.AzureCredentials.FromEnv()
    assert ic.azure_anonymous_credentials() == ic.AzureCredentials.Anonymous()
    assert ic.gcs_from_env_credentials() == ic.GcsCredentials.FromEnv()
    assert ic.credentials.gcs_anonymous_credentials() == ic.GcsCredentials.Anonymous()


def test_credential_objects_pickle_compare_and_hide_secrets() -> None:
    naive = dt.datetime(2031, 5, 6, 7, 8, 9)
    keys = ic.S3StaticCredentials("AKIAEXAMPLE1", SECRET, SECRET + "-token", naive)
    assert keys.expires_after == naive.astimezone(UTC)  # naive: local time
    keys.expires_after = None
    assert keys.expires_after is None
    keys.access_key_id = "AKIAEXAMPLE2"
    values: list[Any] = [
        keys,
        ic.S3Credentials.Static(keys),
        ic.S3Credentials.FromEnv(),
        ic.S3Credentials.Refreshable(pickle.dumps(hour_keys), keys),
        ic.GcsBearerCredential(SECRET, expires_after=dt.datetime(2031, 1, 1, tzinfo=UTC)),
        ic.GcsStaticCredentials.ServiceAccountKey(SECRET),
        ic.GcsCredentials.Refreshable(pickle.dumps(gcs_token), None),
        ic.AzureRefreshableCredential.SasToken(SECRET, None),
        ic.AzureStaticCredentials.AccessKey(SECRET),
        ic.AzureCredentials.Static(ic.AzureStaticCredentials.BearerToken(SECRET)),
        ic.Credentials.S3(ic.S3Credentials.Anonymous()),
        ic.Credentials.HttpAccess(),
        ic.credentials.LocalFileSystemAccess,
    ]
    for value in values:
        copy = pickle.loads(pickle.dumps(value))
        assert copy == value and type(copy) is type(value), repr(value)
        assert SECRET not in repr(value), repr(value)
    assert ic.S3Credentials.FromEnv() != ic.S3Credentials.Anonymous()
    match ic.s3_credentials(anonymous=True):
        case ic.S3Credentials.Anonymous():
            pass
        case _:
            pytest.fail("not anonymous")
    with pytest.raises(TypeError):
        ic.S3Credentials.Refreshable(b"x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ic.S3StaticCredentials("only-one")  # type: ignore[call-arg]


# ---- storage constructors ----------------------------------------------------------------


def test_storage_class_methods_build_storages(tmp_path: Path) -> None:
    options = ic.S3Options(region="us-east-1", endpoint_url="http://127.0.0.1:9", allow_http=True)
    assert options == pickle.loads(pickle.dumps(options)) and "us-east-1" in repr(options)
    options.requester_pays = True
    assert options.requester_pays
    keys = ic.s3_static_credentials(access_key_id="AKIA1", secret_access_key=SECRET)
    made = [
        ic.Storage.new_s3(options, "b", "p", keys),
        ic.Storage.new_s3_object_store(options, "b", "p", keys),
        ic.Storage.new_tigris(ic.S3Options(), "b", "p", False, keys),
        ic.Storage.new_r2(ic.S3Options(), "b", "p", "acct1", keys),
        ic.Storage.new_gcs("b", "p", ic.gcs_credentials(anonymous=True), config={"timeout": "5s"}),
        ic.Storage.new_azure_blob("acct", "c", "p", ic.azure_credentials(sas_token="sv=1&sig=2")),
        ic.Storage.new_http("https://example.com/repo", {"timeout": "5s"}, {"x-token": SECRET}),
        ic.Storage.new_local_filesystem(str(tmp_path / "r")),
        ic.Storage.new_in_memory(),
    ]
    for storage in made:
        assert isinstance(storage, ic.Storage) and SECRET not in repr(storage)
        assert pickle.loads(pickle.dumps(storage)) == storage
    assert "requester" not in repr(made[0])
    # The refreshable ones too: the function travels pickled, nothing is called.
    for storage in (
        ic.s3_storage(bucket="b", prefix="p", get_credentials=hour_keys),
        ic.gcs_storage(bucket="b", prefix="p", get_credentials=gcs_token),
        ic.Storage.new_azure_blob(
            "acct", "c", "p", ic.azure_credentials(get_credentials=azure_token)
        ),
    ):
        assert "refreshable" in repr(storage)
        assert pickle.loads(pickle.dumps(storage)) == storage
    assert CALLS == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: ic.s3_storage(bucket="b", prefix="p", legacy_rooted_keys=True),
        lambda: ic.tigris_storage(bucket="b", prefix="p", use_weak_consistency=True),
        lambda: ic.s3_storage(bucket="b", prefix="p", checksum_algorithm=ic.ChecksumAlgorithm.Sha1),
        lambda: ic.r2_storage(
            bucket="b", prefix="p", account_id="a", checksum_algorithm=ic.ChecksumAlgorithm.Crc32
        ),
        lambda: ic.s3_storage(bucket="b", prefix="p", write_headers={"x-amz-acl": "private"}),
        lambda: ic.s3_storage(bucket="b", prefix="p", headers={"bad header": "v"}),
        lambda: ic.s3_storage(bucket="b", prefix="p", read_headers={"x-ok": "bad\nvalue"}),
        lambda: ic.s3_storage(
            bucket="b",
            prefix="p",
            network_stream_timeout_seconds=10,
            network=ic.NetworkOptions(stream_timeout=30.0),
        ),
        lambda: ic.s3_storage(bucket="b", prefix="p", anonymous=True, from_env=True),
        lambda: ic.r2_storage(prefix="p", account_id="a"),
        lambda: ic.gcs_storage(bucket="b", prefix="p", config={"no_such_key": "1"}),
        lambda: ic.azure_storage(
            account="a",
            container="c",
            prefix="p",
            access_key="a2V5",
            config={"not_a_key": "1"},
        ),
        lambda: ic.Storage.new_http("https://h/r", {"not_an_option": "1"}),
        lambda: ic.http_storage("https://example.com/r", {"not_an_option": "1"}),
        lambda: ic.Storage.new_s3(
            ic.S3Options(anonymous=True), "b", "p", ic.s3_credentials(from_env=True)
        ),
        lambda: ic.local_filesystem_storage("/tmp").list_objects(
            settings=ic.StorageSettings(storage_class="GLACIER")
        ),
    ],
)
def test_options_that_cannot_apply_are_refused(make: Any) -> None:
    with pytest.raises(ic.InvalidInputError) as info:
        make()
    assert SECRET not in str(info.value)


def test_options_that_apply_are_accepted() -> None:
    ic.s3_storage(bucket="b", prefix="p", legacy_rooted_keys=False, requester_pays=True)
    ic.s3_storage(bucket="b", prefix="p", checksum_algorithm=ic.ChecksumAlgorithm.Crc64Nvme)
    # Unsigned requests: any header is fine.
    ic.s3_storage(bucket="b", prefix="p", anonymous=True, write_headers={"x-amz-acl": "private"})
    ic.s3_storage(bucket="b", prefix="p", network_stream_timeout_seconds=0)
    ic.s3_storage(
        bucket="b", prefix="p", network=ic.NetworkOptions(stream_timeout=5.0)
    )  # the default 60 defers to network=
    ic.gcs_storage(bucket="b", prefix="p", anonymous=True, write_headers={"x-goog-acl": "private"})
    ic.azure_storage(
        account="a",
        container="c",
        prefix="p",
        sas_token="sv=1&sig=2",
        config={"use_emulator": "false"},
    )


def test_list_objects(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path / "r"))
    assert storage.list_objects() == []
    ic.Repository.create(storage)
    listed = storage.list_objects()
    assert listed and all(size > 0 for _, size in listed)
    refs = storage.list_objects(prefix="refs")
    assert refs and all(key.startswith("refs/") for key, _ in refs)
    assert {key for key, _ in refs} <= {key for key, _ in storage.list_objects()}


def test_list_objects_with_settings_on_s3(s3_storage: ic.Storage) -> None:
    ic.Repository.create(s3_storage)
    settings = ic.StorageSettings(
        retries=ic.StorageRetriesSettings(max_tries=1),
        timeouts=ic.StorageTimeoutSettings(operation_attempt_timeout_ms=5_000),
    )
    # The initial snapshot: written before `create` returns (the hint of main is written
    # in the background, so a listing of refs/ may or may not have it yet).
    listed = s3_storage.list_objects(settings, prefix="snapshots")
    assert listed and listed == s3_storage.list_objects(prefix="snapshots")
    # Settings the network options cannot hold are refused, not ignored.
    zero = ic.StorageSettings(concurrency=ic.StorageConcurrencySettings(0, 1024))
    with pytest.raises(ic.InvalidInputError):
        s3_storage.list_objects(zero)


# ---- on moto, through a recording proxy --------------------------------------------------


@dataclass
class RecordingProxy(FaultProxy):
    """Forwards to moto and keeps every request's method, path and headers."""

    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def _choose(self, request: Request) -> Any:
        with self._lock:
            self.seen.append((request.method, request.path, dict(request.headers)))
        return super()._choose(request)

    def key_ids(self) -> list[str]:
        """The access key id that signed each request, in order."""
        out = []
        with self._lock:
            seen = list(self.seen)
        for _, _, headers in seen:
            auth = headers.get("authorization", "")
            out.append(auth.split("Credential=")[1].split("/")[0] if "Credential=" in auth else "")
        return out


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[RecordingProxy]:
    with RecordingProxy(moto_server.port) as p:
        yield p


def prefix() -> str:
    return f"creds-{uuid.uuid4().hex}"


def proxied_s3(proxy: RecordingProxy, **kwargs: Any) -> ic.Storage:
    """An S3 storage of a fresh prefix on moto, through the recording proxy."""
    kwargs.setdefault("network", FAST_NETWORK)
    return ic.s3_storage(
        bucket=MOTO_BUCKET,
        prefix=prefix(),
        region="us-east-1",
        endpoint_url=proxy.url,
        allow_http=True,
        **kwargs,
    )


def write_and_commit(storage: ic.Storage, message: str = "data") -> ic.Repository:
    repo = ic.Repository.open_or_create(storage)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name=message, shape=(4,), chunks=(2,), dtype="i4")[:] = 7
    session.commit(message)
    return repo


def read_back(repo: ic.Repository, name: str = "data") -> None:
    array = zarr.open_array(repo.readonly_session(branch="main").store, path=name)
    assert (array[:] == 7).all()


def test_refreshable_credentials_refresh_on_s3(proxy: RecordingProxy) -> None:
    storage = proxied_s3(
        proxy,
        get_credentials=rotating_keys,
    )
    assert CALLS == []  # nothing before the first request
    start = time.monotonic()
    repo = write_and_commit(storage)
    assert proxy.key_ids()[0] == "AKIAROTATING00000001"
    # Key 1 expires 7 s after it was fetched: wait past that, then keep working.
    time.sleep(max(0.0, 7.5 - (time.monotonic() - start)))
    early = len(proxy.seen)  # (after the commit's last background write)
    assert CALLS == ["rotating"]
    read_back(repo)
    write_and_commit(storage, "more")
    keys = proxy.key_ids()
    assert CALLS == ["rotating", "rotating"], "fetched once per key, not per request"
    assert set(keys) == {"AKIAROTATING00000001", "AKIAROTATING00000002"}
    assert set(keys[early:]) == {"AKIAROTATING00000002"}, "the expired key is not used"
    # Long-lived key 2 is cached: more requests, no more calls.
    read_back(repo, "more")
    assert len(CALLS) == 2


def test_scattered_credentials_travel_with_the_pickled_storage(proxy: RecordingProxy) -> None:
    storage = proxied_s3(
        proxy,
        get_credentials=hour_keys,
        scatter_initial_credentials=True,
    )
    assert CALLS == ["hour"]
    write_and_commit(storage)
    copy = pickle.loads(pickle.dumps(storage))
    read_back(ic.Repository.open(copy))
    assert CALLS == ["hour"], "the copies start with the scattered credentials"
    assert set(proxy.key_ids()) == {"AKIAHOUR00000001"}
    # Sessions and repositories pickle with it too.
    session = ic.Repository.open(storage).readonly_session(branch="main")
    zarr.open_array(pickle.loads(pickle.dumps(session)).store, path="data")[:]
    assert CALLS == ["hour"]


def test_failing_refresh_is_a_storage_error(proxy: RecordingProxy) -> None:
    storage = proxied_s3(
        proxy,
        get_credentials=failing_keys,
    )
    with pytest.raises(ic.StorageError, match="token service is down"):
        ic.Repository.create(storage)
    bad = proxied_s3(
        proxy,
        get_credentials=not_credentials,  # type: ignore[arg-type]
    )
    with pytest.raises(ic.StorageError, match="not S3StaticCredentials"):
        ic.Repository.create(bad)
    assert proxy.seen == []  # no request went out unsigned


def test_expired_static_credentials_are_refused(proxy: RecordingProxy) -> None:
    storage = proxied_s3(
        proxy,
        access_key_id=MOTO_ACCESS_KEY_ID,
        secret_access_key=SECRET,
        expires_after=dt.datetime.now(UTC) - dt.timedelta(seconds=1),
    )
    with pytest.raises(ic.StorageError, match="expired"):
        ic.Repository.create(storage)
    assert proxy.seen == []


def test_headers_requester_pays_and_checksums_reach_the_server(proxy: RecordingProxy) -> None:
    storage = proxied_s3(
        proxy,
        access_key_id=MOTO_ACCESS_KEY_ID,
        secret_access_key=SECRET,
        requester_pays=True,
        checksum_algorithm=ic.ChecksumAlgorithm.Sha256,
        read_headers={"x-read-only": "r", "x-both": "read wins"},
        write_headers={"x-write-only": "w"},
        headers={"x-both": "b"},
    )
    read_back(write_and_commit(storage))
    reads = [h for m, _, h in proxy.seen if m in ("GET", "HEAD")]
    writes = [h for m, _, h in proxy.seen if m == "PUT"]
    assert reads and writes
    assert all(h.get("x-amz-request-payer") == "requester" for _, _, h in proxy.seen)
    assert all(h["x-read-only"] == "r" and h["x-both"] == "read wins" for h in reads)
    assert not any("x-write-only" in h for h in reads)
    assert all(h["x-write-only"] == "w" and h["x-both"] == "b" for h in writes)
    assert all("x-amz-checksum-sha256" in h for h in writes)


def test_stream_timeout_applies(proxy: RecordingProxy) -> None:
    storage = proxied_s3(
        proxy,
        access_key_id=MOTO_ACCESS_KEY_ID,
        secret_access_key=SECRET,
        network=ic.NetworkOptions(max_retries=0, stream_timeout=0.3, request_timeout=30.0),
    )
    write_and_commit(storage)
    proxy.delay = 2.0
    proxy.fail_next("delay", method="GET")
    started = time.monotonic()
    with pytest.raises(ic.StorageError):
        ic.Repository.open(storage)
    assert time.monotonic() - started < 2.0


def test_logs_show_engine_events_only_when_asked(moto_server: MotoServer) -> None:
    script = f"""
import sys, datetime as dt
import icechunk as ic
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_credentials import hour_keys
storage = ic.s3_storage(bucket={MOTO_BUCKET!r}, prefix="logs-" + sys.argv[1], region="us-east-1",
    endpoint_url={moto_server.endpoint!r}, allow_http=True, get_credentials=hour_keys)
if sys.argv[2] == "off":
    ic.set_logs_filter("off")
ic.Repository.create(storage)
"""

    def run(env_filter: str | None, switch: str) -> str:
        env = {"PATH": "/usr/bin:/bin"}
        if env_filter is not None:
            env["ICECHUNK_LOG"] = env_filter
        done = subprocess.run(
            [sys.executable, "-c", script, uuid.uuid4().hex, switch],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        return done.stderr

    assert "credentials refreshed" not in run(None, "on")  # off by default
    assert "credentials refreshed" in run("icechunk=debug", "on")
    assert "credentials refreshed" not in run("icechunk=debug", "off")


# ---- redirects ---------------------------------------------------------------------------


@pytest.fixture
def redirector() -> Iterator[tuple[str, dict[str, str]]]:
    """An HTTP server answering each path with the redirect in ``routes`` (or 200)."""
    routes: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            target = routes.get(self.path)
            if target is None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                return
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()


def test_redirect_storage(
    moto_server: MotoServer,
    redirector: tuple[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, routes = redirector
    where = prefix()
    write_and_commit(moto_server.storage(where))
    # moto refuses unsigned requests: sign with the environment's keys (`from_env=true`).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", MOTO_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    routes["/repo"] = "/moved"
    routes["/moved"] = (
        f"s3://{MOTO_BUCKET}/{where}?region=us-east-1&endpoint_url={moto_server.endpoint}"
        "&allow_http=true&from_env=true"
    )
    storage = ic.redirect_storage(f"{base}/repo")
    assert f'bucket="{MOTO_BUCKET}"' in repr(storage)
    repo = ic.Repository.open(storage)
    read_back(repo)
    with pytest.raises(ic.ReadOnlyError):
        write_and_commit(storage, "refused")
    assert pickle.loads(pickle.dumps(storage)) == storage

    routes["/loop"] = "/loop"
    routes["/ftp"] = "ftp://example.com/x"
    routes["/bad-option"] = f"s3://{MOTO_BUCKET}/{where}?colour=blue"
    with pytest.raises(ic.StorageError, match="redirects"):
        ic.redirect_storage(f"{base}/loop")
    with pytest.raises(ic.StorageError, match="instead of a redirect"):
        ic.redirect_storage(f"{base}/plain")
    with pytest.raises(ic.InvalidInputError):
        ic.redirect_storage(f"{base}/ftp")
    with pytest.raises(ic.InvalidInputError, match="colour"):
        ic.redirect_storage(f"{base}/bad-option")


def test_refreshed_credentials_in_a_child_process(moto_server: MotoServer) -> None:
    """A pickled storage with a refresh function works in another process."""
    storage = ic.s3_storage(
        bucket=MOTO_BUCKET,
        prefix=prefix(),
        region="us-east-1",
        endpoint_url=moto_server.endpoint,
        allow_http=True,
        get_credentials=hour_keys,
        network=FAST_NETWORK,
    )
    write_and_commit(storage)
    script = (
        "import pickle, sys, zarr\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import icechunk as ic, test_credentials\n"
        "storage = pickle.loads(sys.stdin.buffer.read())\n"
        "repo = ic.Repository.open(storage)\n"
        "print(int(zarr.open_array(repo.readonly_session(branch='main').store, path='data')[0]),"
        " test_credentials.CALLS)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=pickle.dumps(storage),
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.decode().split() == ["7", "['hour']"]
