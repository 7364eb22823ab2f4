//! Concurrent committers: tokio tasks on one in-memory repository, OS processes on one
//! local-disk repository, and a committer killed with SIGKILL at random moments.
//!
//! The process tests re-run this test binary with `--exact process_worker`; the env var
//! `ICECHUNK_TEST_WORKER` tells that test what to do (without it, it does nothing).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use icechunk::{ErrorKind, Repository, SnapshotId};
use rand::Rng;

const WORKER_ENV: &str = "ICECHUNK_TEST_WORKER";
const DIR_ENV: &str = "ICECHUNK_TEST_REPO_DIR";
const ID_ENV: &str = "ICECHUNK_TEST_WORKER_ID";

fn chunk_value(writer: u32, i: u32) -> Bytes {
    // Alternate between inline and external chunks.
    pattern((writer as u64) << 32 | i as u64, if i.is_multiple_of(2) { 40 } else { 700 })
}

/// Commits `key = value` to main, retrying with a fresh session on conflict.
async fn commit_with_retry(repo: &Repository, key: &str, value: Bytes) -> (SnapshotId, u32) {
    for attempt in 1..=5000 {
        let session = repo.writable_session("main").await.unwrap();
        session.store().set(key, value.clone()).await.unwrap();
        match session.commit(&format!("write {key}"), None, false).await {
            Ok(id) => return (id, attempt),
            Err(e) if e.kind() == ErrorKind::Conflict => tokio::task::yield_now().await,
            Err(e) => panic!("commit of {key} failed: {e}"),
        }
    }
    panic!("commit of {key} never succeeded");
}

/// Root group + an array with a `rows` x `cols` grid of 1x1 chunks; returns the ids of main.
async fn setup_array(repo: &Repository, rows: u64, cols: u64) -> Vec<SnapshotId> {
    write_commit(
        repo,
        "main",
        &[("zarr.json", group_json()), ("arr/zarr.json", array_json(&[rows, cols], &[1, 1], "uint8"))],
        "setup",
    )
    .await;
    ancestry_ids(repo, &main_branch()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn many_tasks_commit_to_one_branch() {
    const TASKS: u32 = 16;
    const COMMITS: u32 = 10;
    let repo = mem_repo().await;
    let initial = setup_array(&repo, TASKS as u64, COMMITS as u64).await;
    let handles: Vec<_> = (0..TASKS)
        .map(|t| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..COMMITS {
                    let (id, attempts) =
                        commit_with_retry(&repo, &format!("arr/c/{t}/{i}"), chunk_value(t, i)).await;
                    ids.push((id, attempts));
                }
                ids
            })
        })
        .collect();
    let mut succeeded = Vec::new();
    let mut attempts = 0;
    for h in handles {
        for (id, n) in h.await.unwrap() {
            succeeded.push(id);
            attempts += n;
        }
    }
    eprintln!("{} commits took {attempts} attempts", succeeded.len());
    assert_eq!(succeeded.len(), (TASKS * COMMITS) as usize);

    let history = ancestry_ids(&repo, &main_branch()).await;
    let want: BTreeSet<SnapshotId> = succeeded.iter().chain(initial.iter()).copied().collect();
    assert_eq!(want.len(), succeeded.len() + initial.len(), "snapshot ids are unique");
    assert_eq!(history.len(), want.len(), "no commit lost, none duplicated");
    assert_eq!(history.iter().copied().collect::<BTreeSet<_>>(), want);
    assert_eq!(&history[history.len() - initial.len()..], &initial[..]);

    // Every task's every chunk survived.
    let store = repo.readonly_session(&main_branch()).await.unwrap().store();
    for t in 0..TASKS {
        for i in 0..COMMITS {
            assert_eq!(store.get(&format!("arr/c/{t}/{i}"), None).await.unwrap(), Some(chunk_value(t, i)));
        }
    }
}

/// Re-runs this binary as a worker process in `mode`.
fn spawn_worker(mode: &str, dir: &Path, id: u32, stdout: Stdio) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "process_worker", "--nocapture", "--test-threads=1"])
        .env(WORKER_ENV, mode)
        .env(DIR_ENV, dir)
        .env(ID_ENV, id.to_string())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker process")
}

/// The worker side of the process tests; a no-op in a normal test run.
#[tokio::test(flavor = "multi_thread")]
async fn process_worker() {
    let Ok(mode) = std::env::var(WORKER_ENV) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR_ENV).unwrap());
    let me: u32 = std::env::var(ID_ENV).unwrap().parse().unwrap();
    let repo = open_local(&dir).await;
    match mode.as_str() {
        "commits" => {
            for i in 0..10u32 {
                let session = repo.writable_session("main").await.unwrap();
                session.store().set(&format!("arr/c/{me}/{i}"), chunk_value(me, i)).await.unwrap();
                match session.commit(&format!("worker {me} attempt {i}"), None, false).await {
                    Ok(id) => println!("SUCCEEDED {id} {me} {i}"),
                    Err(e) if e.kind() == ErrorKind::Conflict => println!("CONFLICT {me} {i}"),
                    Err(e) => panic!("worker {me} attempt {i}: {e}"),
                }
            }
        }
        "loop" => {
            // Commit forever (until killed; give up after a minute in case the parent died).
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(60) {
                let v: u64 = rand::rng().random();
                let value = same_value(v);
                let session = repo.writable_session("main").await.unwrap();
                for x in 0..4 {
                    for y in 0..4 {
                        session.store().set(&format!("arr/c/{x}/{y}"), value.clone()).await.unwrap();
                    }
                }
                session.commit(&format!("value {v}"), None, false).await.unwrap();
            }
        }
        other => panic!("unknown worker mode {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn many_processes_commit_to_one_branch() {
    const WORKERS: u32 = 8;
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let initial = setup_array(&repo, WORKERS as u64, 10).await;

    let children: Vec<_> =
        (0..WORKERS).map(|w| spawn_worker("commits", dir.path(), w, Stdio::piped())).collect();
    let mut succeeded: Vec<(SnapshotId, u32, u32)> = Vec::new();
    let mut conflicts = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "worker failed: {:?}", out.status);
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            // libtest may print "test process_worker ... " in front of the first line.
            let line = ["SUCCEEDED ", "CONFLICT "].iter().find_map(|m| line.find(m).map(|at| &line[at..]));
            let parts: Vec<&str> = line.unwrap_or("").split_whitespace().collect();
            match parts.as_slice() {
                ["SUCCEEDED", id, w, i] => {
                    succeeded.push((id.parse().unwrap(), w.parse().unwrap(), i.parse().unwrap()))
                }
                ["CONFLICT", _, _] => conflicts += 1,
                _ => {}
            }
        }
    }
    assert_eq!(succeeded.len() + conflicts, (WORKERS * 10) as usize, "every attempt reported");
    assert!(!succeeded.is_empty());
    eprintln!("{} commits succeeded, {conflicts} conflicted", succeeded.len());

    let repo = open_local(dir.path()).await;
    let history = ancestry_ids(&repo, &main_branch()).await;
    let want: BTreeSet<SnapshotId> = succeeded.iter().map(|s| s.0).chain(initial.iter().copied()).collect();
    assert_eq!(history.len(), want.len(), "no commit lost, none duplicated ({conflicts} conflicts)");
    assert_eq!(history.iter().copied().collect::<BTreeSet<_>>(), want);

    // Exactly the successful attempts' chunks are there.
    let ok: BTreeSet<(u32, u32)> = succeeded.iter().map(|s| (s.1, s.2)).collect();
    let store = repo.readonly_session(&main_branch()).await.unwrap().store();
    for w in 0..WORKERS {
        for i in 0..10 {
            let got = store.get(&format!("arr/c/{w}/{i}"), None).await.unwrap();
            let want = ok.contains(&(w, i)).then(|| chunk_value(w, i));
            assert_eq!(got, want, "chunk {w},{i}");
        }
    }
}

fn same_value(v: u64) -> Bytes {
    // Inline or external, depending on the value.
    pattern(v, if v.is_multiple_of(2) { 600 } else { 100 })
}

/// Reads all 16 chunks of a version: all present and equal (one commit's value).
async fn assert_one_version(repo: &Repository, id: &SnapshotId, round: u32) {
    let store = repo.readonly_session(&snap(id)).await.unwrap().store();
    let mut values = BTreeSet::new();
    for x in 0..4 {
        for y in 0..4 {
            let v = store.get(&format!("arr/c/{x}/{y}"), None).await.unwrap();
            values.insert(v.unwrap_or_else(|| panic!("round {round}: chunk {x},{y} of {id} missing")));
        }
    }
    assert_eq!(values.len(), 1, "round {round}: snapshot {id} mixes {} values", values.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_commits_leaves_a_consistent_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let mut items: Vec<(String, Bytes)> = vec![
        ("zarr.json".into(), group_json()),
        ("arr/zarr.json".into(), array_json(&[4, 4], &[1, 1], "uint8")),
    ];
    for x in 0..4 {
        for y in 0..4 {
            items.push((format!("arr/c/{x}/{y}"), same_value(0)));
        }
    }
    let items: Vec<(&str, Bytes)> = items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    write_commit(&repo, "main", &items, "initial value").await;
    let start_len = ancestry_ids(&repo, &main_branch()).await.len();

    let mut rng = rand::rng();
    for round in 0..10 {
        let mut child = spawn_worker("loop", dir.path(), round, Stdio::null());
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..600))).await;
        child.kill().unwrap();
        let status = child.wait().unwrap();
        // Killed by SIGKILL, not exited (a panicking worker would exit with 101).
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "round {round}: worker was not killed: {status:?}"
        );

        let repo = Repository::open(local_storage(dir.path()), None).await.expect("open after kill");
        let tip = repo.lookup_branch("main").await.expect("lookup main after kill");
        let session = repo.readonly_session(&main_branch()).await.unwrap();
        assert_eq!(session.snapshot_id(), tip);
        assert_one_version(&repo, &tip, round).await;
        // Older versions too (the last few).
        let history = ancestry_ids(&repo, &main_branch()).await;
        for id in history.iter().take(4) {
            assert_one_version(&repo, id, round).await;
        }
    }

    let repo = open_local(dir.path()).await;
    let history = ancestry_ids(&repo, &main_branch()).await;
    eprintln!("{} commits in 10 killed rounds", history.len() - start_len);
    assert!(
        history.len() >= start_len + 5,
        "the killed workers committed only {} times in 10 rounds",
        history.len() - start_len
    );
    // The repository still takes commits.
    let id = write_commit(&repo, "main", &[("arr/c/0/0", same_value(2))], "after the storm").await;
    assert_eq!(repo.lookup_branch("main").await.unwrap(), id);
}
