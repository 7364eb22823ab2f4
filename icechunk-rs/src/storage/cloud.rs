//! Cloud object stores: S3 and S3-compatibles (R2, Tigris, MinIO), Google Cloud Storage, Azure
//! Blob Storage, and read-only HTTP, on the `object_store` crate.
//!
//! Each store is described by an options struct that is also its [`StorageSpec`] variant, so a
//! session sent to another process rebuilds the same storage there. Credentials travel with the
//! spec (they are serialized) but are held in [`Secret`], whose `Debug` never shows them, and
//! they are scrubbed from error messages.
//!
//! Create-if-absent, the one conditional write the engine relies on, is `If-None-Match: *` on
//! S3, R2, Tigris and MinIO, `x-goog-if-generation-match: 0` on GCS and `If-None-Match: *` on
//! Azure. An S3-compatible server at a custom endpoint is checked once, before its first
//! conditional write: one that ignores the condition is refused unless the options say
//! `unsafe_single_writer`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, HeaderMap, HeaderValue, ObjectStore, RetryConfig};
use serde::{Deserialize, Serialize};

use super::object_store_backend::{BackendSettings, CreateIfAbsent, LargeReads, ObjectStorage};
use super::{Storage, StorageSpec};
use crate::error::{IcechunkError, Result};

/// The endpoint of Tigris, an S3-compatible, globally distributed store.
pub const TIGRIS_ENDPOINT: &str = "https://fly.storage.tigris.dev";
/// Sent by Tigris clients on every request so that reads and conditional writes are served by
/// the leader, i.e. are globally strongly consistent (Tigris docs, "Consistency").
pub const TIGRIS_CONSISTENT_HEADER: &str = "x-tigris-consistent";

/// A credential. It is serialized as the plain string (so that a storage spec sent to another
/// process can authenticate there) but its `Debug` never shows it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself: only for handing it to the client that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Retries, timeouts and large reads, for every cloud store.
///
/// Requests that fail with 5xx, 429, 408, a timeout or a dropped connection are retried with
/// exponential backoff and decorrelated jitter (`object_store`'s retry layer). A create-if-absent
/// whose outcome is unknown (timeout, connection reset after sending) is retried too: if the
/// first attempt landed, the retry finds the object and the refs layer recognises it as its own
/// by the `write_id` inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkOptions {
    /// Retries of one request (0 disables retries).
    pub max_retries: usize,
    /// First backoff; later ones grow about 2x, with jitter, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// No retry starts after this long since the first attempt.
    pub retry_timeout: Duration,
    /// To establish a connection.
    pub connect_timeout: Duration,
    /// For a whole request, from connecting until the response body has been read.
    pub request_timeout: Duration,
    /// Objects larger than this are read with concurrent ranged GETs.
    pub large_read_threshold: u64,
    /// The size of each ranged GET of a large read.
    pub read_part_size: u64,
    /// Ranged GETs in flight at once for one large read.
    pub read_concurrency: usize,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            retry_timeout: Duration::from_secs(180),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            large_read_threshold: 16 * 1024 * 1024,
            read_part_size: 8 * 1024 * 1024,
            read_concurrency: 8,
        }
    }
}

/// HTTPS uses rustls with the `ring` provider; rustls needs it installed once per process
/// (an already installed provider, e.g. by the embedding application, is kept).
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl NetworkOptions {
    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(IcechunkError::InvalidInput(m.to_string()));
        if self.read_part_size == 0 {
            return bad("read_part_size must be at least 1");
        }
        if self.read_concurrency == 0 {
            return bad("read_concurrency must be at least 1");
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return bad("timeouts must be longer than zero");
        }
        if self.initial_backoff > self.max_backoff {
            return bad("initial_backoff cannot exceed max_backoff");
        }
        Ok(())
    }

    fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.initial_backoff,
                max_backoff: self.max_backoff,
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }

    fn client_options(&self, allow_http: bool) -> ClientOptions {
        install_crypto_provider();
        ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(self.connect_timeout)
            .with_timeout(self.request_timeout)
    }

    fn settings(&self, create_if_absent: CreateIfAbsent, secrets: Vec<Secret>) -> BackendSettings {
        BackendSettings {
            read_only: false,
            create_if_absent,
            unsafe_single_writer: false,
            large_reads: Some(LargeReads {
                threshold: self.large_read_threshold,
                part_size: self.read_part_size,
                concurrency: self.read_concurrency,
            }),
            create_retries: self.max_retries,
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
            secrets,
        }
    }
}

/// Which S3-compatible service: decides the defaults and what is known about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum S3Provider {
    /// Amazon S3, or any S3-compatible server at `endpoint_url` (MinIO, Ceph, moto, ...).
    #[default]
    S3,
    /// Cloudflare R2.
    R2,
    /// Tigris: every request carries `X-Tigris-Consistent: true`.
    Tigris,
}

/// An S3 bucket (or an S3-compatible one: set `endpoint_url`).
///
/// Credentials: `access_key_id` + `secret_access_key` (+ `session_token`), or `anonymous`
/// (unsigned requests, for public buckets), or `from_env` (`AWS_*` variables, read where the
/// storage is built, also in worker processes), or none of these (the default chain of
/// `object_store`: web identity, ECS/EC2 instance metadata).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct S3Options {
    pub bucket: String,
    /// The repository's folder in the bucket ("" for the bucket's root).
    pub prefix: String,
    pub region: Option<String>,
    /// For S3-compatible servers, e.g. `http://127.0.0.1:9000` for MinIO.
    pub endpoint_url: Option<String>,
    /// Allow `http://` endpoints.
    pub allow_http: bool,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub anonymous: bool,
    pub from_env: bool,
    /// `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`. Requests to a
    /// custom `endpoint_url` always use the path style.
    pub force_path_style: bool,
    /// Accept a server that cannot create an object only if it is absent. Safe only if one
    /// process at a time ever writes to the repository: concurrent commits could overwrite
    /// each other.
    pub unsafe_single_writer: bool,
    pub provider: S3Provider,
    pub network: NetworkOptions,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url.as_deref().map(redact_url))
            .field("allow_http", &self.allow_http)
            .field("credentials", &self.credentials_kind())
            .field("force_path_style", &self.force_path_style)
            .field("unsafe_single_writer", &self.unsafe_single_writer)
            .field("provider", &self.provider)
            .field("network", &self.network)
            .finish()
    }
}

impl S3Options {
    /// Options for `bucket`/`prefix` with everything else at its default.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        S3Options { bucket: bucket.into(), prefix: prefix.into(), ..Default::default() }
    }

    fn credentials_kind(&self) -> &'static str {
        if self.anonymous {
            "anonymous"
        } else if self.access_key_id.is_some() {
            "static"
        } else if self.from_env {
            "from_env"
        } else {
            "default_chain"
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(IcechunkError::InvalidInput(m.to_string()));
        if self.bucket.is_empty() {
            return bad("an S3 storage needs a bucket");
        }
        if self.bucket.contains('/') {
            return bad("an S3 bucket name cannot contain `/`; put the folder in `prefix`");
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return bad("give both access_key_id and secret_access_key, or neither");
        }
        if self.session_token.is_some() && self.access_key_id.is_none() {
            return bad("a session_token needs access_key_id and secret_access_key");
        }
        if self.anonymous && (self.access_key_id.is_some() || self.from_env) {
            return bad("anonymous access cannot be combined with credentials or from_env");
        }
        if let Some(url) = &self.endpoint_url {
            check_url(url, self.allow_http, "endpoint_url")?;
        }
        self.network.validate()
    }

    fn location(&self) -> String {
        let mut location = format!("s3://{}", join_location(&self.bucket, &self.prefix));
        if let Some(endpoint) = &self.endpoint_url {
            location.push_str(&format!(" at {}", redact_url(endpoint)));
        }
        location
    }

    fn build(&self) -> Result<ObjectStorage> {
        self.validate()?;
        let mut builder = if self.from_env { AmazonS3Builder::from_env() } else { AmazonS3Builder::new() };
        builder = builder.with_bucket_name(&self.bucket);
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &self.endpoint_url {
            builder = builder.with_endpoint(endpoint);
        }
        // A custom endpoint (given here or in the environment) is addressed path-style.
        let custom_endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint).is_some();
        builder = builder.with_virtual_hosted_style_request(!self.force_path_style && !custom_endpoint);
        if self.anonymous {
            builder = builder.with_skip_signature(true);
        }
        if let (Some(key), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            builder = builder.with_access_key_id(key.expose()).with_secret_access_key(secret.expose());
            if let Some(token) = &self.session_token {
                builder = builder.with_token(token.expose());
            }
        }
        let mut client = self.network.client_options(self.allow_http);
        if self.provider == S3Provider::Tigris {
            let mut headers = HeaderMap::new();
            headers.insert(TIGRIS_CONSISTENT_HEADER, HeaderValue::from_static("true"));
            client = client.with_default_headers(headers);
        }
        // ETag mode: `PutMode::Create` sends `If-None-Match: *`; a 412 (or 304) becomes
        // `AlreadyExists`. It is object_store's default; set it explicitly all the same.
        builder = builder
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(self.network.retry_config())
            .with_client_options(client);
        let secrets = secrets([&self.access_key_id, &self.secret_access_key, &self.session_token]);
        let store = builder.build().map_err(|e| build_error("S3", e, &secrets))?;
        // Amazon S3 itself, R2 and Tigris document `If-None-Match: *` on PUT; any other server
        // is checked before its first conditional write.
        let create = match (self.provider, custom_endpoint) {
            (S3Provider::S3, true) => CreateIfAbsent::Verify,
            _ => CreateIfAbsent::Native,
        };
        let mut settings = self.network.settings(create, secrets);
        settings.unsafe_single_writer = self.unsafe_single_writer;
        Ok(ObjectStorage::new(
            with_prefix(Arc::new(store), &self.prefix)?,
            StorageSpec::S3(self.clone()),
            self.location(),
            settings,
        ))
    }

    fn constructor_name(&self) -> &'static str {
        match self.provider {
            S3Provider::S3 => "s3_storage",
            S3Provider::R2 => "r2_storage",
            S3Provider::Tigris => "tigris_storage",
        }
    }
}

/// How to authenticate to Google Cloud Storage.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum GcsCredentials {
    /// `GOOGLE_*` variables (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_SERVICE_ACCOUNT_KEY`,
    /// `GOOGLE_APPLICATION_CREDENTIALS`...), then application default credentials, then the
    /// instance metadata server.
    #[default]
    FromEnv,
    /// Unsigned requests, for public buckets.
    Anonymous,
    /// A service account key file (JSON).
    ServiceAccountPath(PathBuf),
    /// The JSON of a service account key.
    ServiceAccountKey(Secret),
    /// Application default credentials: the given file, or the well-known file of
    /// `gcloud auth application-default login`.
    ApplicationDefault(Option<PathBuf>),
    /// A static OAuth bearer token (not refreshed).
    BearerToken(Secret),
}

impl fmt::Debug for GcsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcsCredentials::FromEnv => f.write_str("FromEnv"),
            GcsCredentials::Anonymous => f.write_str("Anonymous"),
            GcsCredentials::ServiceAccountPath(p) => f.debug_tuple("ServiceAccountPath").field(p).finish(),
            GcsCredentials::ServiceAccountKey(k) => f.debug_tuple("ServiceAccountKey").field(k).finish(),
            GcsCredentials::ApplicationDefault(p) => f.debug_tuple("ApplicationDefault").field(p).finish(),
            GcsCredentials::BearerToken(t) => f.debug_tuple("BearerToken").field(t).finish(),
        }
    }
}

/// A Google Cloud Storage bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GcsOptions {
    pub bucket: String,
    pub prefix: String,
    pub credentials: GcsCredentials,
    /// Another base URL than `https://storage.googleapis.com`, e.g. an emulator.
    pub endpoint_url: Option<String>,
    pub allow_http: bool,
    pub network: NetworkOptions,
}

impl GcsOptions {
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>, credentials: GcsCredentials) -> Self {
        GcsOptions { bucket: bucket.into(), prefix: prefix.into(), credentials, ..Default::default() }
    }

    fn location(&self) -> String {
        format!("gs://{}", join_location(&self.bucket, &self.prefix))
    }

    fn build(&self) -> Result<ObjectStorage> {
        let bad = |m: &str| Err(IcechunkError::InvalidInput(m.to_string()));
        if self.bucket.is_empty() || self.bucket.contains('/') {
            return bad("a GCS storage needs a bucket name without `/`; put the folder in `prefix`");
        }
        if let Some(url) = &self.endpoint_url {
            check_url(url, self.allow_http, "endpoint_url")?;
        }
        self.network.validate()?;
        let mut builder = match self.credentials {
            GcsCredentials::FromEnv => GoogleCloudStorageBuilder::from_env(),
            _ => GoogleCloudStorageBuilder::new(),
        };
        builder = builder.with_bucket_name(&self.bucket);
        let mut secrets = Vec::new();
        match &self.credentials {
            GcsCredentials::FromEnv => {}
            GcsCredentials::Anonymous => builder = builder.with_skip_signature(true),
            GcsCredentials::ServiceAccountPath(path) => {
                builder = builder.with_service_account_path(path.to_string_lossy())
            }
            GcsCredentials::ServiceAccountKey(key) => {
                builder = builder.with_service_account_key(key.expose());
                secrets.push(key.clone());
                // The private key itself, should a message quote it.
                if let Ok(serde_json::Value::Object(json)) = serde_json::from_str(key.expose()) {
                    if let Some(serde_json::Value::String(pk)) = json.get("private_key") {
                        secrets.push(Secret::new(pk.clone()));
                    }
                }
            }
            GcsCredentials::ApplicationDefault(path) => {
                if let Some(path) = path {
                    builder = builder.with_application_credentials(path.to_string_lossy());
                }
            }
            GcsCredentials::BearerToken(token) => {
                builder = builder.with_bearer_token(token.expose());
                secrets.push(token.clone());
            }
        }
        if let Some(url) = &self.endpoint_url {
            builder = builder.with_base_url(url);
        }
        builder = builder
            .with_retry(self.network.retry_config())
            .with_client_options(self.network.client_options(self.allow_http));
        let store = builder.build().map_err(|e| build_error("GCS", e, &secrets))?;
        // `PutMode::Create` sends `x-goog-if-generation-match: 0`; a 412 becomes AlreadyExists.
        let settings = self.network.settings(CreateIfAbsent::Native, secrets);
        Ok(ObjectStorage::new(
            with_prefix(Arc::new(store), &self.prefix)?,
            StorageSpec::Gcs(self.clone()),
            self.location(),
            settings,
        ))
    }
}

/// How to authenticate to Azure Blob Storage.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AzureCredentials {
    /// `AZURE_*` variables (account key, SAS, service principal, workload identity...), then
    /// managed identity.
    #[default]
    FromEnv,
    /// Unsigned requests, for public containers.
    Anonymous,
    /// The storage account's shared key (base64).
    AccessKey(Secret),
    /// A shared access signature, as the query string `sv=...&sig=...` (a leading `?` is fine).
    SasToken(Secret),
    /// A static OAuth bearer token (not refreshed).
    BearerToken(Secret),
}

impl fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureCredentials::FromEnv => f.write_str("FromEnv"),
            AzureCredentials::Anonymous => f.write_str("Anonymous"),
            AzureCredentials::AccessKey(k) => f.debug_tuple("AccessKey").field(k).finish(),
            AzureCredentials::SasToken(t) => f.debug_tuple("SasToken").field(t).finish(),
            AzureCredentials::BearerToken(t) => f.debug_tuple("BearerToken").field(t).finish(),
        }
    }
}

/// A container of an Azure storage account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AzureOptions {
    pub account: String,
    pub container: String,
    pub prefix: String,
    pub credentials: AzureCredentials,
    /// Another endpoint than `https://{account}.blob.core.windows.net`, e.g. Azurite's
    /// `http://127.0.0.1:10000/{account}`.
    pub endpoint_url: Option<String>,
    pub allow_http: bool,
    pub network: NetworkOptions,
}

impl AzureOptions {
    pub fn new(
        account: impl Into<String>,
        container: impl Into<String>,
        prefix: impl Into<String>,
        credentials: AzureCredentials,
    ) -> Self {
        AzureOptions {
            account: account.into(),
            container: container.into(),
            prefix: prefix.into(),
            credentials,
            ..Default::default()
        }
    }

    fn location(&self) -> String {
        format!("az://{}/{}", self.account, join_location(&self.container, &self.prefix))
    }

    fn build(&self) -> Result<ObjectStorage> {
        let bad = |m: &str| Err(IcechunkError::InvalidInput(m.to_string()));
        if self.account.is_empty() || self.container.is_empty() {
            return bad("an Azure storage needs an account and a container");
        }
        if self.container.contains('/') {
            return bad("an Azure container name cannot contain `/`; put the folder in `prefix`");
        }
        if let Some(url) = &self.endpoint_url {
            check_url(url, self.allow_http, "endpoint_url")?;
        }
        self.network.validate()?;
        let mut builder = match self.credentials {
            AzureCredentials::FromEnv => MicrosoftAzureBuilder::from_env(),
            _ => MicrosoftAzureBuilder::new(),
        };
        builder = builder.with_account(&self.account).with_container_name(&self.container);
        let mut secrets = Vec::new();
        match &self.credentials {
            AzureCredentials::FromEnv => {}
            AzureCredentials::Anonymous => builder = builder.with_skip_signature(true),
            AzureCredentials::AccessKey(key) => {
                builder = builder.with_access_key(key.expose());
                secrets.push(key.clone());
            }
            AzureCredentials::SasToken(sas) => {
                let pairs = object_store::azure::split_sas(sas.expose().trim_start_matches('?'))
                    .map_err(|_| IcechunkError::InvalidInput("the SAS token is not a query string".into()))?;
                // Every value, the signature above all, is kept out of messages.
                secrets.extend(pairs.iter().map(|(_, v)| Secret::new(v.clone())));
                secrets.push(sas.clone());
                builder = builder.with_sas_authorization(pairs);
            }
            AzureCredentials::BearerToken(token) => {
                builder = builder.with_bearer_token_authorization(token.expose());
                secrets.push(token.clone());
            }
        }
        if let Some(url) = &self.endpoint_url {
            builder = builder.with_endpoint(url.clone());
        }
        builder = builder
            .with_retry(self.network.retry_config())
            .with_client_options(self.network.client_options(self.allow_http));
        let store = builder.build().map_err(|e| build_error("Azure", e, &secrets))?;
        // `PutMode::Create` sends `If-None-Match: *`; 409 or 412 become AlreadyExists.
        let settings = self.network.settings(CreateIfAbsent::Native, secrets);
        Ok(ObjectStorage::new(
            with_prefix(Arc::new(store), &self.prefix)?,
            StorageSpec::Azure(self.clone()),
            self.location(),
            settings,
        ))
    }
}

/// A repository served over plain HTTP(S): read-only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HttpOptions {
    /// The repository's root, e.g. `https://example.com/data/repo`.
    pub url: String,
    pub network: NetworkOptions,
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("url", &redact_url(&self.url))
            .field("network", &self.network)
            .finish()
    }
}

impl HttpOptions {
    pub fn new(url: impl Into<String>) -> Self {
        HttpOptions { url: url.into(), ..Default::default() }
    }

    fn build(&self) -> Result<ObjectStorage> {
        check_url(&self.url, true, "url")?;
        self.network.validate()?;
        let url = self.url.trim_end_matches('/');
        let store = HttpBuilder::new()
            .with_url(url)
            .with_retry(self.network.retry_config())
            .with_client_options(self.network.client_options(url.starts_with("http://")));
        // Credentials embedded in the URL (user:password@, a signed query) stay out of messages.
        let secrets = url_secrets(url);
        let store = store.build().map_err(|e| build_error("HTTP", e, &secrets))?;
        let mut settings = self.network.settings(CreateIfAbsent::Native, secrets);
        settings.read_only = true;
        Ok(ObjectStorage::new(Arc::new(store), StorageSpec::Http(self.clone()), redact_url(url), settings))
    }
}

/// An S3 bucket, or an S3-compatible server at `options.endpoint_url` (MinIO, Ceph, ...).
pub fn new_s3_storage(options: S3Options) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(options.build()?))
}

/// A Cloudflare R2 bucket of the account `account_id` (its endpoint is
/// `https://{account_id}.r2.cloudflarestorage.com`; an `endpoint_url` in `options`, e.g. a
/// jurisdiction-specific one, wins). The region defaults to `auto`.
pub fn new_r2_storage(account_id: &str, mut options: S3Options) -> Result<Arc<dyn Storage>> {
    if options.endpoint_url.is_none() {
        if account_id.is_empty() || !account_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(IcechunkError::InvalidInput(
                "an R2 storage needs the Cloudflare account id (letters and digits) or an endpoint_url"
                    .into(),
            ));
        }
        options.endpoint_url = Some(format!("https://{account_id}.r2.cloudflarestorage.com"));
    }
    options.region.get_or_insert_with(|| "auto".to_string());
    options.provider = S3Provider::R2;
    new_s3_storage(options)
}

/// A Tigris bucket: endpoint `https://fly.storage.tigris.dev` unless `options.endpoint_url`
/// says otherwise, region `auto`, and the header `X-Tigris-Consistent: true` on every request
/// so that conditional creates and reads are globally strongly consistent.
pub fn new_tigris_storage(mut options: S3Options) -> Result<Arc<dyn Storage>> {
    options.endpoint_url.get_or_insert_with(|| TIGRIS_ENDPOINT.to_string());
    options.region.get_or_insert_with(|| "auto".to_string());
    options.provider = S3Provider::Tigris;
    new_s3_storage(options)
}

pub fn new_gcs_storage(options: GcsOptions) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(options.build()?))
}

pub fn new_azure_storage(options: AzureOptions) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(options.build()?))
}

/// A repository served over HTTP(S), read-only: every write fails with a `ReadOnly` error.
pub fn new_http_storage(url: impl Into<String>) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(HttpOptions::new(url).build()?))
}

pub fn new_http_storage_with(options: HttpOptions) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(options.build()?))
}

pub(super) fn from_cloud_spec(spec: &StorageSpec) -> Option<Result<ObjectStorage>> {
    match spec {
        StorageSpec::S3(o) => Some(o.build()),
        StorageSpec::Gcs(o) => Some(o.build()),
        StorageSpec::Azure(o) => Some(o.build()),
        StorageSpec::Http(o) => Some(o.build()),
        StorageSpec::InMemory | StorageSpec::LocalFilesystem { .. } => None,
    }
}

/// The constructor call that builds the storage, without any credential: for `repr`.
pub(super) fn describe(spec: &StorageSpec, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match spec {
        StorageSpec::InMemory => f.write_str("in_memory_storage()"),
        StorageSpec::LocalFilesystem { path } => write!(f, "local_filesystem_storage({path:?})"),
        StorageSpec::S3(o) => {
            write!(f, "{}(bucket={:?}, prefix={:?}", o.constructor_name(), o.bucket, o.prefix)?;
            if let Some(region) = &o.region {
                write!(f, ", region={region:?}")?;
            }
            if let Some(endpoint) = &o.endpoint_url {
                write!(f, ", endpoint_url={:?}", redact_url(endpoint))?;
            }
            write!(f, ", credentials={}", o.credentials_kind())?;
            if o.unsafe_single_writer {
                f.write_str(", unsafe_single_writer=True")?;
            }
            f.write_str(")")
        }
        StorageSpec::Gcs(o) => {
            let credentials = match &o.credentials {
                GcsCredentials::FromEnv => "from_env".to_string(),
                GcsCredentials::Anonymous => "anonymous".to_string(),
                GcsCredentials::ServiceAccountPath(p) => format!("service_account_path({p:?})"),
                GcsCredentials::ServiceAccountKey(_) => "service_account_key".to_string(),
                GcsCredentials::ApplicationDefault(_) => "application_default".to_string(),
                GcsCredentials::BearerToken(_) => "bearer_token".to_string(),
            };
            write!(f, "gcs_storage(bucket={:?}, prefix={:?}, credentials={credentials})", o.bucket, o.prefix)
        }
        StorageSpec::Azure(o) => {
            let credentials = match &o.credentials {
                AzureCredentials::FromEnv => "from_env",
                AzureCredentials::Anonymous => "anonymous",
                AzureCredentials::AccessKey(_) => "access_key",
                AzureCredentials::SasToken(_) => "sas_token",
                AzureCredentials::BearerToken(_) => "bearer_token",
            };
            write!(
                f,
                "azure_storage(account={:?}, container={:?}, prefix={:?}, credentials={credentials})",
                o.account, o.container, o.prefix
            )
        }
        StorageSpec::Http(o) => write!(f, "http_storage({:?})", redact_url(&o.url)),
    }
}

fn with_prefix(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Arc<dyn ObjectStore>> {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return Ok(store);
    }
    let path = Path::parse(prefix)
        .map_err(|e| IcechunkError::InvalidInput(format!("invalid prefix `{prefix}`: {e}")))?;
    Ok(Arc::new(PrefixStore::new(store, path)))
}

fn join_location(container: &str, prefix: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        container.to_string()
    } else {
        format!("{container}/{prefix}")
    }
}

fn check_url(url: &str, allow_http: bool, what: &str) -> Result<()> {
    if url.starts_with("https://") || (allow_http && url.starts_with("http://")) {
        Ok(())
    } else if url.starts_with("http://") {
        Err(IcechunkError::InvalidInput(format!(
            "{what} {} is plain http: set allow_http to use it",
            redact_url(url)
        )))
    } else {
        Err(IcechunkError::InvalidInput(format!("{what} {} is not an http(s) URL", redact_url(url))))
    }
}

/// `url` without user info and query: `https://***@host/path?***`.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (rest, query) = match rest.split_once('?') {
        Some((rest, _)) => (rest, "?***"),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
    format!("{scheme}{authority}{path}{query}")
}

/// The user info and the query of a URL, which may be credentials.
fn url_secrets(url: &str) -> Vec<Secret> {
    let mut out = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    if let Some(query) = query {
        out.push(Secret::new(query));
        out.extend(query.split('&').filter_map(|kv| kv.split_once('=')).map(|(_, v)| Secret::new(v)));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        out.push(Secret::new(userinfo));
        out.extend(userinfo.split(':').map(Secret::new));
    }
    out.retain(|s| !s.expose().is_empty());
    out
}

fn secrets<const N: usize>(items: [&Option<Secret>; N]) -> Vec<Secret> {
    items.into_iter().flatten().cloned().collect()
}

fn build_error(store: &str, e: object_store::Error, secrets: &[Secret]) -> IcechunkError {
    IcechunkError::InvalidInput(format!(
        "cannot configure the {store} storage: {}",
        super::object_store_backend::scrub(&e.to_string(), secrets)
    ))
}

#[cfg(test)]
mod tests;
