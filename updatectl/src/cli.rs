//! The command line, declared with clap.

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};

/// Operator CLI of the update service (a superset of CoreUpdate's updateservicectl).
#[derive(Debug, Parser)]
#[command(name = "updatectl", version, disable_help_subcommand = true)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Base URL of the update service.
    #[arg(
        long,
        global = true,
        env = "UPDATECTL_SERVER",
        default_value = "http://localhost:8000"
    )]
    pub server: String,
    /// API user name (the Hawk id).
    #[arg(long, global = true, env = "UPDATECTL_USER", default_value = "")]
    pub user: String,
    /// API key (the Hawk secret).
    #[arg(
        long,
        global = true,
        env = "UPDATECTL_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub key: String,
    /// Print the Omaha requests and responses of `instance fake` to stderr.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Do not verify the server's TLS certificate.
    #[arg(long, global = true)]
    pub skip_ssl_verify: bool,
    /// Print JSON instead of tables (an extension).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage applications.
    #[command(subcommand)]
    App(AppCommand),
    /// Manage channels for an application.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Operations that manage groups in an application.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage packages for an application.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Operations to view and simulate instances.
    #[command(subcommand)]
    Instance(InstanceCommand),
}

/// `app` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// List applications.
    List,
    /// Create an application.
    Create {
        /// Application id (default: a random UUID).
        #[arg(long)]
        app_id: Option<String>,
        /// Label.
        #[arg(long, default_value = "")]
        label: String,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Change an application's label and description.
    Update {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// Label.
        #[arg(long)]
        label: String,
        /// Description.
        #[arg(long)]
        description: String,
    },
    /// Delete an application.
    Delete {
        /// Application id.
        #[arg(long)]
        app_id: String,
    },
}

/// `channel` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// List an application's channels.
    List {
        /// Application id.
        #[arg(long)]
        app_id: String,
    },
    /// Create a channel.
    Create(ChannelArgs),
    /// Point a channel at a version (and set its publish flag).
    Update(ChannelArgs),
    /// Delete a channel.
    Delete {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// Channel label.
        #[arg(long)]
        channel: String,
    },
}

/// The flags of `channel create` and `channel update`.
#[derive(Debug, Args)]
pub struct ChannelArgs {
    /// Application id.
    #[arg(long)]
    pub app_id: String,
    /// Channel label.
    #[arg(long)]
    pub channel: String,
    /// The version the channel points at.
    #[arg(long)]
    pub version: String,
    /// Publish the channel (omitting it unpublishes).
    #[arg(long)]
    pub publish: bool,
}

/// `--app-id` and `--group-id`.
#[derive(Debug, Args)]
pub struct GroupRef {
    /// Application id.
    #[arg(long)]
    pub app_id: String,
    /// Group id.
    #[arg(long)]
    pub group_id: String,
}

/// `group` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List an application's groups.
    List {
        /// Application containing the groups to list.
        #[arg(long)]
        app_id: String,
    },
    /// Create a group.
    Create {
        /// The group.
        #[command(flatten)]
        group: GroupRef,
        /// The channel the group tracks.
        #[arg(long)]
        channel: String,
        /// Label describing the new group.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Change a group's settings (only the given ones).
    Update {
        /// The group.
        #[command(flatten)]
        group: GroupRef,
        /// Label describing the group.
        #[arg(long)]
        label: Option<String>,
        /// The channel the group tracks.
        #[arg(long)]
        channel: Option<String>,
        /// Comma-separated list of OEMs to exclude from updates.
        #[arg(long)]
        oem_blacklist: Option<String>,
        /// Number of instances per interval.
        #[arg(long)]
        update_count: Option<i64>,
        /// Interval between updates, in seconds.
        #[arg(long)]
        update_interval: Option<i64>,
    },
    /// Delete a group.
    Delete(GroupRef),
    /// Pause updates for a group.
    Pause(GroupRef),
    /// Resume updates for a group.
    Unpause(GroupRef),
    /// Set the percentage of a group's instances that may update.
    Percent {
        /// The group.
        #[command(flatten)]
        group: GroupRef,
        /// Percentage of machines to update.
        #[arg(long, value_parser = parse_percent)]
        update_percent: f64,
    },
}

fn parse_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a percentage between 0 and 100")),
    }
}

/// `package` subcommands.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// List an application's packages.
    List {
        /// Application id.
        #[arg(long)]
        app_id: String,
    },
    /// Register a package: hash the payload, upload it unless `--url` is given.
    Create {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// The package version.
        #[arg(long)]
        version: String,
        /// The payload file (hashed; uploaded when `--url` is absent).
        #[arg(long)]
        file: std::path::PathBuf,
        /// Where instances download the payload (skips the upload).
        #[arg(long)]
        url: Option<String>,
        /// JSON file with `metadata_size` and `metadata_signature_rsa`.
        #[arg(long)]
        meta: Option<std::path::PathBuf>,
        /// Text file with release notes.
        #[arg(long)]
        release_notes: Option<std::path::PathBuf>,
    },
    /// Delete a package.
    Delete {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// The package version.
        #[arg(long)]
        version: String,
    },
}

/// `--app-id`, `--group-id`, `--start`, `--end` of the instance reports.
#[derive(Debug, Args)]
pub struct ReportFilter {
    /// Only this application.
    #[arg(long)]
    pub app_id: Option<String>,
    /// Only this group.
    #[arg(long)]
    pub group_id: Option<String>,
    /// Start date filter (unix seconds; 0: none).
    #[arg(long, default_value_t = 0)]
    pub start: i64,
    /// End date filter (unix seconds; 0: none).
    #[arg(long, default_value_t = 0)]
    pub end: i64,
}

/// `instance` subcommands.
#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Generates a list of instance updates.
    ListUpdates(ReportFilter),
    /// Generates a list of apps/versions with instance count.
    ListAppVersions(ReportFilter),
    /// Simulate multiple fake instances.
    Fake(FakeArgs),
    /// Load the server with concurrent update checks, each from a new instance; report
    /// requests per second and latency percentiles.
    Bench(BenchArgs),
}

/// The flags of `instance bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Application id.
    #[arg(long)]
    pub app_id: String,
    /// Group id (sent as `track`).
    #[arg(long)]
    pub group_id: String,
    /// Number of concurrent clients.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000).map(|n| n as usize))]
    pub clients_per_app: usize,
    /// Value of the `oem` attribute.
    #[arg(long, default_value = "fakeclient")]
    pub oem: String,
    /// The version the clients report.
    #[arg(long, default_value = "0.0.0")]
    pub version: String,
    /// Send `installsource="ondemandupdate"` (the server skips rate limits).
    #[arg(long)]
    pub force_update: bool,
    /// Print every request and response.
    #[arg(long)]
    pub verbose: bool,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub seconds: u64,
}

/// The flags of `instance fake`.
#[derive(Debug, Clone, Args)]
pub struct FakeArgs {
    /// Application id.
    #[arg(long)]
    pub app_id: String,
    /// Group id (sent as `track`).
    #[arg(long)]
    pub group_id: String,
    /// Number of simulated instances.
    #[arg(long, default_value_t = 20)]
    pub clients_per_app: usize,
    /// Minimum seconds between update checks (fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    pub min_sleep: f64,
    /// Maximum seconds between update checks (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    pub max_sleep: f64,
    /// Chance of error per update step, in percent (0: never).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub errorrate: u32,
    /// Value of the `oem` attribute.
    #[arg(long, default_value = "fakeclient")]
    pub oem: String,
    /// Starting version.
    #[arg(long, default_value = "0.0.0")]
    pub version: String,
    /// Send `installsource="ondemandupdate"` (the server skips rate limits).
    #[arg(long)]
    pub force_update: bool,
    /// After installing its first update, each instance sends this many pings (one per
    /// step delay) before reporting completion.
    #[arg(long, default_value_t = 0)]
    pub ping_only: u32,
    /// Print every request and response.
    #[arg(long)]
    pub verbose: bool,
    /// Test aid: milliseconds between the update steps (default 1000).
    #[arg(long, default_value_t = 1000, hide = true)]
    pub step_delay: u64,
    /// Test aid: exit once this many updates completed (over all instances).
    #[arg(long, hide = true)]
    pub exit_after_updates: Option<usize>,
    /// Test aid: exit after this many seconds.
    #[arg(long, hide = true)]
    pub duration: Option<f64>,
}
