//! Azure Blob Storage.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use serde::{Deserialize, Serialize};

use super::headers::ExtraHeaders;
use super::refresh::{azure_credential, ExpiringProvider, RefreshableCredentials};
use super::{build_error, check_url, join_location, with_prefix, NetworkOptions};
use crate::error::{IcechunkError, Result};
use crate::storage::credentials::Secret;
use crate::storage::object_store_backend::{CreateIfAbsent, ObjectStorage};
use crate::storage::{Storage, StorageSpec};

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
    /// An access key, SAS token or bearer token fetched again whenever it expires.
    Refreshable(RefreshableCredentials),
}

impl fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureCredentials::FromEnv => f.write_str("FromEnv"),
            AzureCredentials::Anonymous => f.write_str("Anonymous"),
            AzureCredentials::AccessKey(k) => f.debug_tuple("AccessKey").field(k).finish(),
            AzureCredentials::SasToken(t) => f.debug_tuple("SasToken").field(t).finish(),
            AzureCredentials::BearerToken(t) => f.debug_tuple("BearerToken").field(t).finish(),
            AzureCredentials::Refreshable(r) => f.debug_tuple("Refreshable").field(r).finish(),
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
    /// `object_store` settings by name (`AzureConfigKey`, client settings included), applied
    /// before the fields above.
    pub config: BTreeMap<String, String>,
    pub headers: ExtraHeaders,
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

    pub(super) fn location(&self) -> String {
        format!("az://{}/{}", self.account, join_location(&self.container, &self.prefix))
    }

    pub(crate) fn build(&self) -> Result<ObjectStorage> {
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
        for (key, value) in &self.config {
            let key: AzureConfigKey = key.parse().map_err(|_| {
                IcechunkError::InvalidInput(format!("`{key}` is not an Azure configuration key"))
            })?;
            builder = builder.with_config(key, value);
        }
        builder = builder.with_account(&self.account).with_container_name(&self.container);
        let mut secrets: Vec<Secret> = self.config.values().cloned().map(Secret::new).collect();
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
            AzureCredentials::Refreshable(refreshable) => {
                let provider = ExpiringProvider::refreshable("Azure", refreshable, azure_credential)?;
                builder = builder.with_credentials(Arc::new(provider));
                secrets.extend(refreshable.secrets());
            }
        }
        // A shared key signs the `x-ms-*` headers; extra headers come after signing.
        let signed = match &self.credentials {
            AzureCredentials::AccessKey(_) | AzureCredentials::FromEnv | AzureCredentials::Refreshable(_) => {
                Some("x-ms-")
            }
            _ => None,
        };
        if let Some(connector) = self.headers.connector(signed)? {
            builder = builder.with_http_connector(connector);
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

pub fn new_azure_storage(options: AzureOptions) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(options.build()?))
}
