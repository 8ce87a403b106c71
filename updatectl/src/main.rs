//! `updatectl`: the operator CLI of the update service. Parses the command line, runs the
//! command, maps failures to updateservicectl's exit codes: 0 ok, 1 API or IO error (the
//! message on stderr), 2 usage error, 3 unknown command.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use clap::FromArgMatches as _;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use updatectl::cli::{Cli, Command, DatabaseCommand, InstanceCommand};
use updatectl::commands;

/// The top-level command names (an unknown one exits 3, an unknown subcommand 2).
const COMMANDS: [&str; 16] = [
    "admin-user",
    "app",
    "channel",
    "database",
    "group",
    "help",
    "instance",
    "package",
    "rollout",
    "watch",
    "upstream",
    "activity",
    "errors",
    "overview",
    "webhook",
    "token",
];

fn main() -> ExitCode {
    let parsed = updatectl::cli::command()
        .try_get_matches_from(go_style_flags(std::env::args_os()))
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("updatectl: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}

/// Accepts Go's single-dash long flags (`-server=URL`, `-user admin`), as updateservicectl
/// does, by rewriting them to `--server=URL`. Single letters (`-h`), negative numbers and
/// everything after `--` are left alone.
fn go_style_flags(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut rest = false;
    args.map(|arg| {
        if rest {
            return arg;
        }
        let Some(text) = arg.to_str() else {
            return arg;
        };
        if text == "--" {
            rest = true;
            return arg;
        }
        let name = text.strip_prefix('-').filter(|t| !t.starts_with('-'));
        match name {
            Some(name) if name.len() > 1 && name.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                OsString::from(format!("-{text}"))
            }
            _ => arg,
        }
    })
    .collect()
}

/// Prints clap's message and picks the exit code.
fn usage_error(error: &clap::Error) -> ExitCode {
    let _ = error.print();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
        ErrorKind::InvalidSubcommand if is_top_level(error) => {
            println!("Run 'updatectl --help' for usage.");
            ExitCode::from(3)
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand
            if !std::env::args()
                .skip(1)
                .any(|a| COMMANDS.contains(&a.as_str())) =>
        {
            ExitCode::from(3)
        }
        _ => ExitCode::from(2),
    }
}

/// Whether the unknown subcommand is in the top-level position (no known command before it).
fn is_top_level(error: &clap::Error) -> bool {
    let Some(ContextValue::String(unknown)) = error.get(ContextKind::InvalidSubcommand) else {
        return true;
    };
    for arg in std::env::args().skip(1) {
        if arg == *unknown {
            return true;
        }
        if COMMANDS.contains(&arg.as_str()) {
            return false;
        }
    }
    true
}

/// `help [COMMAND]`: the usage of the program or of a top-level command (exit 0); an
/// unknown command prints `Unrecognized command: X` and exits 3.
fn help(command: Option<&str>) -> ExitCode {
    let mut cli = updatectl::cli::command();
    cli.build();
    let text = match command {
        None => cli.render_help(),
        Some(name) => match cli.find_subcommand_mut(name) {
            Some(sub) if COMMANDS.contains(&name) => sub.render_help(),
            _ => {
                println!("Unrecognized command: {name}");
                return ExitCode::from(3);
            }
        },
    };
    print!("{text}");
    ExitCode::SUCCESS
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    let client = updatectl::client::connect(
        &global.server,
        &global.user,
        &global.key,
        global.skip_ssl_verify,
    )?;
    let output = match cli.command {
        Command::AdminUser(c) => updatectl::admin::admin_user(&client, c).await?,
        Command::App(c) => commands::app(&client, c).await?,
        Command::Channel(c) => commands::channel(&client, c).await?,
        Command::Group(c) => commands::group(&client, c).await?,
        Command::Package(c) => commands::package(&client, c).await?,
        Command::Rollout(c) => updatectl::rollout::rollout(&client, c).await?,
        Command::Upstream(c) => updatectl::admin::upstream(&client, c).await?,
        Command::Token(c) => updatectl::admin::token(&client, c).await?,
        Command::Webhook(c) => updatectl::webhook::webhook(&client, c).await?,
        Command::Activity {
            app_id,
            limit,
            skip,
        } => updatectl::admin::activity(&client, app_id, limit, skip).await?,
        Command::Errors {
            app_id,
            group_id,
            version,
            since,
            limit,
            skip,
        } => {
            let filter = updatectl::admin::ErrorsFilter {
                app_id,
                group_id,
                version,
                since,
            };
            updatectl::admin::errors(&client, filter, limit, skip).await?
        }
        Command::Overview { app_id } => updatectl::admin::overview(&client, app_id).await?,
        Command::Database(DatabaseCommand::Backup { output }) => {
            updatectl::transfer::backup(&client, &output).await?
        }
        Command::Database(DatabaseCommand::Init) => {
            let init = updatectl::admin::database_init(&client).await?;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(init.body.as_bytes())?;
            if !init.body.ends_with('\n') {
                stdout.write_all(b"\n")?;
            }
            stdout.flush()?;
            return Ok(if init.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Watch(args) => {
            updatectl::watch::run(&client, args, global.debug).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Instance(InstanceCommand::ListUpdates(f)) => {
            commands::list_updates(&client, &f).await?
        }
        Command::Instance(InstanceCommand::ListAppVersions(f)) => {
            commands::list_app_versions(&client, &f).await?
        }
        Command::Instance(InstanceCommand::History {
            client_id,
            app_id,
            limit,
        }) => commands::history(&client, &client_id, app_id.as_deref(), limit).await?,
        Command::Instance(InstanceCommand::Search(args)) => {
            commands::search(&client, &args).await?
        }
        Command::Instance(InstanceCommand::Bench(args)) => {
            let json = global.json;
            let report = updatectl::bench::run(&client, args, |responses, elapsed| {
                if !json {
                    let secs = elapsed.as_secs_f64().max(1e-9);
                    println!(
                        "Got {responses} responses so far, average {:.1} per second",
                        responses as f64 / secs
                    );
                }
            })
            .await?;
            let text = if json {
                let mut text = serde_json::to_string_pretty(&report)?;
                text.push('\n');
                text
            } else {
                updatectl::bench::render(&report)
            };
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Instance(InstanceCommand::Fake(args)) => {
            updatectl::fake::run(&client, args, global.debug).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Help { command } => return Ok(help(command.as_deref())),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(output.render(global.json).as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
