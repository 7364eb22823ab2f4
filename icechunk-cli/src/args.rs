//! The commands and their flags. The repository (a path or a URL, see [`crate::location`])
//! is the first argument of every command: `icechunk log REPO --branch dev`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "icechunk",
    version,
    about = "Look into, check and maintain Icechunk repositories",
    after_help = "REPO is a path or a URL: file://, s3://bucket/prefix, gs://bucket/prefix, \
                  az://account/container/prefix, http(s):// (read only). Cloud credentials come \
                  from the environment (AWS_*, GOOGLE_*, AZURE_*).\n\
                  REF is a branch, a tag or a snapshot id; `branch:NAME`, `tag:NAME` or \
                  `snapshot:ID` say which when a name is both."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Default, Args)]
pub struct GlobalOptions {
    /// Print one JSON document (keys documented in README.md) instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    /// S3: the endpoint of an S3-compatible server, e.g. http://127.0.0.1:9000
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Allow plain-http endpoints
    #[arg(long, global = true)]
    pub allow_http: bool,
    /// S3: the bucket's region (else AWS_REGION, else us-east-1)
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Send unsigned requests (public buckets)
    #[arg(long, global = true)]
    pub anonymous: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty repository
    Init { repo: String },
    /// The repository's status, config, refs, snapshot count and bytes
    Info { repo: String },
    /// The history of a branch (main by default), a tag or a snapshot, newest first
    Log {
        repo: String,
        #[arg(long, conflicts_with_all = ["tag", "snapshot"])]
        branch: Option<String>,
        #[arg(long, conflicts_with = "snapshot")]
        tag: Option<String>,
        #[arg(long)]
        snapshot: Option<String>,
        /// Show at most N snapshots
        #[arg(short = 'n', long = "max-count", value_name = "N")]
        max_count: Option<usize>,
    },
    /// Branches
    #[command(subcommand)]
    Branch(BranchCommand),
    /// Tags
    #[command(subcommand)]
    Tag(TagCommand),
    /// What changed between two versions
    Diff {
        repo: String,
        #[arg(value_name = "FROM")]
        from: String,
        #[arg(value_name = "TO")]
        to: String,
    },
    /// Groups and arrays (shape, chunks, data type, codecs)
    Ls {
        repo: String,
        /// Only this node and what is below it
        #[arg(default_value = "/")]
        path: String,
        /// The version to look at (default: the tip of main)
        #[arg(long, value_name = "REF")]
        at: Option<String>,
    },
    /// The stored (encoded) bytes of one chunk, to stdout or a file
    CatChunk {
        repo: String,
        /// The array's path, e.g. /group/temperature
        array: String,
        /// Chunk coordinates, e.g. 0,3,1 (empty for a 0-d array)
        #[arg(allow_hyphen_values = true)]
        coords: String,
        #[arg(long, value_name = "REF")]
        at: Option<String>,
        /// Write to this file instead of stdout
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// The repository's saved configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check that every object reachable from every ref is present and intact
    Fsck {
        repo: String,
        /// Objects read at once
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Delete objects no ref reaches any more (a dry run unless --yes)
    Gc {
        repo: String,
        /// Only objects written before this: a duration ago (7d, 12h, 30m, 90s) or an RFC 3339
        /// time (2026-11-01T00:00:00Z)
        #[arg(long, value_name = "WHEN")]
        older_than: String,
        /// Delete; without it, only report what would be deleted
        #[arg(long)]
        yes: bool,
    },
    /// Cut history older than a time from every ref (a dry run unless --yes)
    Expire {
        repo: String,
        /// A duration ago (30d) or an RFC 3339 time
        #[arg(long, value_name = "WHEN")]
        older_than: String,
        /// Also delete branches (never main) whose tip is older
        #[arg(long)]
        delete_expired_branches: bool,
        /// Also delete tags whose snapshot is older
        #[arg(long)]
        delete_expired_tags: bool,
        /// Expire; without it, only report what would expire
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BranchCommand {
    /// Every branch and its tip
    List { repo: String },
    /// A new branch at a version (default: the tip of main)
    Create {
        repo: String,
        name: String,
        #[arg(long, value_name = "REF")]
        from: Option<String>,
    },
    /// Delete a branch (not main)
    Delete { repo: String, name: String },
    /// Point a branch at another version
    Reset {
        repo: String,
        name: String,
        #[arg(value_name = "REF")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TagCommand {
    /// Every tag and its snapshot
    List { repo: String },
    /// A new tag at a version (default: the tip of main)
    Create {
        repo: String,
        name: String,
        #[arg(long, value_name = "REF")]
        from: Option<String>,
    },
    /// Delete a tag (its name can never be used again)
    Delete { repo: String, name: String },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The saved configuration
    Show { repo: String },
    /// Change one setting: a key as in `config show` (dotted for nested ones), a JSON value
    Set { repo: String, key: String, value: String },
}
