//! Retries, backoff, timeouts, large reads and the `User-Agent`: the network settings every
//! cloud store shares.

use std::time::Duration;

use object_store::{BackoffConfig, ClientOptions, HeaderValue, RetryConfig};
use serde::{Deserialize, Serialize};

use super::attribution::Attribution;
use crate::error::{IcechunkError, Result};
use crate::storage::credentials::Secret;
use crate::storage::object_store_backend::{BackendSettings, CreateIfAbsent, LargeReads};

/// Retries, timeouts, large reads and request labels, for every cloud store.
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
    /// A request fails when no bytes arrive for this long (zero: no such limit).
    pub stream_timeout: Duration,
    /// Objects larger than this are read with concurrent ranged GETs.
    pub large_read_threshold: u64,
    /// The size of each ranged GET of a large read.
    pub read_part_size: u64,
    /// Ranged GETs in flight at once for one large read.
    pub read_concurrency: usize,
    /// Labels for the `User-Agent` of every request (none by default). A repository opened
    /// with an attribution rebuilds its storage with it ([`crate::storage::with_attribution`]).
    pub attribution: Attribution,
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
            stream_timeout: Duration::from_secs(60),
            large_read_threshold: 16 * 1024 * 1024,
            read_part_size: 8 * 1024 * 1024,
            read_concurrency: 8,
            attribution: Attribution::default(),
        }
    }
}

/// The `User-Agent` of every request to a cloud store, unless an [`Attribution`] adds to it.
pub const USER_AGENT: &str = concat!("icechunk-rs/", env!("CARGO_PKG_VERSION"));

/// HTTPS uses rustls with the `ring` provider; rustls needs it installed once per process
/// (an already installed provider, e.g. by the embedding application, is kept).
pub(super) fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl NetworkOptions {
    pub fn validate(&self) -> Result<()> {
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
        self.attribution.validate()
    }

    pub(super) fn retry_config(&self) -> RetryConfig {
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

    /// Every store's `build` calls `validate` first, so the attribution makes a header value;
    /// should one not, the plain `User-Agent` goes out rather than no request at all.
    pub(super) fn client_options(&self, allow_http: bool) -> ClientOptions {
        install_crypto_provider();
        let user_agent = HeaderValue::from_str(&self.attribution.user_agent())
            .unwrap_or_else(|_| HeaderValue::from_static(USER_AGENT));
        let options = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_user_agent(user_agent)
            .with_connect_timeout(self.connect_timeout)
            .with_timeout(self.request_timeout);
        if self.stream_timeout.is_zero() {
            options
        } else {
            options.with_read_timeout(self.stream_timeout)
        }
    }

    pub(super) fn settings(&self, create_if_absent: CreateIfAbsent, secrets: Vec<Secret>) -> BackendSettings {
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
