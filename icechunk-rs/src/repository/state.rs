//! The repository's own state (see [`crate::repo_info`]): status, metadata, feature flags,
//! the saved config. Every read here is fresh: another process may have changed it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{read_config, JsonMap, Repository};
use crate::config::RepositoryConfig;
use crate::error::Result;
use crate::repo_info::{self, Availability, FeatureFlag, RepoChange, RepoState, RepoStatus};
use crate::storage::Storage;
use crate::virtual_chunks::ContainerCredentials;

impl Repository {
    /// The state as stored now.
    pub async fn state(&self) -> Result<RepoState> {
        repo_info::current(self.storage().as_ref()).await
    }

    /// Where expired history is cut (spec §13.1), as stored now.
    pub async fn history_cuts(&self) -> Result<crate::history::HistoryCuts> {
        Ok(std::sync::Arc::new(self.state().await?.cuts()?))
    }

    /// `RepositoryReadOnly` when the repository's status says so (for the callers that write).
    pub(crate) async fn check_writable(&self, what: &str) -> Result<()> {
        self.state().await?.check_writable(what)
    }

    pub(super) async fn update_state<F>(&self, change: F) -> Result<RepoState>
    where
        F: Fn(&mut RepoState) -> Result<RepoChange>,
    {
        // Each lost attempt means another writer's change landed, so the bound
        // (`repo_update_attempts`) only stops a storm of administrators.
        repo_info::update(self.storage().as_ref(), self.config().repo_update_attempts - 1, change).await
    }

    pub async fn status(&self) -> Result<RepoStatus> {
        Ok(self.state().await?.status)
    }

    /// Sets the status; `set_at` is now. Allowed while read-only (it is how a repository
    /// comes back online).
    pub async fn set_status(&self, availability: Availability, reason: Option<String>) -> Result<RepoStatus> {
        let status = RepoStatus { availability, set_at: crate::refs::timestamp_now(), reason };
        let state = self
            .update_state(|state| {
                state.status = status.clone();
                Ok(RepoChange::StatusChanged)
            })
            .await?;
        Ok(state.status)
    }

    pub async fn metadata(&self) -> Result<JsonMap> {
        Ok(self.state().await?.metadata)
    }

    /// Replaces the repository's metadata.
    pub async fn set_metadata(&self, metadata: JsonMap) -> Result<()> {
        self.update_state(|state| {
            state.metadata = metadata.clone();
            Ok(RepoChange::MetadataChanged)
        })
        .await?;
        Ok(())
    }

    /// Merges `metadata` into the repository's (its keys win, at the top level); returns the
    /// result. A concurrent update is never lost: a writer that loses the race merges again.
    pub async fn update_metadata(&self, metadata: JsonMap) -> Result<JsonMap> {
        let state = self
            .update_state(|state| {
                state.metadata.extend(metadata.clone());
                Ok(RepoChange::MetadataChanged)
            })
            .await?;
        Ok(state.metadata)
    }

    /// Every flag this version knows, with the repository's explicit setting.
    pub async fn feature_flags(&self) -> Result<Vec<(FeatureFlag, Option<bool>)>> {
        let state = self.state().await?;
        Ok(repo_info::FEATURE_FLAGS.iter().map(|f| (*f, state.feature_flags.get(f.name).copied())).collect())
    }

    /// Sets a flag (`None`: back to its default).
    pub async fn set_feature_flag(&self, name: &str, setting: Option<bool>) -> Result<()> {
        let flag = repo_info::feature_flag(name)?;
        self.update_state(|state| {
            match setting {
                Some(on) => state.feature_flags.insert(flag.name.to_string(), on),
                None => state.feature_flags.remove(flag.name),
            };
            Ok(RepoChange::FeatureFlagChanged { name: flag.name.to_string(), value: setting })
        })
        .await?;
        Ok(())
    }

    /// Stores this repository's config: `open` applies it from now on.
    pub async fn save_config(&self) -> Result<()> {
        let config = self.config().clone();
        self.update_state(|state| {
            state.config = Some(config.clone());
            Ok(RepoChange::ConfigChanged)
        })
        .await?;
        Ok(())
    }

    /// The config `open` would apply: the one saved last, else the one stored at creation;
    /// `None` when there is no repository.
    pub async fn fetch_config(storage: Arc<dyn Storage>) -> Result<Option<RepositoryConfig>> {
        let (created, state) = futures::try_join!(read_config(storage.as_ref()), async {
            // Only a repository has records: without `config.json` there is nothing to list.
            repo_info::current(storage.as_ref()).await
        })?;
        Ok(created.map(|created| state.config.unwrap_or(created)))
    }

    /// The same repository with another config (`None`: this one), as a new handle: caches
    /// and the limit on requests in flight start anew.
    /// Virtual chunk authorizations are kept.
    pub fn reopen(&self, config: Option<RepositoryConfig>) -> Result<Self> {
        self.reopen_with(config, self.virtual_sources().authorizations().clone())
    }

    pub(super) fn reopen_with(
        &self,
        config: Option<RepositoryConfig>,
        authorized: BTreeMap<String, ContainerCredentials>,
    ) -> Result<Self> {
        let config = config.unwrap_or_else(|| self.config().clone());
        config.validate()?;
        let reopened = Self::from_parts(self.inner.base_storage.clone(), config, authorized)?;
        reopened.set_default_commit_metadata(self.default_commit_metadata());
        Ok(reopened)
    }
}
