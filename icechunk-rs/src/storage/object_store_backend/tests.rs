//! The backend's own behaviour on wrapped in-memory stores: the create-if-absent check,
//! retries of creates whose outcome is unknown, large reads in parts, secrets in errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use futures::stream::BoxStream;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::memory::InMemory;
use object_store::{
    CopyOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, PutMultipartOptions, PutResult,
};

use super::*;
use crate::error::ErrorKind;

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Fault {
    #[default]
    None,
    /// `PutMode::Create` is treated as an overwrite, as by a server that ignores `If-None-Match`.
    IgnoreCreateCondition,
    /// The next `n` creates are applied, but their answer is a timeout.
    LoseCreateAnswer(usize),
    /// Every create times out without being applied.
    CreateTimesOut,
    /// The next `n` creates answer 409 ConditionalRequestConflict without being applied.
    CreateConflict(usize),
    /// Every GET fails with a message quoting a secret.
    GetLeaks(&'static str),
}

/// An in-memory store with faults, counting the requests.
#[derive(Debug, Default)]
struct Wrapped {
    inner: InMemory,
    fault: Mutex<Fault>,
    creates: AtomicUsize,
    gets: AtomicUsize,
    ranged_gets: AtomicUsize,
}

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wrapped")
    }
}

fn timeout_error() -> object_store::Error {
    let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "operation timed out");
    object_store::Error::Generic {
        store: "Test",
        source: Box::new(HttpError::new(HttpErrorKind::Timeout, io)),
    }
}

#[async_trait]
impl ObjectStore for Wrapped {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if opts.mode != PutMode::Create {
            return self.inner.put_opts(location, payload, opts).await;
        }
        self.creates.fetch_add(1, Ordering::SeqCst);
        let fault = *self.fault.lock().unwrap();
        match fault {
            Fault::IgnoreCreateCondition => self.inner.put(location, payload).await,
            Fault::LoseCreateAnswer(n) if n > 0 => {
                *self.fault.lock().unwrap() = Fault::LoseCreateAnswer(n - 1);
                self.inner.put_opts(location, payload, opts).await?;
                Err(timeout_error())
            }
            Fault::CreateTimesOut => Err(timeout_error()),
            Fault::CreateConflict(n) if n > 0 => {
                *self.fault.lock().unwrap() = Fault::CreateConflict(n - 1);
                Err(object_store::Error::AlreadyExists {
                    path: location.to_string(),
                    source: "409 Conflict: <Code>ConditionalRequestConflict</Code>".into(),
                })
            }
            _ => self.inner.put_opts(location, payload, opts).await,
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        if let Fault::GetLeaks(secret) = *self.fault.lock().unwrap() {
            return Err(object_store::Error::Generic {
                store: "Test",
                source: format!("403 Forbidden: signature of key {secret} does not match").into(),
            });
        }
        self.gets.fetch_add(1, Ordering::SeqCst);
        if options.range.is_some() {
            self.ranged_gets.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn storage(fault: Fault, settings: BackendSettings) -> (Arc<Wrapped>, ObjectStorage) {
    let wrapped = Arc::new(Wrapped { fault: Mutex::new(fault), ..Default::default() });
    // A location of its own: the create-if-absent check is remembered per location.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let location = format!("test://{}", NEXT.fetch_add(1, Ordering::SeqCst));
    let storage = ObjectStorage::new(wrapped.clone(), StorageSpec::InMemory, location, settings);
    (wrapped, storage)
}

fn verify() -> BackendSettings {
    BackendSettings { create_if_absent: CreateIfAbsent::Verify, ..Default::default() }
}

#[tokio::test]
async fn a_store_that_honours_create_if_absent_passes_the_check_and_leaves_nothing_visible() {
    let (wrapped, storage) = storage(Fault::None, verify());
    assert!(storage.put_if_absent("a", Bytes::from_static(b"1")).await.unwrap());
    assert!(!storage.put_if_absent("a", Bytes::from_static(b"2")).await.unwrap());
    assert_eq!(storage.get("a").await.unwrap().unwrap(), Bytes::from_static(b"1"));
    // Two probe creates, once, then one create per call.
    assert_eq!(wrapped.creates.load(Ordering::SeqCst), 4);
    assert!(storage.put_if_absent("b", Bytes::from_static(b"1")).await.unwrap());
    assert_eq!(wrapped.creates.load(Ordering::SeqCst), 5);
    let listed: Vec<_> = storage.list("").await.unwrap().into_iter().map(|o| o.path).collect();
    assert_eq!(listed, vec!["a".to_string(), "b".to_string()]);
    assert!(storage.list_folders("").await.unwrap().is_empty());
    // The probe object was deleted (in the background).
    tokio::task::yield_now().await;
    let all: Vec<_> = wrapped.inner.list(None).try_collect().await.unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn a_store_that_ignores_create_if_absent_is_refused_before_anything_is_written() {
    let (wrapped, storage) = storage(Fault::IgnoreCreateCondition, verify());
    let err = storage.put_if_absent("config", Bytes::from_static(b"1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    let msg = err.to_string();
    assert!(msg.contains("create-if-absent") && msg.contains("unsafe_single_writer"), "{msg}");
    assert!(storage.get("config").await.unwrap().is_none());
    let all: Vec<_> = wrapped.inner.list(None).try_collect().await.unwrap();
    assert!(all.is_empty(), "{all:?}");
    // Plain writes and reads still work: only conditional writes are refused.
    storage.put("x", Bytes::from_static(b"x")).await.unwrap();
}

#[tokio::test]
async fn unsafe_single_writer_emulates_create_if_absent() {
    let settings = BackendSettings { unsafe_single_writer: true, ..verify() };
    let (_, storage) = storage(Fault::IgnoreCreateCondition, settings);
    assert!(storage.put_if_absent("a", Bytes::from_static(b"1")).await.unwrap());
    assert!(!storage.put_if_absent("a", Bytes::from_static(b"2")).await.unwrap());
    assert_eq!(storage.get("a").await.unwrap().unwrap(), Bytes::from_static(b"1"));
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_retried_and_found() {
    let settings = BackendSettings {
        create_retries: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..Default::default()
    };
    let (wrapped, storage) = storage(Fault::LoseCreateAnswer(1), settings.clone());
    // Applied, answer lost; the retry finds the object: "already exists", which the refs layer
    // resolves through the write_id.
    assert!(!storage.put_if_absent("a", Bytes::from_static(b"1")).await.unwrap());
    assert_eq!(wrapped.creates.load(Ordering::SeqCst), 2);

    // Through the engine: a repository is created and commits land exactly once.
    let (wrapped, shared) = storage_arc(Fault::None, settings.clone());
    let repo = crate::Repository::create(shared, None).await.unwrap();
    *wrapped.fault.lock().unwrap() = Fault::LoseCreateAnswer(1);
    let session = repo.writable_session("main").await.unwrap();
    session
        .store()
        .set("zarr.json", Bytes::from_static(br#"{"zarr_format":3,"node_type":"group","attributes":{}}"#))
        .await
        .unwrap();
    let id = session.commit("lost answer", None, false).await.unwrap();
    let tip = repo.lookup_branch("main").await.unwrap();
    assert_eq!(tip, id);
    let records: Vec<_> = repo.storage().list("refs/branch.main/").await.unwrap();
    assert_eq!(records.iter().filter(|o| o.path.parse::<u64>().is_ok()).count(), 2, "{records:?}");

    // A create that never answers gives up with a storage error after the retries.
    let (wrapped, storage) = self::storage(Fault::CreateTimesOut, settings);
    let err = storage.put_if_absent("b", Bytes::from_static(b"1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert_eq!(wrapped.creates.load(Ordering::SeqCst), 4);
}

fn storage_arc(fault: Fault, settings: BackendSettings) -> (Arc<Wrapped>, Arc<dyn Storage>) {
    let (wrapped, storage) = storage(fault, settings);
    (wrapped, Arc::new(storage))
}

#[tokio::test]
async fn an_s3_conditional_request_conflict_is_retried() {
    let settings = BackendSettings {
        create_retries: 3,
        initial_backoff: Duration::from_millis(1),
        ..Default::default()
    };
    let (wrapped, storage) = storage(Fault::CreateConflict(2), settings);
    assert!(storage.put_if_absent("a", Bytes::from_static(b"1")).await.unwrap());
    assert_eq!(wrapped.creates.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn large_objects_are_read_in_concurrent_parts() {
    let reads = LargeReads { threshold: 1000, part_size: 300, concurrency: 4 };
    let settings = BackendSettings { large_reads: Some(reads), ..Default::default() };
    let (wrapped, storage) = storage(Fault::None, settings);
    let big: Bytes = (0..2500u32).map(|i| (i % 251) as u8).collect::<Vec<_>>().into();
    storage.put("big", big.clone()).await.unwrap();
    storage.put("small", big.slice(..1000)).await.unwrap();

    assert_eq!(storage.get("small").await.unwrap().unwrap(), big.slice(..1000));
    assert_eq!(wrapped.gets.load(Ordering::SeqCst), 1);
    assert_eq!(wrapped.ranged_gets.load(Ordering::SeqCst), 0);

    assert_eq!(storage.get("big").await.unwrap().unwrap(), big);
    // One plain GET (its first 300 bytes are used), then 2200 bytes in 8 ranged GETs.
    assert_eq!(wrapped.gets.load(Ordering::SeqCst), 1 + 1 + 8);
    assert_eq!(wrapped.ranged_gets.load(Ordering::SeqCst), 8);

    let before = wrapped.ranged_gets.load(Ordering::SeqCst);
    assert_eq!(storage.get_range("big", 100..2400).await.unwrap().unwrap(), big.slice(100..2400));
    assert_eq!(wrapped.ranged_gets.load(Ordering::SeqCst) - before, 8);
    assert_eq!(storage.get_range("big", 10..20).await.unwrap().unwrap(), big.slice(10..20));
    assert!(storage.get("missing").await.unwrap().is_none());
    assert!(storage.get_range("missing", 0..5000).await.unwrap().is_none());
}

#[tokio::test]
async fn secrets_are_scrubbed_from_errors() {
    let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    let settings = BackendSettings { secrets: vec![Secret::new(secret)], ..Default::default() };
    let (_, storage) = storage(Fault::GetLeaks(secret), settings);
    let err = storage.get("a").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!format!("{err:?}").contains(secret), "{err:?}");
    assert!(err.to_string().contains("***"), "{err}");
}

#[tokio::test]
async fn a_read_only_storage_refuses_every_write() {
    let settings = BackendSettings { read_only: true, ..Default::default() };
    let (_, storage) = storage(Fault::None, settings);
    for result in [
        storage.put("a", Bytes::new()).await.map(|_| ()),
        storage.put_if_absent("a", Bytes::new()).await.map(|_| ()),
        storage.delete("a").await,
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ReadOnly);
        assert!(err.to_string().contains("read-only"), "{err}");
    }
}

#[test]
fn backoff_grows_with_jitter_and_is_capped() {
    let (init, max) = (Duration::from_millis(100), Duration::from_millis(1000));
    for attempt in 0..40 {
        let b = backoff(attempt, init, max);
        assert!(b >= Duration::from_millis(50) && b <= max, "{attempt}: {b:?}");
    }
    assert!(backoff(0, init, max) <= init);
}
