//! Virtual chunk references written by sessions: checked before any is set, committed into
//! shards, carried by forks, listed, and reported as virtual.

mod common;

use common::*;
use icechunk::format::manifest::{ChunkLocation, SourcePin};
use icechunk::session::{ChunkKind, VirtualRef};
use icechunk::ErrorKind;

fn reference(location: &str, offset: u64, pin: Option<SourcePin>) -> VirtualRef {
    VirtualRef { location: location.to_string(), offset, length: 100, pin }
}

async fn with_array(repo: &icechunk::Repository) {
    write_commit(
        repo,
        "main",
        &[("zarr.json", group_json()), ("a/zarr.json", array_json(&[40, 40], &[10, 10], "float32"))],
        "array",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn virtual_refs_commit_and_read_back_as_references() {
    let repo = mem_repo().await;
    with_array(&repo).await;
    let session = repo.writable_session("main").await.unwrap();
    let etag = Some(SourcePin::ETag("\"abc\"".into()));
    let refs: Vec<_> = (0..4u32)
        .flat_map(|i| (0..4u32).map(move |j| (i, j)))
        .map(|(i, j)| {
            let location = format!("s3://bucket/era5/{}.nc", i);
            (vec![i, j], reference(&location, u64::from(j) * 100, if i == 0 { etag.clone() } else { None }))
        })
        .collect();
    let failed = session.set_virtual_refs("/a", refs, false).unwrap();
    assert!(failed.is_empty());
    assert_eq!(session.chunk_kind("/a", &[1, 2]).await.unwrap(), ChunkKind::Virtual);
    let before = repo.lookup_branch("main").await.unwrap();
    let after = session.commit("virtual", None, false).await.unwrap();

    let reader = repo.readonly_session(&main_branch()).await.unwrap();
    let chunks = reader.chunk_refs("/a").await.unwrap();
    assert_eq!(chunks.len(), 16);
    let (coords, chunk) = &chunks[1];
    assert_eq!(coords, &vec![0, 1]);
    assert_eq!(chunk.length, 100);
    assert_eq!(
        chunk.location,
        ChunkLocation::Virtual { location: "s3://bucket/era5/0.nc".into(), offset: 100, pin: etag }
    );
    let locations = reader.all_virtual_chunk_locations().await.unwrap();
    assert_eq!(locations, (0..4).map(|i| format!("s3://bucket/era5/{i}.nc")).collect::<Vec<_>>());
    // The diff reports them as changed chunks, like any other.
    let diff = repo.diff(&snap(&before), &snap(&after)).await.unwrap();
    assert_eq!(diff.updated_chunks["/a"].len(), 16);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bad_reference_sets_none() {
    let repo = mem_repo().await;
    with_array(&repo).await;
    let session = repo.writable_session("main").await.unwrap();
    let good = (vec![0, 0], reference("file:///data/x.nc", 0, None));
    for bad in [
        (vec![4, 0], reference("file:///data/x.nc", 0, None)),
        (vec![0], reference("file:///data/x.nc", 0, None)),
        (vec![1, 1], reference("/data/x.nc", 0, None)),
        (vec![1, 1], VirtualRef { location: "file:///x".into(), offset: u64::MAX, length: 2, pin: None }),
    ] {
        let result = session.set_virtual_refs("/a", vec![good.clone(), bad.clone()], false);
        assert_kind(result, ErrorKind::InvalidInput);
        assert_eq!(session.chunk_kind("/a", &[0, 0]).await.unwrap(), ChunkKind::Uninitialized, "{bad:?}");
    }
    assert!(!session.has_uncommitted_changes());
    assert_kind(session.set_virtual_refs("/nope", vec![good.clone()], false), ErrorKind::NodeNotFound);
    let reader = repo.readonly_session(&main_branch()).await.unwrap();
    assert_kind(reader.set_virtual_refs("/a", vec![good], false), ErrorKind::ReadOnly);
}

#[tokio::test(flavor = "multi_thread")]
async fn forks_carry_virtual_refs_home() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    with_array(&repo).await;
    let session = repo.writable_session("main").await.unwrap();
    let fork = session.fork().unwrap();
    let pin = Some(SourcePin::LastModified(1_700_000_000));
    fork.set_virtual_refs("/a", vec![(vec![3, 3], reference("gs://b/f.grib", 7, pin.clone()))], false)
        .unwrap();
    let travelled = icechunk::Session::from_bytes(&fork.to_bytes().await.unwrap()).await.unwrap();
    session.merge(&[travelled]).unwrap();
    session.commit("from a worker", None, false).await.unwrap();
    let reader = repo.readonly_session(&main_branch()).await.unwrap();
    let chunks = reader.chunk_refs("/a").await.unwrap();
    assert_eq!(
        chunks[0].1.location,
        ChunkLocation::Virtual { location: "gs://b/f.grib".into(), offset: 7, pin }
    );
}
