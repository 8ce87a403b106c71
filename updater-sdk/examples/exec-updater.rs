//! A complete updater that installs by running a command, in the spirit of
//! `updateservicectl watch`: it checks the update service, downloads and verifies each
//! new version, runs `<cmd> <args>...` with the payload's path in the environment, and
//! reports every step.
//!
//! ```text
//! cargo run -p updater-sdk --example exec-updater -- \
//!     --server http://127.0.0.1:8000 --app-id e96281a6-d1af-4bde-9a0a-97b76e56dc57 \
//!     --group-id stable --version-file /var/lib/myapp/version \
//!     -- /usr/local/bin/install-myapp
//! ```
//!
//! The command gets the updater's environment plus `UPDATE_SERVICE_VERSION` (the new
//! version), `UPDATE_SERVICE_OLD_VERSION`, `UPDATE_SERVICE_APP_ID`, `UPDATE_SERVICE_URL`
//! (where the payload came from) and `UPDATE_SERVICE_PAYLOAD` (the verified payload
//! file, deleted after the command returns). Exit status 0 means installed; anything
//! else is reported as a failed install (3/0, code 5). `EXEC_UPDATER_LOG=warn` (any
//! tracing filter) also prints the SDK's own log lines.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use updater_sdk::{
    CupPublicKey, HookError, Hooks, HttpOptions, InstallOutcome, Notification, Outcome, Protocol,
    PublicKey, UpdateInfo, Updater,
};

/// Watch an Omaha update service and install each new version by running a command.
#[derive(Debug, Parser)]
#[command(name = "exec-updater")]
struct Args {
    /// The update service, e.g. http://127.0.0.1:8000 (the Omaha endpoint /v1/update/ is
    /// appended).
    #[arg(long, env = "UPDATECTL_SERVER")]
    server: String,
    /// The application id.
    #[arg(long)]
    app_id: String,
    /// The group (sent as the Omaha track).
    #[arg(long, default_value = "stable")]
    group_id: String,
    /// The version running now, when --version-file is absent or does not exist yet.
    #[arg(long, default_value = "0.0.0")]
    version: String,
    /// A file holding the current version: read at start, rewritten after each
    /// successful install, so the updater knows what it installed across restarts.
    #[arg(long)]
    version_file: Option<PathBuf>,
    /// Where the updater keeps its state and downloads.
    #[arg(long, default_value = "exec-updater-state")]
    state_dir: PathBuf,
    /// The instance id; default /etc/machine-id, else one generated and kept in the state
    /// directory.
    #[arg(long)]
    machine_id: Option<String>,
    /// Seconds between checks when the server sends no PollInterval.
    #[arg(long, default_value_t = 3600)]
    interval: u64,
    /// Base64 ed25519 public key: require `<payload URL>.sig` to verify with it.
    #[arg(long)]
    public_key: Option<String>,
    /// The wire protocol: `xml` (Omaha v3) or `json` (Omaha JSON 3.1).
    #[arg(long, default_value = "xml", value_parser = ["xml", "json"])]
    protocol: String,
    /// Pin the update service's CUP public key (`VERSION=FILE`, FILE a PEM public key as
    /// `update-server cup-keys` prints it; repeat for a rotation): every answer must then
    /// be signed for the request it answers.
    #[arg(long, value_name = "VERSION=FILE")]
    cup_key: Vec<String>,
    /// A PEM file of CA certificates to trust instead of the system's (an update service
    /// or payload server behind a private CA).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// A shell command that checks the new version after the install (non-zero: roll
    /// back). Gets the same environment as the install command.
    #[arg(long)]
    health_check: Option<String>,
    /// A shell command run when the health check fails, to restore the old version.
    #[arg(long)]
    rollback: Option<String>,
    /// Send multi_manifest_ok="true": an instance below floors of its channel gets every
    /// floor and the target in one answer and installs them in order in one pass (the
    /// install command runs once per step).
    #[arg(long)]
    multi_manifest: bool,
    /// Check once, install if there is an update, and exit (for cron).
    #[arg(long)]
    once: bool,
    /// The install command and its arguments.
    #[arg(required = true, trailing_var_arg = true)]
    command: Vec<String>,
}

struct ExecHooks {
    app_id: String,
    command: Vec<String>,
    health_check: Option<String>,
    rollback: Option<String>,
    version_file: Option<PathBuf>,
    old_version: std::sync::Mutex<String>,
}

impl ExecHooks {
    fn env(&self, version: &str) -> Vec<(&'static str, String)> {
        let old = self
            .old_version
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        let mut env = vec![
            ("UPDATE_SERVICE_VERSION", version.to_owned()),
            ("UPDATE_SERVICE_APP_ID", self.app_id.clone()),
        ];
        if !old.is_empty() {
            env.push(("UPDATE_SERVICE_OLD_VERSION", old));
        }
        env
    }

    async fn write_version(&self, version: &str) -> Result<(), HookError> {
        if let Some(path) = &self.version_file {
            tokio::fs::write(path, format!("{version}\n")).await?;
        }
        Ok(())
    }
}

async fn run_command(
    program: &str,
    args: &[String],
    env: Vec<(&'static str, String)>,
) -> Result<(), HookError> {
    let status = tokio::process::Command::new(program)
        .args(args)
        .envs(env)
        .status()
        .await
        .map_err(|e| HookError::msg(format!("cannot run {program}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(HookError::msg(format!("{program} exited with {status}")))
    }
}

#[updater_sdk::async_trait]
impl Hooks for ExecHooks {
    async fn install(
        &self,
        payload: &Path,
        update: &UpdateInfo,
    ) -> Result<InstallOutcome, HookError> {
        let mut env = self.env(&update.version);
        env.push(("UPDATE_SERVICE_URL", update.url.clone()));
        env.push(("UPDATE_SERVICE_PAYLOAD", payload.display().to_string()));
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| HookError::msg("no install command"))?;
        run_command(program, args, env).await?;
        self.write_version(&update.version).await?;
        Ok(InstallOutcome::Complete)
    }

    async fn health_check(&self, version: &str) -> Result<(), HookError> {
        match &self.health_check {
            Some(script) => {
                run_command("sh", &["-c".into(), script.clone()], self.env(version)).await
            }
            None => Ok(()),
        }
    }

    async fn rollback(&self, failed: &str, previous: &str) -> Result<(), HookError> {
        self.write_version(previous).await?;
        match &self.rollback {
            Some(script) => {
                run_command("sh", &["-c".into(), script.clone()], self.env(failed)).await
            }
            None => Ok(()),
        }
    }

    fn notify(&self, notification: &Notification<'_>) {
        match notification {
            Notification::Steps(plan) => {
                let versions: Vec<&str> = plan.steps().iter().map(|s| s.version.as_str()).collect();
                eprintln!("update in {} steps: {}", plan.len(), versions.join(", "));
            }
            Notification::UpdateAvailable(update) => {
                eprintln!(
                    "update available: {} ({} bytes)",
                    update.version, update.size
                );
            }
            Notification::DownloadResumed { offset } => eprintln!("resuming download at {offset}"),
            Notification::Verified(update) => {
                eprintln!("downloaded and verified {}", update.version)
            }
            Notification::Completed {
                version,
                from_version,
            } => {
                if let Ok(mut old) = self.old_version.lock() {
                    (*version).clone_into(&mut *old);
                }
                eprintln!("updated from {from_version} to {version}");
            }
            Notification::Retrying { error, retry_in } => {
                eprintln!("warning: {} (next attempt in {retry_in:?})", chain(error));
            }
            Notification::Failed(error) => eprintln!("error: update failed: {}", chain(error)),
            _ => {}
        }
    }
}

/// An error and its sources, one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    // The SDK's own log lines (warnings and errors), off unless asked for with
    // EXEC_UPDATER_LOG=warn (or any tracing filter); the notifications below cover the
    // same ground in plain words.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EXEC_UPDATER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .init();
    let version = match &args.version_file {
        Some(path) if path.exists() => tokio::fs::read_to_string(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned(),
        _ => args.version.clone(),
    };
    let hooks = ExecHooks {
        app_id: args.app_id.clone(),
        command: args.command.clone(),
        health_check: args.health_check.clone(),
        rollback: args.rollback.clone(),
        version_file: args.version_file.clone(),
        old_version: std::sync::Mutex::new(version.clone()),
    };
    let mut http = HttpOptions::default();
    if let Some(path) = &args.ca_file {
        let pem = tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        http = http.trust_only_roots_pem(pem);
    }
    let mut builder = Updater::builder(&args.server, &args.app_id)
        .group(&args.group_id)
        .current_version(&version)
        .state_dir(&args.state_dir)
        .poll_interval(Duration::from_secs(args.interval.max(1)), 0.1)
        .multi_manifest(args.multi_manifest)
        .http(http);
    if let Some(id) = &args.machine_id {
        builder = builder.machine_id(id);
    }
    if let Some(key) = &args.public_key {
        builder = builder.public_key(key.parse::<PublicKey>().context("--public-key")?);
    }
    if args.protocol == "json" {
        builder = builder.protocol(Protocol::Json);
    }
    for pin in &args.cup_key {
        let (version, file) = pin.split_once('=').context("--cup-key is VERSION=FILE")?;
        let version: u32 = version.parse().context("--cup-key: the key version")?;
        let pem = tokio::fs::read_to_string(file)
            .await
            .with_context(|| format!("reading {file}"))?;
        let key = CupPublicKey::from_pem(&pem).with_context(|| format!("--cup-key {file}"))?;
        builder = builder.cup_key(version, key);
    }
    let updater = builder.build(hooks).await.context("starting the updater")?;
    eprintln!(
        "exec-updater: app {} group {} machine {} on version {version}",
        args.app_id,
        args.group_id,
        updater.machine_id()
    );

    if args.once {
        return match updater.run_once().await {
            Ok(Outcome::NoUpdate) => {
                eprintln!("no update");
                Ok(ExitCode::SUCCESS)
            }
            Ok(outcome) => {
                eprintln!("{outcome:?}");
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("error: {}", chain(&error));
                Ok(ExitCode::FAILURE)
            }
        };
    }
    updater
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    eprintln!("exec-updater: stopped");
    Ok(ExitCode::SUCCESS)
}
