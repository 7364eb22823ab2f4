"""``attribution=`` of ``Repository.create/open/open_or_create``: the labels reach the
``User-Agent`` of every request, as a real HTTP server on 127.0.0.1 records them.

The layout is Icechunk 2.3's, with this library's product token:
``[client ]icechunk-rs/<version>[ (workload=<w>; principal=<p>)]``.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import icechunk as ic

LABELS = ic.Attribution(client="weatherlib/0.9", workload="nightly ingest", principal="team-a")
LABELLED = f"weatherlib/0.9 {ic.user_agent()} (workload=nightly ingest; principal=team-a)"
DATA = np.arange(2000, dtype="f4")


class Served:
    """A repository on disk, served read-only over HTTP; ``agents`` records the
    ``(method, path, User-Agent)`` of every request."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self.agents: list[tuple[str, str, str | None]] = []

    def storage(self) -> ic.Storage:
        return ic.http_storage(self.url)

    def user_agents(self) -> set[str | None]:
        return {agent for _, _, agent in self.agents}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    root = tmp_path / "repo"
    writer = ic.Repository.create(ic.local_filesystem_storage(str(root)))
    with writer.transaction("main", message="data") as store:
        # 4000-byte chunks: stored as chunk objects of their own, not inline.
        zarr.create_array(store, name="a", shape=(2000,), chunks=(1000,), dtype="f4")[:] = DATA

    agents: list[tuple[str, str, str | None]] = []

    class Recording(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            agents.append((self.command, self.path, self.headers.get("User-Agent")))
            super().do_GET()

        def do_HEAD(self) -> None:
            agents.append((self.command, self.path, self.headers.get("User-Agent")))
            super().do_HEAD()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Recording, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        result = Served(root, f"http://127.0.0.1:{server.server_address[1]}")
        result.agents = agents
        yield result
    finally:
        server.shutdown()
        server.server_close()


def read_everything(repo: ic.Repository) -> None:
    session = repo.readonly_session(branch="main")
    assert zarr.open_array(session.store, path="a", mode="r")[:].tolist() == DATA.tolist()


def test_every_request_carries_the_attribution(served: Served) -> None:
    repo = ic.Repository.open(served.storage(), attribution=LABELS)
    read_everything(repo)
    paths = [path for _, path, _ in served.agents]
    # The repository's records, the snapshot and the chunks were all read through it.
    for kind in ("/refs/", "/snapshots/", "/chunks/"):
        assert any(p.startswith(kind) for p in paths), (kind, paths)
    assert served.user_agents() == {LABELLED}
    assert repo.attribution == LABELS


def test_without_attribution_the_user_agent_is_the_librarys(served: Served) -> None:
    for attribution in (None, ic.Attribution()):
        served.agents.clear()
        repo = ic.Repository.open(served.storage(), attribution=attribution)
        read_everything(repo)
        assert served.user_agents() == {ic.user_agent()}
        assert repo.attribution == ic.Attribution()


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"client": "lib"}, f"lib {ic.user_agent()}"),
        ({"principal": "p q"}, f"{ic.user_agent()} (principal=p q)"),
        (
            {"workload": "w", "principal": "svc@tenant"},
            f"{ic.user_agent()} (workload=w; principal=svc@tenant)",
        ),
    ],
    ids=["client", "principal", "workload-and-principal"],
)
def test_only_the_labels_given_appear(
    served: Served, labels: dict[str, str], expected: str
) -> None:
    read_everything(ic.Repository.open(served.storage(), attribution=ic.Attribution(**labels)))
    assert served.user_agents() == {expected}


def test_reopen_and_pickling_keep_the_attribution(served: Served) -> None:
    repo = ic.Repository.open(served.storage(), attribution=LABELS)
    reopened = repo.reopen(ic.RepositoryConfig(caching=ic.CachingConfig(num_chunk_refs=10)))
    assert reopened.attribution == LABELS
    served.agents.clear()
    read_everything(reopened)
    assert served.user_agents() == {LABELLED}

    # A read-only session sent elsewhere (a Dask worker) opens its repository again there.
    session = pickle.loads(pickle.dumps(repo.readonly_session(branch="main")))
    served.agents.clear()
    assert zarr.open_array(session.store, path="a", mode="r")[:].tolist() == DATA.tolist()
    assert served.user_agents() == {LABELLED}
    assert pickle.loads(pickle.dumps(repo)).attribution == LABELS
    # The repository shows the storage as given, without the labels.
    assert repo.storage == served.storage()


def test_open_or_create_and_the_async_twins(served: Served) -> None:
    other = ic.Attribution(client="other/1")
    read_everything(ic.Repository.open_or_create(served.storage(), attribution=other))
    assert served.user_agents() == {f"other/1 {ic.user_agent()}"}

    async def both() -> list[ic.Repository]:
        return [
            await ic.Repository.open_async(served.storage(), attribution=LABELS),
            await ic.Repository.open_or_create_async(served.storage(), attribution=LABELS),
        ]

    served.agents.clear()
    for repo in asyncio.run(both()):
        assert repo.attribution == LABELS
        read_everything(repo)
    assert served.user_agents() == {LABELLED}


def test_a_config_is_fetched_with_the_attribution_too(served: Served) -> None:
    # Opening with a config reads the saved one first: that request is labelled as well.
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=8)
    ic.Repository.open(served.storage(), config, attribution=LABELS)
    assert served.agents and served.user_agents() == {LABELLED}


def test_storages_without_requests_record_the_attribution(tmp_path: Path) -> None:
    """Memory and local folders send no HTTP requests: nothing to label, but the repository
    keeps and reports its attribution all the same, and works as usual."""
    local = ic.local_filesystem_storage(str(tmp_path / "local"))
    repo = ic.Repository.create(local, attribution=LABELS)
    assert repo.attribution == LABELS and repo.storage == local
    with repo.transaction("main", message="m") as store:
        zarr.create_array(store, name="x", shape=(3,), dtype="i2")[:] = [1, 2, 3]
    for opened in (
        ic.Repository.open(local, attribution=LABELS),
        ic.Repository.open_or_create(local, attribution=LABELS),
        asyncio.run(ic.Repository.open_async(local, attribution=LABELS)),
        asyncio.run(ic.Repository.open_or_create_async(local, attribution=LABELS)),
    ):
        assert opened.attribution == LABELS
        assert opened.reopen().attribution == LABELS
        session = opened.readonly_session(branch="main")
        assert zarr.open_array(session.store, path="x", mode="r")[:].tolist() == [1, 2, 3]
    assert ic.Repository.open(local).attribution == ic.Attribution()

    memory = ic.in_memory_storage()
    created = asyncio.run(ic.Repository.create_async(memory, attribution=LABELS))
    assert created.attribution == LABELS and created.storage == memory
    assert ic.Repository.open(memory).lookup_branch("main") == created.lookup_branch("main")


def test_an_attribution_of_the_wrong_type_is_refused_before_any_io(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path / "repo"))
    for bad in ({"client": "me"}, "me", LABELS.client):
        with pytest.raises(TypeError, match=r"attribution must be an icechunk\.Attribution"):
            ic.Repository.create(storage, attribution=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            ic.Repository.open_or_create(storage, attribution=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            asyncio.run(ic.Repository.open_async(storage, attribution=bad))  # type: ignore[arg-type]
    assert not ic.Repository.exists(storage)


@pytest.mark.parametrize(
    "labels",
    [
        {"client": "bad client"},
        {"client": "a/b/c"},
        {"workload": "a;b"},
        {"workload": "x) (y"},
        {"principal": "k=v"},
        {"principal": "é"},
        {"workload": ""},
        {"principal": "x" * 129},
    ],
)
def test_labels_that_would_break_the_header_are_refused(labels: dict[str, str]) -> None:
    with pytest.raises(ic.InvalidInputError) as info:
        ic.Attribution(**labels)
    assert isinstance(info.value, ValueError)
    assert next(iter(labels)) in str(info.value)
