//! Reading virtual chunks: from a location to the container that holds it, the
//! authorization for that container, a (cached) store built with it, and a ranged read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use url::Url;

use super::coalesce::{self, Fetch};
use super::containers::{self, ContainerStore, S3Store, VirtualChunkContainer};
use super::credentials::ContainerCredentials;
use super::SourcePin;
use crate::error::{IcechunkError, Result};
use crate::storage::{
    AzureCredentials, AzureOptions, BackendSettings, ConditionalRead, ExtraHeaders, GcsCredentials,
    GcsOptions, HttpOptions, NetworkOptions, ObjectStorage, S3Auth, S3Options, S3Provider, StorageSpec,
};
use crate::sync::lock;

/// The containers of a repository's config and the authorizations it was opened with: what
/// virtual chunks it may read, and the stores it reads them through.
pub struct VirtualSources {
    containers: Vec<VirtualChunkContainer>,
    authorized: BTreeMap<String, ContainerCredentials>,
    /// One store per container and bucket (or host), built on first use.
    stores: Mutex<HashMap<(String, String), Arc<ObjectStorage>>>,
    /// Requests in flight at once for this repository's virtual chunks.
    requests: tokio::sync::Semaphore,
    concurrency: usize,
}

impl std::fmt::Debug for VirtualSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the credentials: only which containers are authorized.
        f.debug_struct("VirtualSources")
            .field("containers", &self.containers)
            .field("authorized", &self.authorized.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A range of one of the requests of `read_many`, with the request's index.
type IndexedRange = (usize, Range<u64>);

/// An object: the store that reads it and its key there.
struct Source {
    store: Arc<ObjectStorage>,
    key: String,
    /// Set when the opener authorized the container without credentials for a cloud store,
    /// so they come from the environment: said in errors, since a missing credential is
    /// the likeliest cause of a failed read then.
    credentials_from_env: Option<String>,
}

impl VirtualSources {
    /// `authorized` maps container url prefixes to the credentials to read them with; a
    /// prefix without a container is accepted (a container may be added later), but
    /// credentials that cannot fit their container's store are refused. At most
    /// `max_concurrent_requests` reads are in flight at once.
    pub fn new(
        containers: Vec<VirtualChunkContainer>,
        authorized: BTreeMap<String, ContainerCredentials>,
        max_concurrent_requests: usize,
    ) -> Result<Self> {
        for (prefix, credentials) in &authorized {
            if let Some(container) = containers.iter().find(|c| &c.url_prefix == prefix) {
                credentials.check_fits(prefix, &container.store)?;
            }
        }
        let concurrency = max_concurrent_requests.max(1);
        Ok(VirtualSources {
            containers,
            authorized,
            stores: Mutex::new(HashMap::new()),
            requests: tokio::sync::Semaphore::new(concurrency),
            concurrency,
        })
    }

    pub fn containers(&self) -> &[VirtualChunkContainer] {
        &self.containers
    }

    pub fn authorizations(&self) -> &BTreeMap<String, ContainerCredentials> {
        &self.authorized
    }

    pub fn authorized_prefixes(&self) -> BTreeSet<String> {
        self.authorized.keys().cloned().collect()
    }

    /// The container whose url_prefix is the longest prefix of `location`, if any.
    pub fn container_for(&self, location: &str) -> Option<&VirtualChunkContainer> {
        containers::container_for(&self.containers, location)
    }

    /// Checks a location is a well-formed absolute URL of a supported scheme.
    pub fn check_location(location: &str) -> Result<()> {
        containers::check_location(location).map(|_| ())
    }

    /// Bytes `range` of the object at `location`, refused unless `location` is in an
    /// authorized container; with `pin`, refused if the object changed since.
    pub async fn read(&self, location: &str, range: Range<u64>, pin: Option<&SourcePin>) -> Result<Bytes> {
        let source = self.source(location)?;
        let whole = Fetch { range: range.clone(), parts: Vec::new() };
        self.fetch(&source, range.clone(), pin)
            .await
            .and_then(|bytes| cut(&whole, &range, &bytes))
            .map_err(|failure| failure.into_error(location))
    }

    /// Many reads at once: the ranges of one object (and pin) are coalesced into fewer
    /// requests ([`coalesce::plan`]), requests run concurrently; results in the order of
    /// `requests`.
    pub async fn read_many(
        &self,
        requests: Vec<(String, Range<u64>, Option<SourcePin>)>,
    ) -> Vec<Result<Bytes>> {
        let mut results: Vec<Option<Result<Bytes>>> = (0..requests.len()).map(|_| None).collect();
        // Ranges by object and pin: a pinned and an unpinned read of an object are two reads.
        let mut groups: BTreeMap<(&str, Option<&SourcePin>), Vec<IndexedRange>> = BTreeMap::new();
        for (index, (location, range, pin)) in requests.iter().enumerate() {
            groups.entry((location.as_str(), pin.as_ref())).or_default().push((index, range.clone()));
        }
        let mut work = Vec::new();
        for ((location, pin), ranges) in groups {
            match self.source(location) {
                Ok(source) => {
                    let source = Arc::new(source);
                    // An empty range needs no request (and object stores refuse one).
                    let (empty, ranges): (Vec<_>, Vec<_>) =
                        ranges.into_iter().partition(|(_, r)| r.is_empty());
                    for (index, _) in empty {
                        results[index] = Some(Ok(Bytes::new()));
                    }
                    for fetch in coalesce::plan(&ranges, coalesce::MAX_GAP, coalesce::MAX_MERGED) {
                        // Owned, so that the read futures are Send for any caller.
                        work.push((location.to_string(), pin.cloned(), source.clone(), fetch));
                    }
                }
                Err(e) => {
                    for (index, _) in ranges {
                        results[index] = Some(Err(same_error(location, &e)));
                    }
                }
            }
        }
        let fetched: Vec<_> = futures::stream::iter(work)
            .map(|(location, pin, source, fetch)| async move {
                let bytes = self.fetch(&source, fetch.range.clone(), pin.as_ref()).await;
                (location, fetch, bytes)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (location, fetch, bytes) in fetched {
            for (index, part) in &fetch.parts {
                let result = bytes.clone().and_then(|bytes| cut(&fetch, part, &bytes));
                results[*index] = Some(result.map_err(|failure| failure.into_error(&location)));
            }
        }
        results.into_iter().map(|r| r.expect("every request has a result")).collect()
    }

    /// The store and key of `location`, if it is in an authorized container.
    fn source(&self, location: &str) -> Result<Source> {
        let url = containers::check_location(location)?;
        let container = self
            .container_for(location)
            .ok_or_else(|| IcechunkError::NoContainerForVirtualChunk { location: location.to_string() })?;
        let credentials = self.authorized.get(&container.url_prefix).ok_or_else(|| {
            IcechunkError::VirtualChunkUnauthorized {
                prefix: container.url_prefix.clone(),
                location: location.to_string(),
            }
        })?;
        let key = Path::from_url_path(url.path())
            .map_err(|e| IcechunkError::InvalidVirtualRef {
                location: location.to_string(),
                reason: format!("its path is not an object key ({e})"),
            })?
            .to_string();
        let server = match url.scheme() {
            "file" => String::new(),
            _ => format!("{}://{}@{}", url.scheme(), url.username(), url.host_str().unwrap_or("")),
        };
        let cloud = matches!(
            container.store,
            ContainerStore::S3(_)
                | ContainerStore::S3Compatible(_)
                | ContainerStore::Tigris(_)
                | ContainerStore::Gcs { .. }
                | ContainerStore::Azure { .. }
        );
        let credentials_from_env =
            (cloud && *credentials == ContainerCredentials::Default).then(|| container.url_prefix.clone());
        let cache_key = (container.url_prefix.clone(), format!("{server}:{:?}", url.port()));
        if let Some(store) = lock(&self.stores).get(&cache_key) {
            return Ok(Source { store: store.clone(), key, credentials_from_env });
        }
        let store = Arc::new(build_store(&container.store, credentials, &url).map_err(|e| {
            IcechunkError::VirtualChunkFetch {
                location: location.to_string(),
                reason: format!("cannot set up the {} store: {e}", container.store.kind()),
            }
        })?);
        lock(&self.stores).entry(cache_key).or_insert(store.clone());
        Ok(Source { store, key, credentials_from_env })
    }

    async fn fetch(
        &self,
        source: &Source,
        range: Range<u64>,
        pin: Option<&SourcePin>,
    ) -> std::result::Result<Bytes, Failure> {
        let (if_match, if_unmodified_since) = match pin {
            None => (None, None),
            Some(SourcePin::ETag(etag)) => (Some(etag.clone()), None),
            Some(SourcePin::LastModified(seconds)) => {
                (None, chrono::DateTime::from_timestamp(i64::try_from(*seconds).unwrap_or(i64::MAX), 0))
            }
        };
        let _permit = self.requests.acquire().await.expect("the semaphore is never closed");
        match source.store.get_range_if(&source.key, range.clone(), if_match, if_unmodified_since).await {
            Ok(ConditionalRead::Read(bytes)) => Ok(bytes),
            Ok(ConditionalRead::Changed) => Err(Failure::Changed),
            Ok(ConditionalRead::Missing) => Err(Failure::Fetch("no object at this location".into())),
            // Nothing of the range exists: `cut` reports it too short, with 0 bytes available.
            Ok(ConditionalRead::StartsPastEnd { .. }) => Ok(Bytes::new()),
            Err(e) => Err(Failure::Fetch(match &source.credentials_from_env {
                Some(prefix) => format!(
                    "{e} (the container `{prefix}` was authorized without credentials, so they are \
                     looked up in the environment: are they there?)"
                ),
                None => e.to_string(),
            })),
        }
    }
}

/// Why a fetch failed, for every request it served (an error is built per request).
#[derive(Debug, Clone)]
enum Failure {
    Changed,
    Fetch(String),
    TooShort { expected: u64, available: u64 },
}

impl Failure {
    fn into_error(self, location: &str) -> IcechunkError {
        let location = location.to_string();
        match self {
            Failure::Changed => IcechunkError::VirtualChunkModified { location },
            Failure::Fetch(reason) => IcechunkError::VirtualChunkFetch { location, reason },
            Failure::TooShort { expected, available } => {
                IcechunkError::VirtualChunkTooShort { location, expected, available }
            }
        }
    }
}

/// The bytes of `part` in what `fetch` read (which ends early if the object does).
fn cut(fetch: &Fetch, part: &Range<u64>, bytes: &Bytes) -> std::result::Result<Bytes, Failure> {
    let slice = fetch.slice_of(part);
    if slice.end <= bytes.len() {
        Ok(bytes.slice(slice))
    } else {
        Err(Failure::TooShort {
            expected: part.end - part.start,
            available: bytes.len().saturating_sub(slice.start) as u64,
        })
    }
}

/// The error `e` again, for another request of the same location.
fn same_error(location: &str, e: &IcechunkError) -> IcechunkError {
    let location = location.to_string();
    match e {
        IcechunkError::VirtualChunkUnauthorized { prefix, .. } => {
            IcechunkError::VirtualChunkUnauthorized { prefix: prefix.clone(), location }
        }
        IcechunkError::NoContainerForVirtualChunk { .. } => {
            IcechunkError::NoContainerForVirtualChunk { location }
        }
        IcechunkError::InvalidVirtualRef { reason, .. } => {
            IcechunkError::InvalidVirtualRef { location, reason: reason.clone() }
        }
        IcechunkError::VirtualChunkFetch { reason, .. } => {
            IcechunkError::VirtualChunkFetch { location, reason: reason.clone() }
        }
        other => IcechunkError::VirtualChunkFetch { location, reason: other.to_string() },
    }
}

/// A read-only store for the objects of `url`'s bucket (or host) in a container, through the
/// same builders as the repository's own storage: the same retries, timeouts and scrubbing
/// of secrets from messages.
fn build_store(
    store: &ContainerStore,
    credentials: &ContainerCredentials,
    url: &Url,
) -> Result<ObjectStorage> {
    let host = url.host_str().unwrap_or("").to_string();
    match store {
        ContainerStore::InMemory => {
            Err(IcechunkError::InvalidInput("an in-memory container holds no objects".into()))
        }
        ContainerStore::LocalFileSystem { .. } => {
            // Rooted at `/`: the key is the location's whole path.
            let settings = BackendSettings { read_only: true, ..Default::default() };
            Ok(ObjectStorage::new(
                Arc::new(object_store::local::LocalFileSystem::new()),
                StorageSpec::LocalFilesystem { path: "/".into() },
                "file://".to_string(),
                settings,
            ))
        }
        ContainerStore::S3(s3) => s3_options(s3, S3Provider::S3, host, credentials).build(),
        ContainerStore::S3Compatible(s3) => s3_options(s3, S3Provider::S3, host, credentials).build(),
        ContainerStore::Tigris(s3) => {
            let mut options = s3_options(s3, S3Provider::Tigris, host, credentials);
            options.endpoint_url.get_or_insert_with(|| crate::storage::cloud::TIGRIS_ENDPOINT.to_string());
            options.region.get_or_insert_with(|| "auto".to_string());
            options.build()
        }
        ContainerStore::Gcs { options } => {
            let credentials = match credentials {
                ContainerCredentials::Gcs(c) => c.clone(),
                _ => GcsCredentials::FromEnv,
            };
            let mut gcs = GcsOptions::new(host, "", credentials);
            gcs.config = options.clone();
            gcs.read_only = true;
            gcs.build()
        }
        ContainerStore::Azure { options } => {
            // `abfs://container@account.dfs.core.windows.net/...`, or `az://container/...`
            // with the account in the options.
            let (container, account) = if url.username().is_empty() {
                let account = ["account_name", "azure_storage_account_name", "account"]
                    .iter()
                    .find_map(|k| options.get(*k))
                    .cloned()
                    .ok_or_else(|| {
                        IcechunkError::InvalidInput(
                            "an Azure container needs the `account_name` option".into(),
                        )
                    })?;
                (host, account)
            } else {
                (url.username().to_string(), host.split('.').next().unwrap_or("").to_string())
            };
            let credentials = match credentials {
                ContainerCredentials::Azure(c) => c.clone(),
                _ => AzureCredentials::FromEnv,
            };
            let mut azure = AzureOptions::new(account, container, "", credentials);
            azure.config = options.clone();
            azure.build()
        }
        ContainerStore::Http { options, headers } => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            let mut http = HttpOptions::new(format!("{}://{host}{port}", url.scheme()));
            http.options = options.clone();
            http.headers = ExtraHeaders { all: headers.clone(), ..Default::default() };
            http.build()
        }
    }
}

fn s3_options(
    store: &S3Store,
    provider: S3Provider,
    bucket: String,
    credentials: &ContainerCredentials,
) -> S3Options {
    let mut network = NetworkOptions::default();
    if let Some(seconds) = store.network_stream_timeout_seconds {
        network.stream_timeout = std::time::Duration::from_secs(seconds.into());
    }
    let mut options = S3Options {
        bucket,
        prefix: String::new(),
        region: store.region.clone(),
        endpoint_url: store.endpoint_url.clone(),
        allow_http: store.allow_http,
        force_path_style: store.force_path_style,
        requester_pays: store.requester_pays,
        provider,
        network,
        // Nothing is ever written through it.
        read_only: true,
        unsafe_single_writer: true,
        ..Default::default()
    };
    let auth = match credentials {
        ContainerCredentials::S3(auth) => auth.clone(),
        _ => S3Auth::from_env(),
    };
    auth.apply(&mut options);
    // The container says its bucket is public: unsigned requests, unless the reader gave keys.
    if store.anonymous && !auth.has_keys() {
        options.anonymous = true;
        options.from_env = false;
    }
    options
}
