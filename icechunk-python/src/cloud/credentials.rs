//! Which credentials the keyword arguments of the storage constructors select, as in
//! Icechunk 2.x: at most one kind; without any, the environment's.

use std::path::PathBuf;

use icechunk::storage::{AzureCredentials, GcsCredentials, Secret};
use pyo3::prelude::*;

use crate::errors::invalid_input;

/// Exactly one credential source, or none.
fn only_one(given: &[(&str, bool)]) -> PyResult<()> {
    let names: Vec<&str> = given.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect();
    if names.len() > 1 {
        return Err(invalid_input(format!("give only one kind of credentials, not {}", names.join(" and "))));
    }
    Ok(())
}

/// S3: `anonymous=True` (unsigned requests), else static keys if given, else `from_env` (the
/// `AWS_*` variables), which is the default when no key is given; `from_env=False` without
/// keys uses the default chain (web identity, instance metadata). Returns (anonymous, from_env).
pub fn s3_sources(anonymous: Option<bool>, has_keys: bool, from_env: Option<bool>) -> (bool, bool) {
    let anonymous = anonymous.unwrap_or(false);
    (anonymous, from_env.unwrap_or(!anonymous && !has_keys))
}

/// GCS: a service account file or key, application credentials, a bearer token, anonymous, or
/// the environment (`GOOGLE_*`, application default credentials, instance metadata).
pub fn gcs(
    service_account_file: Option<PathBuf>,
    service_account_key: Option<String>,
    application_credentials: Option<PathBuf>,
    bearer_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
) -> PyResult<GcsCredentials> {
    let anonymous = anonymous.unwrap_or(false);
    only_one(&[
        ("service_account_file", service_account_file.is_some()),
        ("service_account_key", service_account_key.is_some()),
        ("application_credentials", application_credentials.is_some()),
        ("bearer_token", bearer_token.is_some()),
        ("anonymous", anonymous),
        ("from_env", from_env == Some(true)),
    ])?;
    Ok(if let Some(path) = service_account_file {
        GcsCredentials::ServiceAccountPath(path)
    } else if let Some(key) = service_account_key {
        GcsCredentials::ServiceAccountKey(Secret::new(key))
    } else if let Some(path) = application_credentials {
        GcsCredentials::ApplicationDefault(Some(path))
    } else if let Some(token) = bearer_token {
        GcsCredentials::BearerToken(Secret::new(token))
    } else if anonymous {
        GcsCredentials::Anonymous
    } else if from_env == Some(false) {
        // Not from the variables: the well-known file of `gcloud auth application-default login`.
        GcsCredentials::ApplicationDefault(None)
    } else {
        GcsCredentials::FromEnv
    })
}

/// Azure: an access key, a SAS token, a bearer token, anonymous, or the environment
/// (`AZURE_*`, then managed identity).
pub fn azure(
    access_key: Option<String>,
    sas_token: Option<String>,
    bearer_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
) -> PyResult<AzureCredentials> {
    let anonymous = anonymous.unwrap_or(false);
    only_one(&[
        ("access_key", access_key.is_some()),
        ("sas_token", sas_token.is_some()),
        ("bearer_token", bearer_token.is_some()),
        ("anonymous", anonymous),
        ("from_env", from_env == Some(true)),
    ])?;
    Ok(if let Some(key) = access_key {
        AzureCredentials::AccessKey(Secret::new(key))
    } else if let Some(sas) = sas_token {
        AzureCredentials::SasToken(Secret::new(sas))
    } else if let Some(token) = bearer_token {
        AzureCredentials::BearerToken(Secret::new(token))
    } else if anonymous {
        AzureCredentials::Anonymous
    } else {
        AzureCredentials::FromEnv
    })
}
