//! Amazon S3 and the S3-compatibles: R2, Tigris, MinIO and any server at an `endpoint_url`.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, Checksum, S3ConditionalPut};
use object_store::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::headers::ExtraHeaders;
use super::refresh::{aws_credential, Expiring, ExpiringProvider, FetchedCredential, RefreshableCredentials};
use super::{build_error, check_url, join_location, secrets, with_prefix, NetworkOptions};
use crate::error::{IcechunkError, Result};
use crate::storage::credentials::{redact_url, Secret};
use crate::storage::object_store_backend::{CreateIfAbsent, ObjectStorage};
use crate::storage::{Storage, StorageSpec};

/// The endpoint of Tigris, an S3-compatible, globally distributed store.
pub const TIGRIS_ENDPOINT: &str = "https://fly.storage.tigris.dev";
/// Sent by Tigris clients on every request so that reads and conditional writes are served by
/// the leader, i.e. are globally strongly consistent (Tigris docs, "Consistency").
pub const TIGRIS_CONSISTENT_HEADER: &str = "x-tigris-consistent";

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

/// The checksum sent with each upload (`x-amz-checksum-*`), checked by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum S3Checksum {
    Sha256,
    Crc64Nvme,
}

/// An S3 bucket (or an S3-compatible one: set `endpoint_url`).
///
/// Credentials: `access_key_id` + `secret_access_key` (+ `session_token`, + `expires_after`
/// after which they are refused), or `refreshable` (fetched again whenever they expire), or
/// `anonymous` (unsigned requests, for public buckets), or `from_env` (`AWS_*` variables, read
/// where the storage is built, also in worker processes), or none of these (the default chain
/// of `object_store`: web identity, ECS/EC2 instance metadata).
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
    /// When the static credentials stop working.
    pub expires_after: Option<SystemTime>,
    pub refreshable: Option<RefreshableCredentials>,
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
    /// Requests say that the requester pays for them (requester-pays buckets).
    pub requester_pays: bool,
    pub checksum: Option<S3Checksum>,
    pub headers: ExtraHeaders,
    /// Every write fails with a `ReadOnly` error.
    pub read_only: bool,
}

/// How requests to S3 are authenticated, as one value (Icechunk's `S3Credentials`): set on
/// an [`S3Options`] with [`S3Auth::apply`]. The default is the environment's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct S3Auth {
    pub anonymous: bool,
    pub from_env: bool,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub expires_after: Option<SystemTime>,
    pub refreshable: Option<RefreshableCredentials>,
}

impl S3Auth {
    /// Credentials from the `AWS_*` variables (and `object_store`'s default chain).
    pub fn from_env() -> Self {
        S3Auth { from_env: true, ..Default::default() }
    }

    pub fn anonymous() -> Self {
        S3Auth { anonymous: true, ..Default::default() }
    }

    /// Static keys (with a session token for temporary credentials).
    pub fn keys(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        S3Auth {
            access_key_id: Some(Secret::new(access_key_id)),
            secret_access_key: Some(Secret::new(secret_access_key)),
            session_token: session_token.map(Secret::new),
            ..Default::default()
        }
    }

    /// Sets these credentials on `options` (replacing any there).
    pub fn apply(&self, options: &mut S3Options) {
        options.anonymous = self.anonymous;
        options.from_env = self.from_env;
        options.access_key_id = self.access_key_id.clone();
        options.secret_access_key = self.secret_access_key.clone();
        options.session_token = self.session_token.clone();
        options.expires_after = self.expires_after;
        options.refreshable = self.refreshable.clone();
    }

    /// Whether these are credentials rather than an instruction to send unsigned requests
    /// or to look in the environment.
    pub fn has_keys(&self) -> bool {
        self.access_key_id.is_some() || self.refreshable.is_some()
    }
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
            .field("requester_pays", &self.requester_pays)
            .field("checksum", &self.checksum)
            .field("headers", &self.headers)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl S3Options {
    /// Options for `bucket`/`prefix` with everything else at its default.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        S3Options { bucket: bucket.into(), prefix: prefix.into(), ..Default::default() }
    }

    pub(super) fn credentials_kind(&self) -> &'static str {
        if self.anonymous {
            "anonymous"
        } else if self.refreshable.is_some() {
            "refreshable"
        } else if self.access_key_id.is_some() {
            "static"
        } else if self.from_env {
            "from_env"
        } else {
            "default_chain"
        }
    }

    pub(super) fn validate(&self) -> Result<()> {
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
        if self.anonymous && (self.access_key_id.is_some() || self.from_env || self.refreshable.is_some()) {
            return bad("anonymous access cannot be combined with credentials or from_env");
        }
        if self.refreshable.is_some() && (self.access_key_id.is_some() || self.from_env) {
            return bad("refreshable credentials cannot be combined with static ones or from_env");
        }
        if self.expires_after.is_some() && self.access_key_id.is_none() {
            return bad("expires_after needs access_key_id and secret_access_key");
        }
        if let Some(url) = &self.endpoint_url {
            check_url(url, self.allow_http, "endpoint_url")?;
        }
        self.network.validate()
    }

    pub(super) fn location(&self) -> String {
        let mut location = format!("s3://{}", join_location(&self.bucket, &self.prefix));
        if let Some(endpoint) = &self.endpoint_url {
            location.push_str(&format!(" at {}", redact_url(endpoint)));
        }
        location
    }

    pub(crate) fn build(&self) -> Result<ObjectStorage> {
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
        if let Some(refreshable) = &self.refreshable {
            let provider = ExpiringProvider::refreshable("S3", refreshable, aws_credential)?;
            builder = builder.with_credentials(Arc::new(provider));
        } else if let (Some(key), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            if let Some(expires_after) = self.expires_after {
                let credential = FetchedCredential::S3 {
                    access_key_id: key.clone(),
                    secret_access_key: secret.clone(),
                    session_token: self.session_token.clone(),
                };
                let expiring = Expiring { credential, expires_after: Some(expires_after) };
                let provider = ExpiringProvider::expiring("S3", expiring, aws_credential)?;
                builder = builder.with_credentials(Arc::new(provider));
            } else {
                builder = builder.with_access_key_id(key.expose()).with_secret_access_key(secret.expose());
                if let Some(token) = &self.session_token {
                    builder = builder.with_token(token.expose());
                }
            }
        }
        if self.requester_pays {
            builder = builder.with_request_payer(true);
        }
        if let Some(checksum) = self.checksum {
            builder = builder.with_checksum_algorithm(match checksum {
                S3Checksum::Sha256 => Checksum::SHA256,
                S3Checksum::Crc64Nvme => Checksum::CRC64NVME,
            });
        }
        // Signed requests cover every `x-amz-*` header; extra headers come after signing.
        let signed = if self.anonymous { None } else { Some("x-amz-") };
        if let Some(connector) = self.headers.connector(signed)? {
            builder = builder.with_http_connector(connector);
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
        let mut secrets = secrets([&self.access_key_id, &self.secret_access_key, &self.session_token]);
        secrets.extend(self.refreshable.iter().flat_map(RefreshableCredentials::secrets));
        let store = builder.build().map_err(|e| build_error("S3", e, &secrets))?;
        // Amazon S3 itself, R2 and Tigris document `If-None-Match: *` on PUT; any other server
        // is checked before its first conditional write.
        let create = match (self.provider, custom_endpoint) {
            (S3Provider::S3, true) => CreateIfAbsent::Verify,
            _ => CreateIfAbsent::Native,
        };
        let mut settings = self.network.settings(create, secrets);
        settings.unsafe_single_writer = self.unsafe_single_writer;
        settings.read_only = self.read_only;
        Ok(ObjectStorage::new(
            with_prefix(Arc::new(store), &self.prefix)?,
            StorageSpec::S3(self.clone()),
            self.location(),
            settings,
        ))
    }

    pub(super) fn constructor_name(&self) -> &'static str {
        match self.provider {
            S3Provider::S3 => "s3_storage",
            S3Provider::R2 => "r2_storage",
            S3Provider::Tigris => "tigris_storage",
        }
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
