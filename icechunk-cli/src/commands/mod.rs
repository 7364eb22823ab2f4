//! One module per command; [`dispatch`] opens the repository and runs the one asked for.

mod config;
mod diff;
mod fsck;
mod info;
mod log;
mod maintenance;
mod nodes;
mod refs;

use icechunk::{ErrorKind, IcechunkError, Repository};

use crate::args::{BranchCommand, Cli, Command, ConfigCommand, GlobalOptions, TagCommand};
use crate::error::{CliError, CliResult};
use crate::location::Location;
use crate::output::{self, Output};

pub async fn dispatch(cli: Cli) -> CliResult {
    let out = Output { json: cli.global.json };
    let global = &cli.global;
    match cli.command {
        Command::Init { repo } => init(&repo, global, out).await,
        Command::Info { repo } => info::run(&open(&repo, global).await?, out).await,
        Command::Log { repo, branch, tag, snapshot, max_count } => {
            let repo = open(&repo, global).await?;
            log::run(&repo, out, log::Start { branch, tag, snapshot }, max_count).await
        }
        Command::Branch(command) => match command {
            BranchCommand::List { repo } => refs::list_branches(&open(&repo, global).await?, out).await,
            BranchCommand::Create { repo, name, from } => {
                refs::create_branch(&open(&repo, global).await?, out, &name, from.as_deref()).await
            }
            BranchCommand::Delete { repo, name } => {
                refs::delete_branch(&open(&repo, global).await?, out, &name).await
            }
            BranchCommand::Reset { repo, name, to } => {
                refs::reset_branch(&open(&repo, global).await?, out, &name, &to).await
            }
        },
        Command::Tag(command) => match command {
            TagCommand::List { repo } => refs::list_tags(&open(&repo, global).await?, out).await,
            TagCommand::Create { repo, name, from } => {
                refs::create_tag(&open(&repo, global).await?, out, &name, from.as_deref()).await
            }
            TagCommand::Delete { repo, name } => {
                refs::delete_tag(&open(&repo, global).await?, out, &name).await
            }
        },
        Command::Diff { repo, from, to } => diff::run(&open(&repo, global).await?, out, &from, &to).await,
        Command::Ls { repo, path, at } => {
            nodes::ls(&open(&repo, global).await?, out, &path, at.as_deref()).await
        }
        Command::CatChunk { repo, array, coords, at, output } => {
            let repo = open(&repo, global).await?;
            nodes::cat_chunk(&repo, &array, &coords, at.as_deref(), output.as_deref()).await
        }
        Command::Config(command) => match command {
            ConfigCommand::Show { repo } => config::show(&open(&repo, global).await?, out),
            ConfigCommand::Set { repo, key, value } => {
                config::set(&open(&repo, global).await?, out, &key, &value).await
            }
        },
        Command::Fsck { repo, concurrency } => fsck::run(&open(&repo, global).await?, out, concurrency).await,
        Command::Gc { repo, older_than, yes } => {
            let when = crate::refs::parse_when(&older_than, chrono::Utc::now())?;
            maintenance::gc(&open(&repo, global).await?, out, when, yes).await
        }
        Command::Expire { repo, older_than, delete_expired_branches, delete_expired_tags, yes } => {
            let when = crate::refs::parse_when(&older_than, chrono::Utc::now())?;
            let flags = maintenance::ExpireFlags { delete_expired_branches, delete_expired_tags, yes };
            maintenance::expire(&open(&repo, global).await?, out, when, flags).await
        }
    }
}

/// The repository at `argument`. A local folder that does not exist is not created (the
/// storage would create it): a typo must not leave folders behind.
async fn open(argument: &str, global: &GlobalOptions) -> CliResult<Repository> {
    let location = Location::parse(argument)?;
    if let Location::Local(path) = &location {
        if !path.is_dir() {
            return Err(IcechunkError::RepositoryNotFound { location: path.display().to_string() }.into());
        }
    }
    let storage = location.storage(global)?;
    Repository::open(storage, None).await.map_err(|e| with_credentials_hint(e, &location, global))
}

/// The first request to a cloud store is where missing credentials show, as a failed
/// request to a metadata service the user never named: say where credentials come from.
fn with_credentials_hint(error: IcechunkError, location: &Location, global: &GlobalOptions) -> CliError {
    let variables = match location {
        Location::S3 { .. } => {
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or instance metadata"
        }
        Location::Gcs { .. } => {
            "GOOGLE_SERVICE_ACCOUNT, GOOGLE_APPLICATION_CREDENTIALS, or instance metadata"
        }
        Location::Azure { .. } => "AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_TOKEN, or managed identity",
        Location::Local(_) | Location::Http(_) => return error.into(),
    };
    if global.anonymous || error.kind() != ErrorKind::Storage {
        return error.into();
    }
    match CliError::from(error) {
        CliError::Failed(message) => CliError::failed(format!(
            "{message} (credentials are taken from the environment: {variables}; \
             --anonymous for public data)"
        )),
        other => other,
    }
}

async fn init(argument: &str, global: &GlobalOptions, out: Output) -> CliResult {
    let location = Location::parse(argument)?;
    let storage = location.storage(global)?;
    let where_ = storage.location();
    let repo = Repository::create(storage, None).await?;
    let main = repo.lookup_branch("main").await?;
    out.show(serde_json::json!({"location": where_, "snapshot_id": main.to_string()}), || {
        output::fields(&[("created", where_.clone()), ("main", main.to_string())])
    })
}
