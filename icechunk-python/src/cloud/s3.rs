//! `S3Options`, `ChecksumAlgorithm` and the S3 storages (`Storage.new_s3`, `new_r2`,
//! `new_tigris`): Amazon S3 and the S3-compatibles.

use std::collections::BTreeMap;
use std::time::Duration;

use icechunk::storage::{S3Checksum, S3Options, S3Provider};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::credentials::PyS3Credentials;
use super::network::{network, PyNetworkOptions};
use super::{build, extra_headers, no_legacy_rooted_keys};
use crate::api_types::{reduce_member, ReducedMember};
use crate::errors::invalid_input;
use crate::storage::PyStorage;

/// The checksum algorithm of uploads. The engine's S3 client sends `Sha256` and
/// `Crc64Nvme`; the others raise `InvalidInputError` when a storage is made with them.
#[pyclass(
    name = "ChecksumAlgorithm",
    module = "icechunk._icechunk",
    eq,
    eq_int,
    hash,
    frozen,
    from_py_object
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PyChecksumAlgorithm {
    Crc32 = 0,
    Crc32c = 1,
    Crc64Nvme = 2,
    Sha1 = 3,
    Sha256 = 4,
}

#[pymethods]
impl PyChecksumAlgorithm {
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> ReducedMember<'py> {
        let name = format!("{:?}", *slf.get());
        reduce_member(slf, &name)
    }
}

impl PyChecksumAlgorithm {
    fn to_core(self) -> PyResult<S3Checksum> {
        match self {
            PyChecksumAlgorithm::Sha256 => Ok(S3Checksum::Sha256),
            PyChecksumAlgorithm::Crc64Nvme => Ok(S3Checksum::Crc64Nvme),
            other => Err(invalid_input(format!(
                "checksum_algorithm={other:?} is not supported: this engine's S3 client sends \
                 ChecksumAlgorithm.Sha256 or ChecksumAlgorithm.Crc64Nvme (or none, the default)"
            ))),
        }
    }
}

/// How to reach an S3 or S3-compatible server.
#[pyclass(name = "S3Options", module = "icechunk._icechunk", eq, get_all, set_all, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyS3Options {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub allow_http: bool,
    pub anonymous: bool,
    pub force_path_style: bool,
    pub network_stream_timeout_seconds: Option<u32>,
    pub requester_pays: bool,
    pub checksum_algorithm: Option<PyChecksumAlgorithm>,
}

#[pymethods]
impl PyS3Options {
    #[new]
    #[pyo3(signature = (region=None, endpoint_url=None, allow_http=false, anonymous=false,
        force_path_style=false, network_stream_timeout_seconds=None, requester_pays=false,
        checksum_algorithm=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        region: Option<String>,
        endpoint_url: Option<String>,
        allow_http: bool,
        anonymous: bool,
        force_path_style: bool,
        network_stream_timeout_seconds: Option<u32>,
        requester_pays: bool,
        checksum_algorithm: Option<PyChecksumAlgorithm>,
    ) -> Self {
        PyS3Options {
            region,
            endpoint_url,
            allow_http,
            anonymous,
            force_path_style,
            network_stream_timeout_seconds,
            requester_pays,
            checksum_algorithm,
        }
    }

    fn __repr__(&self) -> String {
        let opt = |v: &Option<String>| v.as_ref().map_or_else(|| "None".to_string(), |s| format!("{s:?}"));
        let py_bool = |b: bool| if b { "True" } else { "False" };
        format!(
            "S3Options(region={}, endpoint_url={}, allow_http={}, anonymous={}, force_path_style={}, \
             network_stream_timeout_seconds={}, requester_pays={}, checksum_algorithm={})",
            opt(&self.region),
            opt(&self.endpoint_url.as_deref().map(icechunk_redact)),
            py_bool(self.allow_http),
            py_bool(self.anonymous),
            py_bool(self.force_path_style),
            self.network_stream_timeout_seconds.map_or_else(|| "None".to_string(), |s| s.to_string()),
            py_bool(self.requester_pays),
            self.checksum_algorithm
                .map_or_else(|| "None".to_string(), |c| format!("ChecksumAlgorithm.{c:?}")),
        )
    }

    #[allow(clippy::type_complexity)]
    fn __getnewargs__(
        &self,
    ) -> (Option<String>, Option<String>, bool, bool, bool, Option<u32>, bool, Option<PyChecksumAlgorithm>)
    {
        (
            self.region.clone(),
            self.endpoint_url.clone(),
            self.allow_http,
            self.anonymous,
            self.force_path_style,
            self.network_stream_timeout_seconds,
            self.requester_pays,
            self.checksum_algorithm,
        )
    }
}

/// An endpoint as `repr` may show it: without user info or query.
fn icechunk_redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split('?').next().unwrap_or("");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    if scheme.is_empty() {
        rest.to_string()
    } else {
        format!("{scheme}://{rest}")
    }
}

/// Icechunk 2.x's default of `network_stream_timeout_seconds` in the storage constructors.
const DEFAULT_STREAM_TIMEOUT: u32 = 60;

/// The network options from `network=` and `S3Options.network_stream_timeout_seconds`, which
/// sets `NetworkOptions.stream_timeout` (0: none). Its default (60 s, also the network
/// default) defers to `network=`; another value that contradicts `network=` is refused.
fn s3_network(
    config: &PyS3Options,
    options: Option<PyNetworkOptions>,
) -> PyResult<icechunk::storage::NetworkOptions> {
    let given = options.is_some();
    let mut net = network(options)?;
    if let Some(seconds) = config.network_stream_timeout_seconds {
        let wanted = Duration::from_secs(seconds.into());
        if !given || seconds != DEFAULT_STREAM_TIMEOUT {
            if given && net.stream_timeout != wanted {
                return Err(invalid_input(format!(
                    "network_stream_timeout_seconds={seconds} contradicts network.stream_timeout={}; \
                     give it once",
                    net.stream_timeout.as_secs_f64()
                )));
            }
            net.stream_timeout = wanted;
        }
    }
    Ok(net)
}

/// The keyword arguments every S3 storage takes besides its own.
pub struct S3Common<'a, 'py> {
    pub credentials: Option<PyS3Credentials>,
    pub legacy_rooted_keys: Option<bool>,
    pub read_headers: Option<&'a Bound<'py, PyDict>>,
    pub write_headers: Option<&'a Bound<'py, PyDict>>,
    pub headers: Option<&'a Bound<'py, PyDict>>,
    pub network: Option<PyNetworkOptions>,
}

/// The engine's options for an S3 storage.
pub fn s3_options(
    provider: S3Provider,
    config: &PyS3Options,
    bucket: String,
    prefix: Option<String>,
    common: S3Common<'_, '_>,
) -> PyResult<S3Options> {
    no_legacy_rooted_keys(common.legacy_rooted_keys)?;
    let auth = PyS3Credentials::to_auth(common.credentials.as_ref());
    if config.anonymous && !auth.anonymous && common.credentials.is_some() {
        return Err(invalid_input("S3Options(anonymous=True) contradicts the credentials given"));
    }
    let anonymous = auth.anonymous || config.anonymous;
    Ok(S3Options {
        bucket,
        prefix: prefix.unwrap_or_default(),
        region: config.region.clone(),
        endpoint_url: config.endpoint_url.clone(),
        allow_http: config.allow_http,
        access_key_id: auth.access_key_id,
        secret_access_key: auth.secret_access_key,
        session_token: auth.session_token,
        expires_after: auth.expires_after,
        refreshable: auth.refreshable,
        anonymous,
        from_env: auth.from_env && !anonymous,
        force_path_style: config.force_path_style,
        unsafe_single_writer: false,
        provider,
        network: s3_network(config, common.network)?,
        requester_pays: config.requester_pays,
        checksum: config.checksum_algorithm.map(PyChecksumAlgorithm::to_core).transpose()?,
        headers: extra_headers(common.read_headers, common.write_headers, common.headers)?,
        read_only: false,
    })
}

pub fn new_s3(options: S3Options) -> PyResult<PyStorage> {
    build(icechunk::storage::new_s3_storage(options))
}

pub fn new_r2(account_id: Option<String>, options: S3Options) -> PyResult<PyStorage> {
    build(icechunk::storage::new_r2_storage(account_id.as_deref().unwrap_or(""), options))
}

pub fn new_tigris(use_weak_consistency: bool, options: S3Options) -> PyResult<PyStorage> {
    if use_weak_consistency {
        return Err(invalid_input(
            "use_weak_consistency=True is refused: commits need Tigris's global strong consistency \
             for create-if-absent to be safe under concurrent writers",
        ));
    }
    build(icechunk::storage::new_tigris_storage(options))
}

/// Header maps as the engine takes them.
pub fn header_map(headers: Option<&Bound<'_, PyDict>>) -> PyResult<BTreeMap<String, String>> {
    headers.map_or_else(|| Ok(BTreeMap::new()), |h| h.extract())
}
