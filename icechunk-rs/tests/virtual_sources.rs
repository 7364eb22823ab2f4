//! Reading virtual chunks through `VirtualSources`: local files (pins, missing and short
//! objects, authorization) and objects on a real S3-compatible server (moto's).

#[path = "common/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use icechunk::storage::{new_s3_storage, ObjectStorage, S3Auth};
use icechunk::virtual_chunks::{
    ContainerCredentials, ContainerStore, S3Store, SourcePin, VirtualChunkContainer, VirtualSources,
};
use icechunk::{ErrorKind, IcechunkError, Repository, RepositoryConfig, Storage};
use moto::{shared, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

fn local_container(dir: &std::path::Path) -> VirtualChunkContainer {
    VirtualChunkContainer::new(
        Some("files".into()),
        format!("file://{}/", dir.display()),
        ContainerStore::LocalFileSystem { path: dir.to_path_buf() },
    )
}

fn authorized(prefix: &str, credentials: ContainerCredentials) -> BTreeMap<String, ContainerCredentials> {
    BTreeMap::from([(prefix.to_string(), credentials)])
}

/// A folder with `data.bin` (bytes 0..=255, twice) and its container, authorized.
fn local_sources() -> (tempfile::TempDir, String, VirtualSources) {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let data: Vec<u8> = (0..512u32).map(|i| i as u8).collect();
    std::fs::write(dir_path.join("data.bin"), data).unwrap();
    let container = local_container(&dir_path);
    let prefix = container.url_prefix.clone();
    let sources = VirtualSources::new(
        vec![container],
        authorized(&prefix, ContainerCredentials::LocalFileSystemAccess),
        8,
    )
    .unwrap();
    (dir, format!("{prefix}data.bin"), sources)
}

/// The ETag `object_store` gives the local file (what a writer would have recorded).
async fn local_etag(path: &std::path::Path) -> String {
    use object_store::ObjectStoreExt;
    let store = object_store::local::LocalFileSystem::new();
    let key = object_store::path::Path::from_filesystem_path(path).unwrap();
    store.head(&key).await.unwrap().e_tag.unwrap()
}

#[tokio::test]
async fn local_files_are_read_by_range_and_pins_guard_them() {
    let (dir, location, sources) = local_sources();
    let file = dir.path().canonicalize().unwrap().join("data.bin");
    assert_eq!(sources.read(&location, 10..14, None).await.unwrap(), Bytes::from_static(&[10, 11, 12, 13]));
    assert_eq!(sources.read(&location, 5..5, None).await.unwrap(), Bytes::new());

    // Pinned to the file as it is: read. An ETag or time it no longer has: refused.
    let etag = local_etag(&file).await;
    let pin = SourcePin::ETag(etag.clone());
    assert_eq!(sources.read(&location, 0..2, Some(&pin)).await.unwrap(), Bytes::from_static(&[0, 1]));
    let later = SourcePin::LastModified(chrono::Utc::now().timestamp() as u64 + 60);
    assert_eq!(sources.read(&location, 0..2, Some(&later)).await.unwrap().len(), 2);
    let stale = SourcePin::ETag("not-the-etag".into());
    let e = sources.read(&location, 0..2, Some(&stale)).await.unwrap_err();
    assert!(matches!(e, IcechunkError::VirtualChunkModified { location: ref l } if *l == location), "{e}");
    assert_eq!(e.kind(), ErrorKind::Storage);
    let long_ago = SourcePin::LastModified(978_307_200); // 2001-01-01
    assert!(matches!(
        sources.read(&location, 0..2, Some(&long_ago)).await.unwrap_err(),
        IcechunkError::VirtualChunkModified { .. }
    ));

    // Rewritten: the old ETag no longer matches.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, vec![7u8; 600]).unwrap();
    assert!(matches!(
        sources.read(&location, 0..2, Some(&pin)).await.unwrap_err(),
        IcechunkError::VirtualChunkModified { .. }
    ));
    assert_eq!(sources.read(&location, 0..2, None).await.unwrap(), Bytes::from_static(&[7, 7]));

    // Too short: the range runs past the end, or starts past it.
    let e = sources.read(&location, 590..610, None).await.unwrap_err();
    assert!(matches!(e, IcechunkError::VirtualChunkTooShort { expected: 20, available: 10, .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Storage);
    let e = sources.read(&location, 700..710, None).await.unwrap_err();
    assert!(matches!(e, IcechunkError::VirtualChunkTooShort { expected: 10, available: 0, .. }), "{e}");

    // Deleted.
    std::fs::remove_file(&file).unwrap();
    let e = sources.read(&location, 0..2, None).await.unwrap_err();
    assert!(matches!(e, IcechunkError::VirtualChunkFetch { .. }), "{e}");
    assert!(e.to_string().contains(&location), "{e}");
}

#[tokio::test]
async fn locations_outside_authorized_containers_are_refused() {
    let (dir, location, _) = local_sources();
    let container = local_container(&dir.path().canonicalize().unwrap());
    let prefix = container.url_prefix.clone();

    // A container, not authorized.
    let unauthorized = VirtualSources::new(vec![container.clone()], BTreeMap::new(), 4).unwrap();
    let e = unauthorized.read(&location, 0..4, None).await.unwrap_err();
    assert!(
        matches!(e, IcechunkError::VirtualChunkUnauthorized { prefix: ref p, .. } if *p == prefix),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains(&prefix) && e.to_string().contains("authorize_virtual_chunk_access"));

    // Authorized, but the location is in no container.
    let sources = VirtualSources::new(
        vec![container.clone()],
        authorized(&prefix, ContainerCredentials::LocalFileSystemAccess),
        4,
    )
    .unwrap();
    let e = sources.read("file:///etc/passwd", 0..4, None).await.unwrap_err();
    assert!(matches!(e, IcechunkError::NoContainerForVirtualChunk { .. }), "{e}");
    assert!(sources.container_for("file:///etc/passwd").is_none());
    assert_eq!(sources.container_for(&location).map(|c| c.url_prefix.as_str()), Some(prefix.as_str()));
    let e = sources.read("s3://bucket/key", 0..4, None).await.unwrap_err();
    assert!(matches!(e, IcechunkError::NoContainerForVirtualChunk { .. }), "{e}");

    // Not a URL at all.
    let e = sources.read("relative/path.nc", 0..4, None).await.unwrap_err();
    assert!(matches!(e, IcechunkError::InvalidVirtualRef { .. }), "{e}");
    assert!(VirtualSources::check_location("relative/path.nc").is_err());
    VirtualSources::check_location(&location).unwrap();

    // Credentials of the wrong kind for the container's store.
    let wrong = VirtualSources::new(
        vec![container],
        authorized(&prefix, ContainerCredentials::S3(S3Auth::anonymous())),
        4,
    )
    .unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::InvalidInput);
    assert!(wrong.to_string().contains("do not fit"), "{wrong}");
}

#[tokio::test]
async fn read_many_coalesces_and_keeps_the_order_and_each_error() {
    let (dir, location, sources) = local_sources();
    let prefix = format!("file://{}/", dir.path().canonicalize().unwrap().display());
    let requests = vec![
        (location.clone(), 100..104, None),
        (location.clone(), 0..4, None),
        (location.clone(), 500..520, None), // runs past the end (512 bytes)
        (format!("{prefix}missing.bin"), 0..4, None),
        ("file:///elsewhere/x".to_string(), 0..4, None),
        (location.clone(), 4..8, Some(SourcePin::ETag("stale".into()))),
        (location.clone(), 2..6, None),
    ];
    let results = sources.read_many(requests).await;
    assert_eq!(results.len(), 7);
    assert_eq!(results[0].as_ref().unwrap(), &Bytes::from_static(&[100, 101, 102, 103]));
    assert_eq!(results[1].as_ref().unwrap(), &Bytes::from_static(&[0, 1, 2, 3]));
    assert!(matches!(
        results[2],
        Err(IcechunkError::VirtualChunkTooShort { expected: 20, available: 12, .. })
    ));
    assert!(matches!(results[3], Err(IcechunkError::VirtualChunkFetch { .. })));
    assert!(matches!(results[4], Err(IcechunkError::NoContainerForVirtualChunk { .. })));
    assert!(matches!(results[5], Err(IcechunkError::VirtualChunkModified { .. })));
    assert_eq!(results[6].as_ref().unwrap(), &Bytes::from_static(&[2, 3, 4, 5]));
    assert!(sources.read_many(Vec::new()).await.is_empty());
}

#[tokio::test]
async fn a_repository_keeps_its_authorizations_when_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    std::fs::write(data.join("f.bin"), b"virtual!").unwrap();
    let container = local_container(&data);
    let prefix = container.url_prefix.clone();
    let config = RepositoryConfig { virtual_chunk_containers: vec![container], ..Default::default() };
    let storage: Arc<dyn Storage> = Arc::new(ObjectStorage::in_memory());
    let repo = Repository::create(storage.clone(), Some(config)).await.unwrap();
    assert!(repo.authorized_prefixes().is_empty());
    let location = format!("{prefix}f.bin");
    let e = repo.virtual_sources().read(&location, 0..4, None).await.unwrap_err();
    assert!(matches!(e, IcechunkError::VirtualChunkUnauthorized { .. }));

    let repo =
        repo.with_virtual_access(authorized(&prefix, ContainerCredentials::LocalFileSystemAccess)).unwrap();
    assert_eq!(repo.authorized_prefixes().into_iter().collect::<Vec<_>>(), vec![prefix.clone()]);
    assert_eq!(
        repo.virtual_sources().read(&location, 0..4, None).await.unwrap(),
        Bytes::from_static(b"virt")
    );
    let reopened = repo.reopen(None).unwrap();
    assert_eq!(reopened.authorized_prefixes(), repo.authorized_prefixes());
    assert_eq!(
        reopened.virtual_sources().read(&location, 4..8, None).await.unwrap(),
        Bytes::from_static(b"ual!")
    );

    // The containers travel in the stored config; authorizations never do.
    let opened = Repository::open(storage, None).await.unwrap();
    assert_eq!(opened.config().virtual_chunk_containers, repo.config().virtual_chunk_containers);
    assert!(opened.authorized_prefixes().is_empty());
    let wrong =
        opened.with_virtual_access(authorized(&prefix, ContainerCredentials::HttpAccess)).unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_on_s3_are_read_with_the_authorized_credentials() {
    let server = shared();
    let bucket = server.new_bucket("virtual-source");
    // The "NetCDF file", written with the server's keys like any object.
    let writer = new_s3_storage(server.options(&bucket, "")).unwrap();
    let body: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    writer.put("data/file.nc", Bytes::from(body.clone())).await.unwrap();

    let store = S3Store {
        region: Some("us-east-1".into()),
        endpoint_url: Some(server.endpoint.clone()),
        allow_http: true,
        force_path_style: true,
        ..Default::default()
    };
    let prefix = format!("s3://{bucket}/data/");
    let container = VirtualChunkContainer::new(None, &prefix, ContainerStore::S3Compatible(store));
    container.validate().unwrap();
    let keys = ContainerCredentials::S3(S3Auth::keys(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None));
    let sources = VirtualSources::new(vec![container.clone()], authorized(&prefix, keys), 8).unwrap();
    let location = format!("{prefix}file.nc");
    assert_eq!(
        sources.read(&location, 1000..1010, None).await.unwrap(),
        Bytes::copy_from_slice(&body[1000..1010])
    );

    // Pinned to its ETag: read; pinned to another: refused as modified.
    let etag = {
        use object_store::aws::AmazonS3Builder;
        use object_store::ObjectStoreExt;
        let s3 = AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region("us-east-1")
            .with_endpoint(&server.endpoint)
            .with_allow_http(true)
            .with_access_key_id(ACCESS_KEY_ID)
            .with_secret_access_key(SECRET_ACCESS_KEY)
            .build()
            .unwrap();
        s3.head(&object_store::path::Path::from("data/file.nc")).await.unwrap().e_tag.unwrap()
    };
    let pinned = SourcePin::ETag(etag);
    assert_eq!(
        sources.read(&location, 0..3, Some(&pinned)).await.unwrap(),
        Bytes::copy_from_slice(&body[0..3])
    );
    let stale = SourcePin::ETag("\"0123456789abcdef0123456789abcdef\"".into());
    let e = sources.read(&location, 0..3, Some(&stale)).await.unwrap_err();
    assert!(matches!(e, IcechunkError::VirtualChunkModified { .. }), "{e}");

    // Many ranges at once, one of them past the end.
    let results = sources
        .read_many(vec![
            (location.clone(), 10..20, Some(pinned.clone())),
            (location.clone(), 30..40, Some(pinned.clone())),
            (location.clone(), 4090..4100, None),
        ])
        .await;
    assert_eq!(results[0].as_ref().unwrap(), &Bytes::copy_from_slice(&body[10..20]));
    assert_eq!(results[1].as_ref().unwrap(), &Bytes::copy_from_slice(&body[30..40]));
    assert!(matches!(
        results[2],
        Err(IcechunkError::VirtualChunkTooShort { expected: 10, available: 6, .. })
    ));

    // A missing object, and wrong keys: fetch errors that never show the secret.
    let e = sources.read(&format!("{prefix}none.nc"), 0..3, None).await.unwrap_err();
    assert!(matches!(e, IcechunkError::VirtualChunkFetch { .. }), "{e}");
    let bad_keys = ContainerCredentials::S3(S3Auth::keys(ACCESS_KEY_ID, "wrong-Secret-Value-XYZ", None));
    let refused = VirtualSources::new(vec![container], authorized(&prefix, bad_keys), 8).unwrap();
    match refused.read(&location, 0..3, None).await {
        // moto may not check signatures; when it does, the secret stays out of the message.
        Ok(bytes) => assert_eq!(bytes, Bytes::copy_from_slice(&body[0..3])),
        Err(e) => assert!(!format!("{e} {e:?}").contains("wrong-Secret-Value-XYZ"), "{e}"),
    }
}
