//! `icechunk config show REPO` and `icechunk config set REPO KEY VALUE`.

use serde_json::Value;

use icechunk::{Repository, RepositoryConfig};

use crate::error::{CliError, CliResult};
use crate::output::{self, Output};

pub fn show(repo: &Repository, out: Output) -> CliResult {
    let config = serde_json::to_value(repo.config()).map_err(|e| CliError::failed(e.to_string()))?;
    out.show(config.clone(), || {
        let Value::Object(settings) = &config else { return config.to_string() };
        let pairs: Vec<(&str, String)> = settings.iter().map(|(k, v)| (k.as_str(), v.to_string())).collect();
        output::fields(&pairs)
    })
}

/// Sets one setting and saves the config (a new record of the repository's state, so two
/// operators setting different keys at once both land: spec §12).
pub async fn set(repo: &Repository, out: Output, key: &str, value: &str) -> CliResult {
    let current = serde_json::to_value(repo.config()).map_err(|e| CliError::failed(e.to_string()))?;
    let updated = with_setting(current, key, value)?;
    let config: RepositoryConfig = serde_json::from_value(updated)
        .map_err(|e| CliError::usage(format!("`{value}` is not a valid value for `{key}`: {e}")))?;
    config.validate().map_err(|e| CliError::usage(e.to_string()))?;
    repo.reopen(Some(config))?.save_config().await?;
    let saved = Repository::fetch_config(repo.storage().clone()).await?.unwrap_or_default();
    let saved = serde_json::to_value(saved).map_err(|e| CliError::failed(e.to_string()))?;
    let shown = lookup(&saved, key).cloned().unwrap_or(Value::Null);
    out.show(serde_json::json!({"key": key, "value": shown}), || format!("{key} = {shown}"))
}

/// `config` with the setting at the dotted `key` replaced by `value` (JSON, or else a
/// string). Only settings that exist can be set: a typo is an error, not a new key.
fn with_setting(mut config: Value, key: &str, value: &str) -> CliResult<Value> {
    let value: Value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    let mut slot = &mut config;
    for part in key.split('.') {
        slot = match slot {
            Value::Object(map) if map.contains_key(part) => map.get_mut(part).expect("checked"),
            _ => return Err(CliError::usage(format!("no setting `{key}` (see `icechunk config show`)"))),
        };
    }
    *slot = value;
    Ok(config)
}

fn lookup<'a>(config: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(config, |v, part| v.get(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_by_key() {
        let config = serde_json::to_value(RepositoryConfig::default()).unwrap();
        let set = with_setting(config.clone(), "inline_chunk_threshold_bytes", "100").unwrap();
        assert_eq!(set["inline_chunk_threshold_bytes"], 100);
        let set = with_setting(config.clone(), "num_chunk_refs", "null").unwrap();
        assert!(set["num_chunk_refs"].is_null());
        assert!(matches!(with_setting(config, "no_such_key", "1"), Err(CliError::Usage(_))));
    }
}
