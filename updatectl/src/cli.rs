//! The command line, declared with clap.

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use update_api::endpoint::UpdateProtocol;

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

/// The root usage text, laid out as updateservicectl's (NAME, USAGE, VERSION, COMMANDS,
/// GLOBAL OPTIONS).
const ROOT_TEMPLATE: &str = "\
NAME:
{tab}updatectl - {about}

USAGE:
{tab}{usage}

VERSION:
{tab}{version}

COMMANDS:
{subcommands}

GLOBAL OPTIONS:
{options}

Run \"updatectl <command> --help\" for more details on a specific command.
";

/// A command's usage text (NAME, USAGE, then its commands and options).
const COMMAND_TEMPLATE: &str = "\
NAME:
{tab}{name} - {about}

USAGE:
{tab}{usage}

{all-args}

For help on global options run \"updatectl --help\"
";

/// The command line with the usage texts laid out as updateservicectl's (§1.5).
#[must_use]
pub fn command() -> clap::Command {
    use clap::CommandFactory as _;
    fn lay_out(command: clap::Command, parent: &str) -> clap::Command {
        let full = format!("{parent} {}", command.get_name());
        let children = full.clone();
        command
            .help_template(COMMAND_TEMPLATE)
            .display_name(full)
            .mut_subcommands(move |sub| lay_out(sub, &children))
    }
    Cli::command()
        .help_template(ROOT_TEMPLATE)
        .mut_subcommands(|sub| lay_out(sub, "updatectl"))
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Base URL of the update service.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "UPDATECTL_SERVER",
        default_value = "http://localhost:8000"
    )]
    pub server: String,
    /// API user name (the Hawk id).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "UPDATECTL_USER",
        default_value = ""
    )]
    pub user: String,
    /// API key (the Hawk secret).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "UPDATECTL_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub key: String,
    /// Print the Omaha requests and responses of `watch` and `instance fake` to stderr.
    #[arg(long, global = true, help_heading = "Global options")]
    pub debug: bool,
    /// Do not verify the server's TLS certificate.
    #[arg(long, global = true, help_heading = "Global options")]
    pub skip_ssl_verify: bool,
    /// Print JSON instead of tables (an extension).
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Operations for modifying admin users.
    #[command(subcommand)]
    AdminUser(AdminUserCommand),
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
    /// Operations on automated rollouts for a group.
    Rollout(RolloutCommand),
    /// Synchronize published channels and packages from upstream installations of the
    /// update service.
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// API tokens for automation: named, with a role, applications and an expiry (an
    /// extension).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Operations for dealing with the backend database.
    #[command(subcommand)]
    Database(DatabaseCommand),
    /// Watch for app versions and exec a given command.
    Watch(WatchArgs),
    /// The activity log: who changed what, and automatic pauses (an extension).
    Activity {
        /// Only this application.
        #[arg(long)]
        app_id: Option<String>,
        /// Entries to show.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Entries to skip (newest first).
        #[arg(long, default_value_t = 0)]
        skip: u32,
    },
    /// Failed updates: per instance, version and error code (its name too), how many times,
    /// first and last, the most recent first (an extension).
    Errors {
        /// Only this application.
        #[arg(long)]
        app_id: Option<String>,
        /// Only this group.
        #[arg(long)]
        group_id: Option<String>,
        /// Only failures on this version.
        #[arg(long)]
        version: Option<String>,
        /// From this time on: RFC 3339 or unix seconds (default: a day ago).
        #[arg(long)]
        since: Option<String>,
        /// Rows to show (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Rows to skip.
        #[arg(long, default_value_t = 0)]
        skip: u32,
    },
    /// Every group's rollout: state, progress toward the target, rate, estimated end and
    /// what needs attention, what needs attention first (an extension).
    Overview {
        /// Only this application.
        #[arg(long)]
        app_id: Option<String>,
    },
    /// Webhooks: notifications of automatic pauses, finished and stalled rollouts and
    /// failure rates, signed with a per-webhook secret (an extension).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Shows the usage of the program or of one command.
    Help {
        /// The command.
        command: Option<String>,
    },
}

/// `admin-user` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminUserCommand {
    /// Create a user and print its API key. Without `--role` the user is an `admin` of
    /// every application, as every user was before roles (and as `updateservicectl`'s
    /// users are).
    Create {
        /// The user name.
        username: String,
        /// Its role: admin, operator or viewer (an extension).
        #[arg(long)]
        role: Option<String>,
        /// The applications it is limited to, comma-separated; none: every application
        /// (an extension).
        #[arg(long, value_delimiter = ',')]
        apps: Vec<String>,
    },
    /// List the user names; with `--long`, a table of names, roles and applications.
    List {
        /// Print `User`, `Role` and `Apps` columns (an extension).
        #[arg(long)]
        long: bool,
    },
    /// Delete a user. Nobody can delete itself, nor the last administrator of every
    /// application (`update-server reset-admin-key` recovers a lost key).
    Delete {
        /// The user name.
        username: String,
    },
    /// Change a user's role and applications (an extension).
    SetRole {
        /// The user name.
        username: String,
        /// Its role: admin, operator or viewer.
        #[arg(long)]
        role: String,
        /// The applications it is limited to, comma-separated; none: every application.
        #[arg(long, value_delimiter = ',')]
        apps: Vec<String>,
    },
}

/// `token` subcommands: API tokens for automation (an extension). A token is used as the
/// key (`--key`, `UPDATECTL_KEY`): updatectl sends it as a Bearer token.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (shown only now).
    Create {
        /// Its name: letters, digits, `-`, `_` or `.`.
        name: String,
        /// Its role: admin, operator or viewer.
        #[arg(long)]
        role: String,
        /// The applications it is limited to, comma-separated; none: every application.
        #[arg(long, value_delimiter = ',')]
        apps: Vec<String>,
        /// When it expires: an RFC 3339 time, or a duration from now (`90d`, `12h`).
        #[arg(long)]
        expires: String,
    },
    /// List the tokens: name, role, applications, expiry, last use, creator.
    List,
    /// Revoke a token.
    Revoke {
        /// Its name.
        name: String,
    },
}

/// `database` subcommands.
#[derive(Debug, Subcommand)]
pub enum DatabaseCommand {
    /// Confirm the server initialised its database (no authentication).
    Init,
    /// Download a backup of the database and hosted payloads (`.tar.gz`).
    Backup {
        /// The file to write.
        output: std::path::PathBuf,
    },
}

/// What an upstream of kind `omaha` follows (an extension).
#[derive(Debug, Clone, Default, Args)]
pub struct OmahaUpstreamArgs {
    /// `admin` (another server of this kind, the default) or `omaha` (any Omaha server,
    /// followed as a client).
    #[arg(long, default_value = "")]
    pub kind: String,
    /// Kind omaha: the local application the upstream's releases go to.
    #[arg(long, default_value = "")]
    pub app_id: String,
    /// Kind omaha: the application id sent to the upstream (default: --app-id).
    #[arg(long, default_value = "")]
    pub upstream_app_id: String,
    /// Kind omaha: a track to follow into the local channel of the same name (repeat, or
    /// separate with commas).
    #[arg(long = "track", value_delimiter = ',')]
    pub tracks: Vec<String>,
    /// Kind omaha: an architecture to ask for, amd64 or arm64 (repeat, or separate with
    /// commas; default amd64). The first one's payloads are the versions' default packages.
    #[arg(long = "arch", value_delimiter = ',')]
    pub arches: Vec<String>,
    /// Kind omaha: download the payloads and extra files and host them on the server.
    #[arg(long)]
    pub download: bool,
}

/// A webhook's settings, as `webhook create` and `webhook update` take them.
#[derive(Debug, Args)]
pub struct WebhookSettings {
    /// Only this application's events (default: every application's).
    #[arg(long)]
    pub app_id: Option<String>,
    /// The events, comma-separated: auto_paused, rollout_finished, failure_rate, stalled
    /// (default: all).
    #[arg(long, value_delimiter = ',')]
    pub events: Option<Vec<String>>,
    /// failure_rate fires above this percentage of failed attempts in the last hour
    /// (default 20).
    #[arg(long)]
    pub failure_rate_percent: Option<f64>,
    /// ... once at least this many attempts ended in that hour (default 5).
    #[arg(long)]
    pub failure_min_attempts: Option<i64>,
    /// stalled fires after this many seconds without a grant (default 3600; at least twice
    /// the group's rate-limit interval).
    #[arg(long)]
    pub stalled_after: Option<i64>,
    /// Stop sending to it.
    #[arg(long, conflicts_with = "enable")]
    pub disable: bool,
    /// Send to it again.
    #[arg(long)]
    pub enable: bool,
}

/// `webhook` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook; prints it and its signing secret (shown only now).
    Create {
        /// Where deliveries are POSTed (http or https).
        #[arg(long)]
        url: String,
        /// Its settings.
        #[command(flatten)]
        settings: WebhookSettings,
    },
    /// Change a webhook (the settings not given stay).
    Update {
        /// Webhook id.
        #[arg(long)]
        id: String,
        /// Where deliveries are POSTed.
        #[arg(long)]
        url: Option<String>,
        /// Its settings.
        #[command(flatten)]
        settings: WebhookSettings,
    },
    /// List the webhooks.
    List {
        /// Only this application's (and the global ones).
        #[arg(long)]
        app_id: Option<String>,
    },
    /// Delete a webhook and its deliveries.
    Delete {
        /// Webhook id.
        #[arg(long)]
        id: String,
    },
    /// Send a test delivery (within a second, retried like any other).
    Test {
        /// Webhook id.
        #[arg(long)]
        id: String,
    },
    /// A webhook's deliveries, newest first: status, attempts, last error.
    Deliveries {
        /// Webhook id.
        #[arg(long)]
        id: String,
        /// Deliveries to show.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `upstream` subcommands.
#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Add an upstream.
    Create {
        /// The upstream server's URL (kind omaha: its Omaha endpoint, such as
        /// `https://public.update.flatcar-linux.net/v1/update/`).
        #[arg(long)]
        url: String,
        /// Label.
        #[arg(long, default_value = "")]
        label: String,
        /// What an upstream of kind omaha follows.
        #[command(flatten)]
        omaha: OmahaUpstreamArgs,
    },
    /// Change an upstream.
    Update {
        /// Upstream id.
        #[arg(long)]
        id: String,
        /// The upstream server's URL.
        #[arg(long)]
        url: String,
        /// Label.
        #[arg(long, default_value = "")]
        label: String,
        /// What an upstream of kind omaha follows.
        #[command(flatten)]
        omaha: OmahaUpstreamArgs,
    },
    /// List the upstreams.
    List,
    /// Each upstream's kind, what it follows and its last sync (an extension).
    Status,
    /// Delete an upstream.
    Delete {
        /// Upstream id.
        #[arg(long)]
        id: String,
    },
    /// Sync from the upstreams now (blocks until complete).
    Sync,
}

/// `rollout`: shows a group's rollout, or changes it with a subcommand.
///
/// A rollout sets the group's percentage frame by frame from its start. After the last
/// frame it ends by itself and the group keeps the last frame's percentage; `deactivate`
/// stops it at the percentage in force; `group percent` stops it too. Pausing and
/// unpausing the group leave the percentage alone.
#[derive(Debug, Args)]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct RolloutCommand {
    /// Application id.
    #[arg(long, required = true)]
    pub app_id: Option<String>,
    /// Group id.
    #[arg(long, required = true)]
    pub group_id: Option<String>,
    /// A change instead of showing the rollout.
    #[command(subcommand)]
    pub change: Option<RolloutChange>,
}

/// `rollout` subcommands.
#[derive(Debug, Subcommand)]
pub enum RolloutChange {
    /// Create a rollout (it starts at once).
    #[command(subcommand)]
    Create(RolloutCreate),
    /// Start the group's rollout (from its first frame, unless it is running).
    Activate(GroupRef),
    /// Stop the group's rollout; the group keeps the percentage in force.
    Deactivate(GroupRef),
}

/// `rollout create` subcommands.
#[derive(Debug, Subcommand)]
pub enum RolloutCreate {
    /// A rollout from 0% to 100% in equal steps.
    Linear {
        /// The group.
        #[command(flatten)]
        group: GroupRef,
        /// Duration of a rollout step (or frame) in seconds.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        frame_size: u64,
        /// Total duration for the rollout to go from 0% to 100%, in seconds.
        #[arg(long, default_value_t = 86400, value_parser = clap::value_parser!(u64).range(1..))]
        duration: u64,
    },
}

/// The flags of `watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Application id.
    #[arg(long)]
    pub app_id: String,
    /// Group id (sent as `track`).
    #[arg(long)]
    pub group_id: String,
    /// Seconds between two update checks.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// The starting version.
    #[arg(long, default_value = "0.0.0")]
    pub version: String,
    /// The machine id to send (default: a random UUID).
    #[arg(long, default_value = "")]
    pub client_id: String,
    /// Test aid: exit after this many update checks.
    #[arg(long, hide = true)]
    pub checks: Option<u64>,
    /// The command to run, and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `--start`, `--end` and `--resolution` of `group versions` and `group events`.
#[derive(Debug, Args)]
pub struct RollupArgs {
    /// The group.
    #[command(flatten)]
    pub group: GroupRef,
    /// Start date filter (unix seconds; 0 with --end 0: the last 60 buckets).
    #[arg(long, default_value_t = 0)]
    pub start: i64,
    /// End date filter (unix seconds).
    #[arg(long, default_value_t = 0)]
    pub end: i64,
    /// 60, 3600 or 86400 seconds.
    #[arg(long, default_value_t = 60, value_parser = parse_resolution)]
    pub resolution: i64,
}

fn parse_resolution(text: &str) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(r @ (60 | 3600 | 86400)) => Ok(r),
        _ => Err(format!("{text:?} is not 60, 3600 or 86400")),
    }
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
        /// How update answers write `hash_sha256`: `hex` (the default; Flatcar's
        /// postinstall, Nebraska) or `base64` (updaters built on go-omaha).
        #[arg(long, value_parser = ["hex", "base64"])]
        hash_sha256: Option<String>,
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
        /// How update answers write `hash_sha256`: `hex` or `base64` (unchanged when
        /// omitted).
        #[arg(long, value_parser = ["hex", "base64"])]
        hash_sha256: Option<String>,
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
    /// List a channel's floors, lowest first.
    Floors {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// Channel label.
        #[arg(long)]
        channel: String,
    },
    /// Make a version a floor of a channel: an instance below it installs it before any
    /// later version. Creates or replaces it.
    SetFloor {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// Channel label.
        #[arg(long)]
        channel: String,
        /// The floor's version.
        #[arg(long)]
        version: String,
        /// Why it cannot be skipped (sent to clients as `floor_reason`).
        #[arg(long, default_value = "")]
        reason: String,
        /// A floor for this architecture only.
        #[arg(long)]
        arch: Option<String>,
    },
    /// Delete a floor of a channel.
    DeleteFloor {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// Channel label.
        #[arg(long)]
        channel: String,
        /// The floor's version.
        #[arg(long)]
        version: String,
        /// The floor for this architecture.
        #[arg(long)]
        arch: Option<String>,
    },
    /// List the versions never offered on a channel.
    Blacklist {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// Channel label.
        #[arg(long)]
        channel: String,
    },
    /// Never offer a version on a channel, whatever the channel points at.
    BlacklistAdd {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// Channel label.
        #[arg(long)]
        channel: String,
        /// The version.
        #[arg(long)]
        version: String,
    },
    /// Take a version off a channel's blacklist.
    BlacklistDelete {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// Channel label.
        #[arg(long)]
        channel: String,
        /// The version.
        #[arg(long)]
        version: String,
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
        /// The policy fields beyond CoreUpdate's.
        #[command(flatten)]
        extra: Box<PolicyFlags>,
    },
    /// Show one group with every policy field (an extension).
    Show(GroupRef),
    /// Instance requests per version over time.
    Versions(RollupArgs),
    /// Events per version, type and result over time. 3/2 counts completed updates only:
    /// update_engine's routine 3/2 on every check is a check-in (see `group check-ins`).
    Events(RollupArgs),
    /// Routine 3/2 check-ins per version over time: reports that complete nothing (an
    /// extension).
    CheckIns(RollupArgs),
    /// Instances per version over time, as the server counts them every 20 s (an
    /// extension).
    Instances(RollupArgs),
    /// Delete a group.
    Delete(GroupRef),
    /// Pause updates for a group. `group list` shows a group that paused itself on
    /// failures as `auto` under `Updates Paused`; unpausing lifts that too.
    Pause(GroupRef),
    /// Resume updates for a group.
    Unpause(GroupRef),
    /// Clear the retry delay after failures of a group's instances, or of one instance:
    /// they are offered the update at their next check (an extension).
    ClearRetry {
        /// The group.
        #[command(flatten)]
        group: GroupRef,
        /// Only this instance (machine id).
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Set the percentage of a group's instances that may update. A running timed
    /// rollout stops (and the output says so), so the percentage holds.
    Percent {
        /// The group.
        #[command(flatten)]
        group: GroupRef,
        /// Percentage of machines to update.
        #[arg(long, value_parser = parse_percent)]
        update_percent: f64,
    },
}

/// The group policy fields beyond CoreUpdate's (`group update`; each only when given).
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyFlags {
    /// At most this many instances updating at once (0: no limit).
    #[arg(long)]
    pub max_in_flight: Option<i64>,
    /// Seconds after which a granted update that did not complete counts as failed (0: never).
    #[arg(long)]
    pub update_timeout: Option<i64>,
    /// Pause the group automatically when this many of the last attempts failed (0: off).
    #[arg(long)]
    pub failure_threshold_count: Option<i64>,
    /// Pause the group automatically when this percentage of the last attempts failed
    /// (0: off).
    #[arg(long)]
    pub failure_threshold_percent: Option<f64>,
    /// How many recent attempts the failure thresholds look at.
    #[arg(long)]
    pub failure_window: Option<i64>,
    /// Count expired grants (see --update-timeout) as failures.
    #[arg(long)]
    pub failure_count_timeouts: Option<bool>,
    /// The maintenance windows' time zone (IANA name, e.g. Europe/Berlin; empty: no windows).
    #[arg(long)]
    pub maintenance_time_zone: Option<String>,
    /// Maintenance windows, e.g. `mon,tue 02-05; sat 00-24` (local hours; empty: none).
    #[arg(long)]
    pub maintenance_windows: Option<String>,
    /// Serve a lower version when the channel points at one (rollback).
    #[arg(long)]
    pub allow_downgrade: Option<bool>,
    /// Seconds an instance whose update failed (3/0, rollback included) waits before it is
    /// offered the same version again; doubles per consecutive failure up to
    /// --retry-delay-max (0: off; default 3600).
    #[arg(long)]
    pub retry_delay: Option<i64>,
    /// The longest retry delay after failures, in seconds (default 86400).
    #[arg(long)]
    pub retry_delay_max: Option<i64>,
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
    /// Register a package: hash the payload, upload it unless `--url` is given. An existing
    /// version is refused unless `--replace` says to change it.
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Create {
        /// Application id.
        #[arg(long, required = true)]
        app_id: Option<String>,
        /// The package version.
        #[arg(long, required = true)]
        version: Option<String>,
        /// The payload file (hashed; uploaded when `--url` is absent).
        #[arg(long, required = true)]
        file: Option<std::path::PathBuf>,
        /// Where instances download the payload (skips the upload).
        #[arg(long)]
        url: Option<String>,
        /// JSON file with `metadata_size` and `metadata_signature_rsa`.
        #[arg(long)]
        meta: Option<std::path::PathBuf>,
        /// Text file with release notes.
        #[arg(long)]
        release_notes: Option<std::path::PathBuf>,
        /// Replace the existing package of this version (PATCH) instead of creating one.
        #[arg(long)]
        replace: bool,
        /// Register the version's package for this architecture (amd64, arm64, ...), which
        /// instances of it get instead of the default package; creates or replaces it. The
        /// version's default package must exist. Without `--url` the payload is uploaded
        /// to the server's hosting, in a directory of the architecture's own.
        #[arg(long, conflicts_with = "replace")]
        arch: Option<String>,
        /// `bulk`.
        #[command(subcommand)]
        bulk: Option<PackageCreateBulk>,
    },
    /// Register an extra file of a package (`oem-qemu.gz`, `flatcar-<extension>.gz`), named
    /// as the file is, hashed here; listed after the payload in the same Omaha answer and
    /// downloaded from the package's codebase. Creates or replaces it.
    AddFile {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// The package version.
        #[arg(long)]
        version: String,
        /// The file (hashed; uploaded with `--upload`).
        #[arg(long)]
        file: std::path::PathBuf,
        /// A file of the version's package for this architecture instead of the default
        /// package (with `--upload`, stored beside that package's hosted payload).
        #[arg(long)]
        arch: Option<String>,
        /// Also upload the file to the server's hosting, beside the version's payload.
        #[arg(long)]
        upload: bool,
    },
    /// List a package's extra files.
    Files {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// The package version.
        #[arg(long)]
        version: String,
        /// The files of the version's package for this architecture.
        #[arg(long)]
        arch: Option<String>,
    },
    /// Delete an extra file of a package.
    DeleteFile {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// The package version.
        #[arg(long)]
        version: String,
        /// The file name.
        #[arg(long)]
        name: String,
        /// A file of the version's package for this architecture.
        #[arg(long)]
        arch: Option<String>,
    },
    /// List a version's packages for named architectures.
    Arches {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// The package version.
        #[arg(long)]
        version: String,
    },
    /// Download published packages to local disk.
    Download {
        /// Only this application.
        #[arg(long)]
        app_id: Option<String>,
        /// Only this version.
        #[arg(long, conflicts_with = "min_version")]
        version: Option<String>,
        /// Only versions at or above this one (semver).
        #[arg(long)]
        min_version: Option<String>,
        /// Where to save them (created if missing).
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
    },
    /// Upload a package payload file (the server must accept uploads).
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Upload {
        /// The payload file.
        #[arg(long, required = true)]
        file: Option<std::path::PathBuf>,
        /// `bulk`.
        #[command(subcommand)]
        bulk: Option<PackageUploadBulk>,
    },
    /// Delete a package (with its packages for named architectures), or with `--arch` only
    /// the version's package for that architecture.
    Delete {
        /// Application id.
        #[arg(long)]
        app_id: String,
        /// The package version.
        #[arg(long)]
        version: String,
        /// Delete only the version's package for this architecture.
        #[arg(long)]
        arch: Option<String>,
    },
}

/// `package create bulk`.
#[derive(Debug, Subcommand)]
pub enum PackageCreateBulk {
    /// Register packages from a folder output by 'package download'.
    Bulk {
        /// The folder.
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
        /// Where the payloads will be hosted: rewrites each package's URL to
        /// `<base-url>/<file name package download saved>`.
        #[arg(long)]
        base_url: Option<String>,
    },
}

/// `package upload bulk`.
#[derive(Debug, Subcommand)]
pub enum PackageUploadBulk {
    /// Upload every regular file in a folder.
    Bulk {
        /// The folder.
        #[arg(long)]
        dir: std::path::PathBuf,
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
    /// One instance's events and update grants, oldest first (an extension).
    History {
        /// The instance (machine) id.
        #[arg(long)]
        client_id: String,
        /// Only this application.
        #[arg(long)]
        app_id: Option<String>,
        /// Entries to show (the newest).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Find instances by id prefix, version, status, OEM, ... (an extension).
    Search(SearchArgs),
    /// Load the server with concurrent update checks, each from a new instance; report
    /// requests per second and latency percentiles.
    Bench(BenchArgs),
}

/// The flags of `instance search`.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Only this application.
    #[arg(long)]
    pub app_id: Option<String>,
    /// Only this group.
    #[arg(long)]
    pub group_id: Option<String>,
    /// Instance ids starting with this.
    #[arg(long)]
    pub id_prefix: Option<String>,
    /// Only this version.
    #[arg(long)]
    pub version: Option<String>,
    /// Only this status (`complete`, `error`, `granted`, `downloading`, ...).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this OEM.
    #[arg(long)]
    pub oem: Option<String>,
    /// Instances to show.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// Instances to skip (most recently seen first).
    #[arg(long, default_value_t = 0)]
    pub skip: u32,
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
    /// The wire protocol: Omaha v3 XML on `/v1/update/`, or Omaha JSON 3.1 on
    /// `/v1/update/json`.
    #[arg(long, value_enum, default_value = "xml")]
    pub protocol: UpdateProtocol,
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
    /// The instance ids are this prefix and a number: `<prefix>000`, `<prefix>001`, ...
    /// Default `fake-client-<run>-` with a random run tag, so each run simulates instances
    /// of its own; give a prefix to run the same instances again.
    #[arg(long)]
    pub client_prefix: Option<String>,
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
    /// The wire protocol: Omaha v3 XML on `/v1/update/`, or Omaha JSON 3.1 on
    /// `/v1/update/json`.
    #[arg(long, value_enum, default_value = "xml")]
    pub protocol: UpdateProtocol,
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
