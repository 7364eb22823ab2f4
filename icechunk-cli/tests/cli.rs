//! The `icechunk` binary run as a user runs it: exit codes, stdout, one-line errors. The
//! repositories are written through the engine; tests/test_cli.py does the same with
//! repositories written by zarr-python.

use std::path::Path;
use std::process::{Command, Output};

use bytes::Bytes;
use icechunk::storage::new_local_filesystem_storage;
use icechunk::{Repository, SnapshotId, Store};
use serde_json::Value;

fn icechunk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_icechunk")).args(args).output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed and returns its parsed `--json` document.
fn json(args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let output = icechunk(&args);
    assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&output)))
}

const ARRAY_JSON: &str = r#"{"zarr_format":3,"node_type":"array","shape":[4,6],"data_type":"int32",
"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2,3]}},
"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},
"fill_value":0,"codecs":[{"name":"bytes","configuration":{"endian":"little"}},{"name":"zstd","configuration":{"level":1,"checksum":false}}],
"attributes":{}}"#;

/// A repository with a group, an array of 4 chunks (1 KiB each, stored as objects), a second
/// commit that rewrites one chunk, a branch `dev` and a tag `v1` at the first commit.
async fn write_repository(dir: &Path) -> (SnapshotId, SnapshotId) {
    let repo = Repository::create(new_local_filesystem_storage(dir).unwrap(), None).await.unwrap();
    let store = Store::new(repo.writable_session("main").await.unwrap());
    store.set("zarr.json", Bytes::from_static(br#"{"zarr_format":3,"node_type":"group"}"#)).await.unwrap();
    store.set("g/zarr.json", Bytes::from_static(br#"{"zarr_format":3,"node_type":"group"}"#)).await.unwrap();
    store.set("g/a/zarr.json", Bytes::from_static(ARRAY_JSON.as_bytes())).await.unwrap();
    for (i, key) in ["c/0/0", "c/0/1", "c/1/0", "c/1/1"].iter().enumerate() {
        store.set(&format!("g/a/{key}"), Bytes::from(vec![i as u8; 1024])).await.unwrap();
    }
    let first = store.session().commit("first commit", None, false).await.unwrap();
    let store = Store::new(repo.writable_session("main").await.unwrap());
    store.set("g/a/c/1/1", Bytes::from(vec![9u8; 1024])).await.unwrap();
    let second = store.session().commit("rewrite one chunk\nwith a second line", None, false).await.unwrap();
    repo.create_branch("dev", &first).await.unwrap();
    repo.create_tag("v1", &first).await.unwrap();
    // Committed sessions delete their leases in the background; a lease left would keep
    // the garbage of this test from collection.
    while icechunk::session::pending_lease_deletions() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    (first, second)
}

fn setup() -> (tempfile::TempDir, String, SnapshotId, SnapshotId) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (first, second) = runtime.block_on(write_repository(dir.path()));
    let path = dir.path().to_str().unwrap().to_string();
    (dir, path, first, second)
}

#[test]
fn reading_commands() {
    let (_dir, repo, first, second) = setup();
    let log = json(&["log", &repo]);
    let ids: Vec<&str> = log.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "two commits and the repository's first snapshot: {log}");
    assert_eq!(ids[0], second.to_string());
    assert_eq!(ids[1], first.to_string());
    assert_eq!(log[0]["message"], "rewrite one chunk\nwith a second line");
    assert_eq!(log[0]["parent_id"], first.to_string());
    assert_eq!(json(&["log", &repo, "-n", "1"]).as_array().unwrap().len(), 1);
    assert_eq!(json(&["log", &repo, "--tag", "v1"])[0]["id"], first.to_string());
    let human = stdout(&icechunk(&["log", &repo]));
    let lines: Vec<&str> = human.lines().collect();
    assert!(lines[0].starts_with("SNAPSHOT"), "{human}");
    assert!(lines[1].starts_with(&second.to_string()) && lines[1].ends_with("rewrite one chunk"), "{human}");

    let info = json(&["info", &repo]);
    assert_eq!(info["branches"]["main"], second.to_string());
    assert_eq!(info["branches"]["dev"], first.to_string());
    assert_eq!(info["tags"]["v1"], first.to_string());
    assert_eq!(info["snapshot_count"], 3);
    assert_eq!(info["chunk_bytes"]["native"], 5 * 1024, "4 chunks, then one more: {info}");
    assert_eq!(info["status"]["availability"], "online");

    let diff = json(&["diff", &repo, "v1", "main"]);
    assert_eq!(diff["updated_chunks"]["/g/a"], serde_json::json!([[1, 1]]));
    assert_eq!(diff["new_arrays"], serde_json::json!([]));
    let diff = json(&["diff", &repo, &format!("snapshot:{first}"), "branch:main"]);
    assert_eq!(diff["updated_chunks"]["/g/a"], serde_json::json!([[1, 1]]));
    let human = stdout(&icechunk(&["diff", &repo, "dev", "main"]));
    assert!(human.lines().nth(1).unwrap().split_whitespace().eq(["chunks", "array", "/g/a", "1"]), "{human}");

    let ls = json(&["ls", &repo]);
    let paths: Vec<&str> = ls.as_array().unwrap().iter().map(|n| n["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/", "/g", "/g/a"]);
    assert_eq!(ls[2]["shape"], serde_json::json!([4, 6]));
    assert_eq!(ls[2]["chunk_shape"], serde_json::json!([2, 3]));
    assert_eq!(ls[2]["data_type"], "int32");
    assert_eq!(ls[2]["codecs"], serde_json::json!(["bytes", "zstd"]));
    assert_eq!(json(&["ls", &repo, "/g/a"]).as_array().unwrap().len(), 1);

    let chunk = icechunk(&["cat-chunk", &repo, "/g/a", "1,1"]);
    assert_eq!(chunk.status.code(), Some(0), "{}", stderr(&chunk));
    assert_eq!(chunk.stdout, vec![9u8; 1024]);
    let chunk = icechunk(&["cat-chunk", &repo, "g/a", "1,1", "--at", "v1"]);
    assert_eq!(chunk.stdout, vec![3u8; 1024]);

    let branches = json(&["branch", "list", &repo]);
    assert_eq!(
        branches,
        serde_json::json!([
            {"name": "dev", "snapshot_id": first.to_string()},
            {"name": "main", "snapshot_id": second.to_string()},
        ])
    );
}

#[test]
fn writing_commands() {
    let (_dir, repo, first, second) = setup();
    let created = json(&["branch", "create", &repo, "feature", "--from", "v1"]);
    assert_eq!(created["snapshot_id"], first.to_string());
    json(&["branch", "reset", &repo, "feature", "main"]);
    assert_eq!(json(&["log", &repo, "--branch", "feature", "-n", "1"])[0]["id"], second.to_string());
    json(&["branch", "delete", &repo, "feature"]);
    assert!(json(&["branch", "list", &repo]).as_array().unwrap().iter().all(|b| b["name"] != "feature"));
    json(&["tag", "create", &repo, "v2"]);
    assert_eq!(
        json(&["tag", "list", &repo])[1],
        serde_json::json!({"name": "v2", "snapshot_id": second.to_string()})
    );
    json(&["tag", "delete", &repo, "v2"]);
    let again = icechunk(&["tag", "create", &repo, "v2"]);
    assert_eq!(again.status.code(), Some(1), "a deleted tag's name is never used again");

    assert_eq!(json(&["config", "set", &repo, "inline_chunk_threshold_bytes", "2000"])["value"], 2000);
    assert_eq!(json(&["config", "show", &repo])["inline_chunk_threshold_bytes"], 2000);

    let init_dir = tempfile::tempdir().unwrap();
    let new_repo = init_dir.path().join("new");
    let created = json(&["init", new_repo.to_str().unwrap()]);
    assert_eq!(json(&["log", new_repo.to_str().unwrap()])[0]["id"], created["snapshot_id"]);
}

#[test]
fn maintenance_is_a_dry_run_without_yes() {
    let (_dir, repo, first, second) = setup();
    // Nothing written before the epoch of 1970: nothing to do.
    let plan = json(&["expire", &repo, "--older-than", "1970-01-02T00:00:00Z"]);
    assert_eq!(plan["expired_snapshots"], serde_json::json!([]));
    // Everything is older than "0s ago": the first commit is still v1's and dev's tip, so only
    // snapshots no ref needs expire... unless those refs go too.
    let plan =
        json(&["expire", &repo, "--older-than", "0s", "--delete-expired-branches", "--delete-expired-tags"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["expired_snapshots"], serde_json::json!([first.to_string()]));
    assert_eq!(plan["deleted_branches"], serde_json::json!(["dev"]));
    assert_eq!(json(&["branch", "list", &repo]).as_array().unwrap().len(), 2, "a dry run deletes nothing");
    let done = json(&[
        "expire",
        &repo,
        "--older-than",
        "0s",
        "--delete-expired-branches",
        "--delete-expired-tags",
        "--yes",
    ]);
    assert_eq!(done["expired_snapshots"], plan["expired_snapshots"]);
    let log = json(&["log", &repo]);
    assert_eq!(log.as_array().unwrap().len(), 2, "the first commit left main's history: {log}");
    assert_eq!(log[0]["id"], second.to_string());

    let gc_plan = json(&["gc", &repo, "--older-than", "0s"]);
    assert_eq!(gc_plan["dry_run"], true);
    assert_eq!(gc_plan["snapshots_deleted"], 1);
    assert_eq!(gc_plan["chunks_deleted"], 1, "the chunk the second commit replaced");
    let gc = json(&["gc", &repo, "--older-than", "0s", "--yes"]);
    assert_eq!(gc["chunks_deleted"], 1);
    assert_eq!(json(&["gc", &repo, "--older-than", "0s"])["chunks_deleted"], 0);
    let fsck = icechunk(&["fsck", &repo]);
    assert_eq!(fsck.status.code(), Some(0), "{}{}", stdout(&fsck), stderr(&fsck));
    assert!(stdout(&fsck).contains("no problems found"));
}

#[test]
fn fsck_names_what_is_missing_or_corrupt() {
    let (dir, repo, _, second) = setup();
    let clean = json(&["fsck", &repo]);
    assert_eq!(clean["clean"], true, "{clean}");
    assert_eq!(clean["report"]["snapshots_checked"], 3);
    assert_eq!(clean["report"]["chunk_objects_checked"], 5);

    let chunks: Vec<_> =
        std::fs::read_dir(dir.path().join("chunks")).unwrap().map(|e| e.unwrap().path()).collect();
    let victim = &chunks[0];
    std::fs::remove_file(victim).unwrap();
    let chunk_name = format!("chunks/{}", victim.file_name().unwrap().to_str().unwrap());
    let problems = |report: &Value| -> Vec<String> {
        report["report"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["object"].as_str().unwrap().to_string())
            .collect()
    };
    let output = icechunk(&["fsck", &repo, "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["clean"], false);
    assert_eq!(problems(&report), [chunk_name], "{report}");
    assert!(report["report"]["problems"][0]["problem"].as_str().unwrap().starts_with("missing"));

    // A flipped byte in the tip's snapshot: found (what only it names cannot be walked).
    let snapshot = dir.path().join("snapshots").join(second.to_string());
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&snapshot, bytes).unwrap();
    let output = icechunk(&["fsck", &repo, "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(problems(&report).contains(&format!("snapshots/{second}")), "{report}");
    let human = icechunk(&["fsck", &repo]);
    assert_eq!(human.status.code(), Some(1));
    assert!(stdout(&human).contains(&format!("snapshots/{second}")), "{}", stdout(&human));
}

#[test]
fn bad_input_is_one_line_and_the_right_exit_code() {
    let (_dir, repo, _, _) = setup();
    let missing = tempfile::tempdir().unwrap();
    let missing = missing.path().join("nothing-here");
    let missing = missing.to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["info", missing], 1, "no repository at"),
        (vec!["info"], 2, "required"),
        (vec!["frobnicate", &repo], 2, "unrecognized subcommand"),
        (vec!["log", &repo, "--frobnicate"], 2, "unexpected argument '--frobnicate'"),
        (vec!["log", &repo, "--branch", "bad..name"], 2, "bad..name"),
        (vec!["log", &repo, "--branch", "nope"], 1, "branch `nope` not found"),
        (vec!["log", &repo, "--snapshot", "XYZ"], 2, "not a snapshot id"),
        (vec!["diff", &repo, "main", "no-such-ref"], 1, "no branch, tag or snapshot `no-such-ref`"),
        (vec!["diff", &repo, "main"], 2, "required"),
        (vec!["info", "s3://"], 2, "malformed repository URL"),
        (vec!["info", "ftp://host/x"], 2, "unknown scheme `ftp`"),
        (vec!["info", "az://account"], 2, "az://account/container/prefix"),
        (vec!["info", "file://relative"], 2, "absolute path"),
        (vec!["cat-chunk", &repo, "/g/a", "x,1"], 2, "not chunk coordinates"),
        (vec!["cat-chunk", &repo, "/g/a", "0"], 2, "2 dimensions"),
        (vec!["cat-chunk", &repo, "/g/a", "5,0"], 2, "outside the chunk grid"),
        (vec!["cat-chunk", &repo, "/g", "0,0"], 1, "is a group"),
        (vec!["ls", &repo, "/nope"], 1, "no group or array at `/nope`"),
        (vec!["gc", &repo, "--older-than", "yesterday"], 2, "neither a duration"),
        (vec!["gc", &repo, "--older-than", "2999-01-01T00:00:00Z"], 1, "in the future"),
        (vec!["config", "set", &repo, "no_such_setting", "1"], 2, "no setting `no_such_setting`"),
        (vec!["config", "set", &repo, "compression_level", "\"high\""], 2, "not a valid value"),
        (vec!["branch", "create", &repo, "main"], 1, "already exists"),
        (vec!["init", &repo], 1, "already exists"),
    ];
    for (args, code, needle) in cases {
        let output = icechunk(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got: {err}");
        assert!(err.starts_with("icechunk: error: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: `{needle}` not in: {err}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{args:?}: {err}");
    }
    assert!(!Path::new(missing).exists(), "reading a missing repository created no folder");
    // --help and --version succeed.
    assert_eq!(icechunk(&["--help"]).status.code(), Some(0));
    assert!(stdout(&icechunk(&["--version"])).starts_with("icechunk "));
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let (_dir, repo, _, _) = setup();
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_icechunk"))
        .args(["log", &repo])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
}
