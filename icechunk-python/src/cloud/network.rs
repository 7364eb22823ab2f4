//! `NetworkOptions`: retries, backoff, timeouts and large reads of a cloud storage.

use icechunk::storage::NetworkOptions;
use pyo3::prelude::*;

use crate::config_class::config_class;

config_class! {
    /// Retries, backoff, timeouts and large reads of a cloud storage. Durations are in seconds.
    ///
    /// Failed requests (5xx, 429, timeouts, dropped connections) are retried up to `max_retries`
    /// times with exponential backoff and jitter, from `initial_backoff` up to `max_backoff`, and
    /// never later than `retry_timeout` after the first attempt. A request fails when no bytes
    /// arrive for `stream_timeout` (0: never), Icechunk 2.x's `network_stream_timeout_seconds`.
    PyNetworkOptions as "NetworkOptions" for NetworkOptions {
        max_retries: usize,
        initial_backoff: f64,
        max_backoff: f64,
        retry_timeout: f64,
        connect_timeout: f64,
        request_timeout: f64,
        stream_timeout: f64,
        large_read_threshold: u64,
        read_part_size: u64,
        read_concurrency: usize,
    }
    // A repository's `attribution=` labels its storage's requests (`Storage._with_attribution`).
    core_only { attribution }
}

/// The options given, or the defaults.
pub fn network(options: Option<PyNetworkOptions>) -> PyResult<NetworkOptions> {
    options.map_or_else(|| Ok(NetworkOptions::default()), |o| o.to_core())
}
