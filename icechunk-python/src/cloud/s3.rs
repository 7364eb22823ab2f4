//! `s3_storage`, `r2_storage`, `tigris_storage`: Amazon S3 and the S3-compatibles.

use icechunk::storage::{S3Options, S3Provider, Secret};
use pyo3::prelude::*;

use super::network::{network, PyNetworkOptions};
use super::{build, credentials};
use crate::storage::PyStorage;

/// The S3 options shared by `s3_storage`, `r2_storage` and `tigris_storage` (credentials:
/// [`credentials::s3_sources`]).
#[allow(clippy::too_many_arguments)]
fn s3_options(
    bucket: String,
    prefix: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    allow_http: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
    force_path_style: bool,
    network_options: Option<PyNetworkOptions>,
    unsafe_single_writer: bool,
) -> PyResult<S3Options> {
    let has_keys = access_key_id.is_some() || secret_access_key.is_some();
    let (anonymous, from_env) = credentials::s3_sources(anonymous, has_keys, from_env);
    Ok(S3Options {
        bucket,
        prefix: prefix.unwrap_or_default(),
        region,
        endpoint_url,
        allow_http,
        access_key_id: access_key_id.map(Secret::new),
        secret_access_key: secret_access_key.map(Secret::new),
        session_token: session_token.map(Secret::new),
        anonymous,
        from_env,
        force_path_style,
        unsafe_single_writer,
        provider: S3Provider::S3,
        network: network(network_options)?,
    })
}

/// An Amazon S3 bucket, or one of an S3-compatible server at `endpoint_url` (MinIO, Ceph...).
#[pyfunction]
#[pyo3(signature = (*, bucket, prefix, region=None, endpoint_url=None, allow_http=false,
    access_key_id=None, secret_access_key=None, session_token=None, anonymous=None, from_env=None,
    force_path_style=false, network=None, unsafe_single_writer=false))]
#[allow(clippy::too_many_arguments)]
pub fn s3_storage(
    bucket: String,
    prefix: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    allow_http: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
    force_path_style: bool,
    network: Option<PyNetworkOptions>,
    unsafe_single_writer: bool,
) -> PyResult<PyStorage> {
    let options = s3_options(
        bucket,
        prefix,
        region,
        endpoint_url,
        allow_http,
        access_key_id,
        secret_access_key,
        session_token,
        anonymous,
        from_env,
        force_path_style,
        network,
        unsafe_single_writer,
    )?;
    build(icechunk::storage::new_s3_storage(options))
}

/// A Cloudflare R2 bucket: give the account id (or the full `endpoint_url`).
#[pyfunction]
#[pyo3(signature = (*, bucket, prefix, account_id=None, endpoint_url=None, region=None,
    allow_http=false, access_key_id=None, secret_access_key=None, session_token=None,
    anonymous=None, from_env=None, network=None))]
#[allow(clippy::too_many_arguments)]
pub fn r2_storage(
    bucket: String,
    prefix: Option<String>,
    account_id: Option<String>,
    endpoint_url: Option<String>,
    region: Option<String>,
    allow_http: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
    network: Option<PyNetworkOptions>,
) -> PyResult<PyStorage> {
    let options = s3_options(
        bucket,
        prefix,
        region,
        endpoint_url,
        allow_http,
        access_key_id,
        secret_access_key,
        session_token,
        anonymous,
        from_env,
        false,
        network,
        false,
    )?;
    build(icechunk::storage::new_r2_storage(account_id.as_deref().unwrap_or(""), options))
}

/// A Tigris bucket; every request asks for global strong consistency.
#[pyfunction]
#[pyo3(signature = (*, bucket, prefix, region=None, endpoint_url=None, allow_http=false,
    access_key_id=None, secret_access_key=None, session_token=None, anonymous=None, from_env=None,
    network=None))]
#[allow(clippy::too_many_arguments)]
pub fn tigris_storage(
    bucket: String,
    prefix: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    allow_http: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
    network: Option<PyNetworkOptions>,
) -> PyResult<PyStorage> {
    let options = s3_options(
        bucket,
        prefix,
        region,
        endpoint_url,
        allow_http,
        access_key_id,
        secret_access_key,
        session_token,
        anonymous,
        from_env,
        false,
        network,
        false,
    )?;
    build(icechunk::storage::new_tigris_storage(options))
}
