"""Icechunk 2.3's public names exist here, with its signatures, defaults and members.

``tests/data/icechunk_2_3_api.json`` is a snapshot of the published package's API, written by
``tests/data/snapshot_icechunk_api.py`` from an environment where it is installed; this test
compares the package against it without needing that environment.

Compatible differences are allowed and listed: extra keyword-only arguments with defaults
(``network=`` and a few others, named in ``EXTRA_KEYWORDS``), and the deliberate differences
of README's "Where we differ". Names that other work adds (virtual chunks, configuration
classes, garbage collection) are listed in ``OTHER_WORK`` and only checked once they exist.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

import icechunk as ic

# The snapshot's writer describes signatures; ours are described the same way.
sys.path.insert(0, str(Path(__file__).parent / "data"))
from snapshot_icechunk_api import params

SNAPSHOT = json.loads((Path(__file__).parent / "data" / "icechunk_2_3_api.json").read_text())
NAMES: dict[str, Any] = SNAPSHOT["names"]

# Not part of this engine at all.
NOT_WANTED = {"hf_storage"}
# Other parts of the work (virtual chunks, garbage collection): checked by their own tests.
OTHER_WORK: set[str] = set()
# Names whose signature and members other parts of the work own (the repository, session,
# store and conflict classes): checked by their own tests.
CHECKED_ELSEWHERE = {
    "BasicConflictSolver",
    "Conflict",
    "ConflictDetector",
    "ConflictSolver",
    "ConflictType",
    "Diff",
    "ForkSession",
    "IcechunkStore",
    "Repository",
    "Session",
    "SnapshotInfo",
    "VersionSelection",
}
# Names whose signature and members this part of the work owns: every other class and
# function of the snapshot (aliases and modules have none).
OURS = (
    {name for name, spec in NAMES.items() if spec["kind"] not in ("alias", "module")}
    - NOT_WANTED
    - OTHER_WORK
    - CHECKED_ELSEWHERE
)
# Keyword-only arguments we add, always last and with a default.
EXTRA_KEYWORDS = {
    "network",
    "unsafe_single_writer",
    "endpoint_url",
    "allow_http",
    # RepositoryConfig: this engine's own knobs (spec/format.md §11).
    "snapshot_cache_size",
    "manifest_cache_bytes",
    "manifest_shard_size",
    "inline_manifest_threshold_bytes",
    "compression_level",
    # RepositoryConfig: a floor under garbage collection's grace period (README, "Expiring
    # history and collecting garbage").
    "gc_min_grace_period_seconds",
}
# Deliberate differences (README, "Where we differ"), by "Name.member".
ABSENT_MEMBERS = {
    "SpecVersion.v2",  # one format version
    "Storage.new_hf",  # no Hugging Face storage
    "Storage.list_objects_metadata",  # not yet: what it returns is not in the snapshot
}


def owner_of(name: str) -> Any:
    return (
        getattr(ic, name, None)
        or getattr(ic.storage, name, None)
        or getattr(ic.credentials, name, None)
    )


def assert_compatible(where: str, theirs: list[list[Any]] | None, ours: Any) -> None:
    """Every parameter of theirs, in order, of the same kind and default; extras only
    keyword-only, with a default, named in EXTRA_KEYWORDS."""
    if theirs is None:
        return
    mine = params(ours)
    assert mine is not None, f"{where}: no signature"
    assert mine[: len(theirs)] == theirs, f"{where}: {mine} is not {theirs}"
    for name, kind, default in mine[len(theirs) :]:
        assert kind == "KEYWORD_ONLY" and default is not None, f"{where}: extra {name}"
        assert name in EXTRA_KEYWORDS, f"{where}: unexpected extra argument {name}"


def test_the_snapshot_is_icechunk_2_3() -> None:
    assert SNAPSHOT["version"] == "2.3.0"
    assert len(SNAPSHOT["modules"]["icechunk"]) > 100 and len(SNAPSHOT["top_level"]) == 126


@pytest.mark.parametrize("name", sorted(set(SNAPSHOT["top_level"]) - NOT_WANTED - OTHER_WORK))
def test_every_public_name_exists(name: str) -> None:
    assert hasattr(ic, name), f"icechunk.{name} is missing"


@pytest.mark.parametrize("name", sorted(NOT_WANTED))
def test_names_not_wanted_are_absent(name: str) -> None:
    assert not hasattr(ic, name)


@pytest.mark.parametrize("name", sorted(n for n in OURS if n in NAMES))
def test_signatures_and_members_match(name: str) -> None:
    spec = NAMES[name]
    ours = owner_of(name)
    assert ours is not None, name
    if spec["kind"] == "function":
        assert callable(ours)
        assert_compatible(name, spec["params"], ours)
        return
    assert inspect.isclass(ours), name
    if spec["kind"] == "exception":
        assert issubclass(ours, ic.IcechunkError)
        for base in spec["bases"]:
            if base in ("KeyError", "ValueError", "LookupError"):
                assert base in {b.__name__ for b in ours.__mro__}, (name, base)
    if spec["kind"] != "enum":  # an Enum's call signature is Python's own
        assert_compatible(name, spec["params"], ours)
    for member, mspec in spec["members"].items():
        key = f"{name}.{member}"
        if key in ABSENT_MEMBERS:
            assert not hasattr(ours, member), key
            continue
        assert hasattr(ours, member), f"{key} is missing"
        value = getattr(ours, member)
        if mspec["kind"] == "member" and mspec.get("value") not in (None, "None"):
            got = value.value if isinstance(value, enum.Enum) else int(value)
            assert repr(got) == mspec["value"], key
        elif mspec["kind"] in ("method", "builtin", "staticmethod", "classmethod"):
            assert callable(value), key
            assert_compatible(key, mspec.get("params"), value)
        elif mspec["kind"] == "class":
            assert inspect.isclass(value), key
            assert issubclass(value, ours), key
            assert_compatible(key, mspec.get("params"), value)
            for sub, sub_spec in mspec.get("members", {}).items():
                assert hasattr(value, sub), f"{key}.{sub} is missing"
                if sub_spec["kind"] == "property":
                    assert isinstance(inspect.getattr_static(value, sub), property) or (
                        type(inspect.getattr_static(value, sub)).__name__ == "getset_descriptor"
                    ), f"{key}.{sub} is not a property"


@pytest.mark.parametrize(
    "module", sorted(m for m in SNAPSHOT["modules"] if m not in ("icechunk", "icechunk.virtual"))
)
def test_submodules_export_what_icechunk_2_3_does(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [
        name
        for name in SNAPSHOT["modules"][module]
        if name not in NOT_WANTED | OTHER_WORK and not hasattr(imported, name)
    ]
    assert not missing, f"{module} lacks {missing}"


def test_error_kind_has_icechunk_2_3_codes_and_ours() -> None:
    theirs = {
        name: json.loads(spec["value"].replace("'", '"'))
        for name, spec in NAMES["ErrorKind"]["members"].items()
        if spec["kind"] == "member"
    }
    assert {m.name: m.value for m in ic.ErrorKind if m.name in theirs} == theirs
    assert set(ic._icechunk._all_error_kinds()) <= {m.value for m in ic.ErrorKind}
    assert ic.ErrorKind("ref-not-found") is ic.ErrorKind.REF_NOT_FOUND


# ---- behaviour of the small names ----------------------------------------------------------


def test_errors_carry_message_and_kind() -> None:
    e = ic.IcechunkError("boom")
    assert (e.message, e.kind, str(e)) == ("boom", "unknown", "boom")
    assert ic.StorageError("x", ic.ErrorKind.THROTTLED).kind == "throttled"
    assert ic.InvalidInputError("bad").kind == "invalid-input"
    c = ic.ConflictError("a", "b")
    assert (c.expected_parent, c.actual_parent, c.kind) == ("a", "b", "commit-conflict")
    assert "a" in c.message and "b" in c.message
    r = ic.RebaseFailedError("snap", [ic.Conflict(ic.ConflictType.ChunkDoubleUpdate, "/x", [(0,)])])
    assert (r.snapshot, r.kind, len(r.conflicts)) == ("snap", "rebase-failed", 1)
    assert "ChunkDoubleUpdate" in r.message
    n = ic.NodeNotFoundError("no node `/a`", "node-not-found")
    assert isinstance(n, KeyError) and str(n) == "no node `/a`"
    assert isinstance(ic.InternalError("bug"), ic.IcechunkError)
    for error in (e, c, r, n):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), copy.message, copy.kind) == (type(error), error.message, error.kind)


def test_engine_errors_have_kinds(repo: ic.Repository) -> None:
    with pytest.raises(ic.RefNotFoundError) as info:
        repo.lookup_branch("nope")
    assert info.value.kind == ic.ErrorKind.REF_NOT_FOUND
    with pytest.raises(ic.AlreadyExistsError) as exists:
        repo.create_branch("main", repo.lookup_branch("main"))
    assert exists.value.kind == ic.ErrorKind.BRANCH_ALREADY_EXISTS
    repo.create_tag("t", repo.lookup_branch("main"))
    with pytest.raises(ic.AlreadyExistsError) as tag:
        repo.create_tag("t", repo.lookup_branch("main"))
    assert tag.value.kind == ic.ErrorKind.TAG_ALREADY_EXISTS
    with pytest.raises(ic.InvalidInputError) as bad_id:
        repo.lookup_snapshot("bad")
    assert bad_id.value.kind == ic.ErrorKind.INVALID_SNAPSHOT_ID
    tip = repo.lookup_branch("main")
    other = ("1" if tip[0] != "1" else "2") + tip[1:]  # a well-formed id, of no snapshot
    with pytest.raises(ic.SnapshotNotFoundError) as missing:
        repo.lookup_snapshot(other)
    assert missing.value.kind == ic.ErrorKind.SNAPSHOT_NOT_FOUND
    with pytest.raises(ic.SessionStateError) as empty:
        repo.writable_session("main").commit("nothing")
    assert empty.value.kind == ic.ErrorKind.NO_CHANGES_TO_COMMIT
    with pytest.raises(ic.InvalidInputError) as ref:
        repo.create_branch("a b", repo.lookup_branch("main"))
    assert ref.value.kind == ic.ErrorKind.INVALID_REF_NAME
    with pytest.raises(ic.RepositoryNotFoundError) as none:
        ic.Repository.open(ic.in_memory_storage())
    assert none.value.kind == ic.ErrorKind.REPOSITORY_NOT_FOUND


def test_enums() -> None:
    assert int(ic.ChunkType.native) == 1 and ic.ChunkType.inline != ic.ChunkType.virtual
    assert int(ic.SessionMode.rearrange) == 2 and int(ic.RepoAvailability.read_only) == 1
    for member in (ic.ChunkType.virtual, ic.SessionMode.writable, ic.RepoAvailability.online):
        assert pickle.loads(pickle.dumps(member)) == member
        assert {member: 1}[member] == 1
    assert ic.SpecVersion.current() == ic.SpecVersion.v1 == ic.spec_version()
    assert int(ic.spec_version()) == 1 and ic.supported_spec_versions() == [ic.SpecVersion.v1]
    assert pickle.loads(pickle.dumps(ic.SpecVersion.v1)) == ic.SpecVersion.v1
    for kind in (ic.ChunkType, ic.SpecVersion):
        with pytest.raises(TypeError):
            kind()
    assert ic.CommitMethod.__args__ == ("new_commit", "amend")  # type: ignore[attr-defined]


def test_repo_status_and_attribution() -> None:
    import datetime as dt

    status = ic.RepoStatus(ic.RepoAvailability.read_only, limited_availability_reason="upkeep")
    assert status.availability == ic.RepoAvailability.read_only
    assert status.set_at.tzinfo is not None and status.limited_availability_reason == "upkeep"
    assert pickle.loads(pickle.dumps(status)) == status
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert ic.RepoStatus(ic.RepoAvailability.online, when).set_at == when
    with pytest.raises(TypeError):
        ic.RepoStatus("online")  # type: ignore[arg-type]

    a = ic.Attribution(client="weatherlib/0.9", workload="nightly-ingest", principal="team a")
    assert (a.client, a.workload, a.principal) == ("weatherlib/0.9", "nightly-ingest", "team a")
    assert pickle.loads(pickle.dumps(a)) == a and a != ic.Attribution()
    for bad in (
        {"client": "bad client"},
        {"client": "x" * 129},
        {"workload": "a;b"},
        {"principal": "é"},
        {"workload": ""},
    ):
        with pytest.raises(ValueError):
            ic.Attribution(**bad)
    with pytest.raises(TypeError):
        ic.Attribution("positional")  # type: ignore[misc]


def test_value_classes_without_constructors() -> None:
    samples = ic._icechunk._api_samples()
    flag = samples["FeatureFlag"]
    assert isinstance(flag, ic.FeatureFlag)
    assert (flag.id, flag.name, flag.default_enabled, flag.setting, flag.enabled) == (
        1,
        "move_node",
        True,
        False,
        False,
    )
    info = samples["ManifestFileInfo"]
    assert isinstance(info, ic.ManifestFileInfo) and (info.size_bytes, info.num_chunk_refs) == (
        1024,
        8,
    )
    update = samples["Update"]
    assert isinstance(update, ic.Update) and isinstance(update.kind, ic.UpdateType.NewCommit)
    assert update.kind.branch == "main" and update.backup_path is None
    assert update.updated_at.year == 2023
    graph = samples["AncestryGraph"]
    assert isinstance(graph, ic.AncestryGraph) and "first" in str(graph)
    assert graph._repr_svg_().startswith("<svg")
    for kind in (ic.FeatureFlag, ic.ManifestFileInfo, ic.Update, ic.AncestryGraph):
        with pytest.raises(TypeError):
            kind()


def test_update_types() -> None:
    made = [
        ic.UpdateType.RepoInitialized(),
        ic.UpdateType.BranchCreated("dev"),
        ic.UpdateType.BranchReset("dev", "S1"),
        ic.UpdateType.CommitAmended("main", "S1", "S2"),
        ic.UpdateType.FeatureFlagChanged(3, None),
        ic.UpdateType.RepoMigrated(1, 2),
        ic.UpdateType.RepoStatusChanged(ic.RepoStatus(ic.RepoAvailability.online)),
        ic.UpdateType.TagDeleted("v1", "S1"),
        ic.UpdateType.GCRan(),
    ]
    for update in made:
        assert isinstance(update, ic.UpdateType)
        assert pickle.loads(pickle.dumps(update)) == update
    assert made[3].previous_snap_id == "S1" and made[3].new_snap_id == "S2"
    with pytest.raises(TypeError):
        ic.UpdateType.BranchCreated()  # type: ignore[call-arg]


def test_fork_session(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    fork = session.fork()
    assert isinstance(fork, ic.ForkSession) and isinstance(fork, ic.Session)
    assert not isinstance(session, ic.ForkSession)
    assert not isinstance(repo.readonly_session(branch="main"), ic.ForkSession)
    assert issubclass(ic.ForkSession, ic.Session)
    from icechunk.session import ForkSession, SessionMode

    assert ForkSession is ic.ForkSession and SessionMode is ic.SessionMode


def test_upgrade_has_nothing_to_do(repo: ic.Repository) -> None:
    with pytest.raises(ic.SessionStateError) as info:
        ic.upgrade_icechunk_repository(repo, dry_run=True)
    assert info.value.kind == ic.ErrorKind.INVALID_REPOSITORY_MIGRATION
    repo.lookup_branch("main")  # untouched


def test_debug_info_user_agent_and_telemetry(capsys: pytest.CaptureFixture[str]) -> None:
    ic.print_debug_info()
    out = capsys.readouterr().out
    assert f"icechunk:  {ic.__version__}" in out and "zarr:" in out
    assert ic.user_agent().startswith("icechunk-rs/")
    ic.shutdown_telemetry()


def test_logs_filter() -> None:
    """Setting filters; what they let through is tested on S3 (test_credentials.py)."""
    ic.initialize_logs()
    ic.set_logs_filter("icechunk=debug,warn")
    ic.set_logs_filter("off")
    with pytest.raises(ic.InvalidInputError):
        ic.set_logs_filter("icechunk=not-a-level")
    ic.set_logs_filter(None)


def test_storage_settings() -> None:
    full = ic.StorageSettings(
        concurrency=ic.StorageConcurrencySettings(4, 1 << 20),
        retries=ic.StorageRetriesSettings(max_tries=3, initial_backoff_ms=10, max_backoff_ms=500),
        timeouts=ic.StorageTimeoutSettings(connect_timeout_ms=1000, read_timeout_ms=2000),
    )
    assert full.retries is not None and full.retries.max_tries == 3
    assert full.storage_class is None and ic.StorageSettings() != full
    assert pickle.loads(pickle.dumps(full)) == full
    full.unsafe_use_metadata = False
    assert "unsafe_use_metadata=False" in repr(full)

    memory = ic.in_memory_storage()
    assert memory.default_settings() == ic.StorageSettings()
    assert memory.list_objects(full) == memory.list_objects()
    s3 = ic.s3_storage(bucket="b", prefix="p", anonymous=True, region="us-east-1")
    defaults = s3.default_settings()
    assert defaults.retries is not None and defaults.timeouts is not None
    assert defaults.retries.max_tries == ic.NetworkOptions().max_retries + 1
    assert defaults.timeouts.read_timeout_ms == 60_000
    assert defaults.unsafe_use_conditional_create is True
    for refused in (
        ic.StorageSettings(storage_class="GLACIER"),
        ic.StorageSettings(chunks_storage_class="STANDARD_IA"),
        ic.StorageSettings(minimum_size_for_multipart_upload=1 << 20),
        ic.StorageSettings(unsafe_use_metadata=True),
        ic.StorageSettings(unsafe_use_conditional_create=False),
        ic.StorageSettings(unsafe_use_conditional_update=False),
        ic.StorageSettings(retries=ic.StorageRetriesSettings(max_tries=0)),
    ):
        with pytest.raises(ic.InvalidInputError):
            s3.list_objects(refused)
