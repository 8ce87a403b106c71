//! Running the admin commands: one API call (or a read-modify-write) each, printed as a
//! table (or as JSON with `--json`).

use reqwest::Method;
use update_api::api::{
    App, AppChannel, AppList, AppVersionList, BlacklistList, BlacklistedVersion, ChannelFloor,
    ChannelFloorList, ChannelList, ChannelRequest, ClientHistory, ClientUpdateList, Group,
    GroupList, GroupPercent, Package, PackageFile, PackageFileList, PackageList, RetryCleared,
};

use crate::Error;
use crate::cli::{
    AppCommand, ChannelArgs, ChannelCommand, GroupCommand, GroupRef, PackageCommand,
    PackageCreateBulk, PackageUploadBulk, PolicyFlags, ReportFilter, SearchArgs,
};
use crate::client::Client;
use crate::output::{Output, PACKAGE_HEADER, go_float, package_row, rfc3339, table};
use crate::transfer::file_sums;

const APP_HEADER: &str = "Id\tLabel\tDescription";
const CHANNEL_HEADER: &str = "Label\tVersion\tPublish\tUpstream";
const GROUP_HEADER: &str = "Label\tApp\tChannel\tId\tUpdates Paused\tPercent\tRollout Active";
const GROUP_RATE_HEADER: &str = "Label\tApp\tChannel\tId\tPaused\tCount\tInterval";
const ARCH_PACKAGE_HEADER: &str = "Arch\tVersion\tURL\tSize";
const FLOOR_HEADER: &str = "Channel\tVersion\tArch\tReason";
const BLACKLIST_HEADER: &str = "Channel\tVersion";
const FILE_HEADER: &str = "Arch\tVersion\tName\tSize\tURL";

fn app_row(a: &App) -> String {
    format!("{}\t{}\t{}", a.id, a.label, a.description)
}

fn channel_row(c: &AppChannel) -> String {
    format!("{}\t{}\t{}\t{}", c.label, c.version, c.publish, c.upstream)
}

/// The `Updates Paused` cell: `true` (paused by an operator), `auto` (the group paused
/// itself on failures; `autoPausedAt` says when) or `false`.
fn paused_cell(g: &Group) -> String {
    if !g.updates_paused && !g.auto_paused_at.is_empty() {
        "auto".to_owned()
    } else {
        g.updates_paused.to_string()
    }
}

/// Says plainly, on stderr (the table stays the real client's), which channels point at a
/// version whose groups get no update: no package, or a package waiting for its payload.
fn warn_package_missing(channels: &[AppChannel]) {
    for c in channels.iter().filter(|c| c.package_missing) {
        eprintln!(
            "warning: channel {} points at {}, which has no package with a payload: \
             its groups get no update until one exists",
            c.label, c.version
        );
    }
}

fn group_row(g: &Group) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        g.label,
        g.app_id,
        g.channel_id,
        g.id,
        paused_cell(g),
        go_float(g.update_percent),
        g.rollout_active
    )
}

fn group_rate_row(g: &Group) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        g.label,
        g.app_id,
        g.channel_id,
        g.id,
        paused_cell(g),
        g.update_count,
        g.update_interval
    )
}

fn floor_row(f: &ChannelFloor) -> String {
    let arch = if f.arch.is_empty() { "-" } else { &f.arch };
    format!("{}\t{}\t{arch}\t{}", f.channel, f.version, f.reason)
}

fn blacklist_row(b: &BlacklistedVersion) -> String {
    format!("{}\t{}", b.channel, b.version)
}

fn file_row(f: &PackageFile) -> String {
    let arch = if f.arch.is_empty() { "-" } else { &f.arch };
    let url = if f.url.is_empty() {
        "(payload missing)"
    } else {
        f.url.as_str()
    };
    format!("{arch}\t{}\t{}\t{}\t{url}", f.version, f.name, f.size)
}

fn arch_package_row(p: &Package) -> String {
    format!("{}\t{}", p.arch, package_row(p))
}

fn arch_query(arch: Option<&str>) -> Vec<(&'static str, String)> {
    arch.map(|a| vec![("arch", a.to_owned())])
        .unwrap_or_default()
}

fn files_table(files: &[PackageFile]) -> Output {
    Output::new(table(FILE_HEADER, files, file_row), &files)
}

const NO_BODY: Option<&()> = None;

/// Runs an `app` command.
///
/// # Errors
/// The API's or the transport's.
pub async fn app(client: &Client, command: AppCommand) -> Result<Output, Error> {
    match command {
        AppCommand::List => {
            let list: AppList = client.apps().await?;
            Ok(Output::new(
                table(APP_HEADER, &list.items, app_row),
                &list.items,
            ))
        }
        AppCommand::Create {
            app_id,
            label,
            description,
            hash_sha256,
        } => {
            let body = App {
                id: app_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                label,
                description,
                hash_sha256: hash_sha256.unwrap_or_default(),
            };
            let app = client.create_app(&body).await?;
            Ok(Output::new(
                table(APP_HEADER, std::slice::from_ref(&app), app_row),
                &app,
            ))
        }
        AppCommand::Update {
            app_id,
            label,
            description,
            hash_sha256,
        } => {
            let body = App {
                id: String::new(),
                label,
                description,
                hash_sha256: hash_sha256.unwrap_or_default(),
            };
            let app = client.update_app(&app_id, &body).await?;
            Ok(Output::new(
                table(APP_HEADER, std::slice::from_ref(&app), app_row),
                &app,
            ))
        }
        AppCommand::Delete { app_id } => {
            let app = client.delete_app(&app_id).await?;
            Ok(Output::new(
                table(APP_HEADER, std::slice::from_ref(&app), app_row),
                &app,
            ))
        }
    }
}

fn channel_body(args: &ChannelArgs) -> ChannelRequest {
    ChannelRequest {
        app_id: args.app_id.clone(),
        label: args.channel.clone(),
        version: args.version.clone(),
        publish: args.publish,
    }
}

/// Runs a `channel` command. `channel create` sends the app id in the path (fixing
/// updateservicectl's quirk §11.1).
///
/// # Errors
/// The API's or the transport's.
pub async fn channel(client: &Client, command: ChannelCommand) -> Result<Output, Error> {
    let one = |c: AppChannel| {
        warn_package_missing(std::slice::from_ref(&c));
        Output::new(
            table(CHANNEL_HEADER, std::slice::from_ref(&c), channel_row),
            &c,
        )
    };
    match command {
        ChannelCommand::List { app_id } => {
            let list: ChannelList = client.channels(&app_id).await?;
            warn_package_missing(&list.items);
            Ok(Output::new(
                table(CHANNEL_HEADER, &list.items, channel_row),
                &list.items,
            ))
        }
        ChannelCommand::Create(args) => {
            let body = channel_body(&args);
            let path = ["apps", args.app_id.as_str(), "channels"];
            let c: AppChannel = client.call(Method::POST, &path, &[], Some(&body)).await?;
            Ok(one(c))
        }
        ChannelCommand::Update(args) => {
            let body = channel_body(&args);
            let path = [
                "apps",
                args.app_id.as_str(),
                "channels",
                args.channel.as_str(),
            ];
            let c: AppChannel = client.call(Method::PATCH, &path, &[], Some(&body)).await?;
            Ok(one(c))
        }
        ChannelCommand::Delete { app_id, channel } => {
            let path = ["apps", app_id.as_str(), "channels", channel.as_str()];
            let deleted: serde_json::Value =
                client.call(Method::DELETE, &path, &[], NO_BODY).await?;
            Ok(Output {
                lines: vec![format!(
                    "deleted channel: {channel}, for application: {app_id}"
                )],
                json: deleted,
            })
        }
        ChannelCommand::Floors { app_id, channel } => {
            let path = ["apps", &app_id, "channels", &channel, "floors"];
            let list: ChannelFloorList = client.call(Method::GET, &path, &[], NO_BODY).await?;
            Ok(Output::new(
                table(FLOOR_HEADER, &list.items, floor_row),
                &list.items,
            ))
        }
        ChannelCommand::SetFloor {
            app_id,
            channel,
            version,
            reason,
            arch,
        } => {
            let path = ["apps", &app_id, "channels", &channel, "floors", &version];
            let body = ChannelFloor {
                reason,
                ..ChannelFloor::default()
            };
            let floor: ChannelFloor = client
                .call(
                    Method::PUT,
                    &path,
                    &arch_query(arch.as_deref()),
                    Some(&body),
                )
                .await?;
            Ok(Output::new(
                table(FLOOR_HEADER, std::slice::from_ref(&floor), floor_row),
                &floor,
            ))
        }
        ChannelCommand::DeleteFloor {
            app_id,
            channel,
            version,
            arch,
        } => {
            let path = ["apps", &app_id, "channels", &channel, "floors", &version];
            let floor: ChannelFloor = client
                .call(Method::DELETE, &path, &arch_query(arch.as_deref()), NO_BODY)
                .await?;
            Ok(Output::new(
                table(FLOOR_HEADER, std::slice::from_ref(&floor), floor_row),
                &floor,
            ))
        }
        ChannelCommand::Blacklist { app_id, channel } => {
            let path = ["apps", &app_id, "channels", &channel, "blacklist"];
            let list: BlacklistList = client.call(Method::GET, &path, &[], NO_BODY).await?;
            Ok(Output::new(
                table(BLACKLIST_HEADER, &list.items, blacklist_row),
                &list.items,
            ))
        }
        ChannelCommand::BlacklistAdd {
            app_id,
            channel,
            version,
        } => {
            let path = ["apps", &app_id, "channels", &channel, "blacklist", &version];
            let entry: BlacklistedVersion = client.call(Method::PUT, &path, &[], NO_BODY).await?;
            Ok(Output::new(
                table(
                    BLACKLIST_HEADER,
                    std::slice::from_ref(&entry),
                    blacklist_row,
                ),
                &entry,
            ))
        }
        ChannelCommand::BlacklistDelete {
            app_id,
            channel,
            version,
        } => {
            let path = ["apps", &app_id, "channels", &channel, "blacklist", &version];
            let entry: BlacklistedVersion =
                client.call(Method::DELETE, &path, &[], NO_BODY).await?;
            Ok(Output::new(
                table(
                    BLACKLIST_HEADER,
                    std::slice::from_ref(&entry),
                    blacklist_row,
                ),
                &entry,
            ))
        }
    }
}

/// Runs a `group` command. Updates are read-modify-write: GET the group, change the given
/// fields, PATCH the whole group back.
///
/// # Errors
/// The API's or the transport's.
pub async fn group(client: &Client, command: GroupCommand) -> Result<Output, Error> {
    let one = |g: Group| Output::new(table(GROUP_HEADER, std::slice::from_ref(&g), group_row), &g);
    match command {
        GroupCommand::List { app_id } => {
            let list: GroupList = client.groups(&app_id).await?;
            Ok(Output::new(
                table(GROUP_HEADER, &list.items, group_row),
                &list.items,
            ))
        }
        GroupCommand::Create {
            group,
            channel,
            label,
        } => {
            let body = Group {
                app_id: group.app_id.clone(),
                id: group.group_id.clone(),
                label,
                channel_id: channel,
                ..Group::default()
            };
            let path = ["apps", group.app_id.as_str(), "groups"];
            Ok(one(client
                .call(Method::POST, &path, &[], Some(&body))
                .await?))
        }
        GroupCommand::Update {
            group,
            label,
            channel,
            oem_blacklist,
            update_count,
            update_interval,
            extra,
        } => {
            let rate = update_count.is_some() || update_interval.is_some();
            let mut keep = extra_keys(&extra);
            if update_count.is_some() {
                keep.push("updateCount");
            }
            if update_interval.is_some() {
                keep.push("updateInterval");
            }
            if rate {
                keep.push("updatePooling");
            }
            let updated = modify(client, &group, &keep, |g| {
                if let Some(label) = label {
                    g.label = label;
                }
                if let Some(channel) = channel {
                    g.channel_id = channel;
                }
                if let Some(oems) = oem_blacklist {
                    g.oem_blacklist = oems;
                }
                if let Some(count) = update_count {
                    g.update_count = count;
                }
                if let Some(interval) = update_interval {
                    g.update_interval = interval;
                }
                if rate {
                    g.update_pooling = !(g.update_count == 0 && g.update_interval == 0);
                }
                apply_extra(g, *extra);
            })
            .await?;
            // As the v1.4 CLI printed it: header, a blank line, the row.
            let lines = vec![
                GROUP_RATE_HEADER.to_owned(),
                String::new(),
                group_rate_row(&updated),
            ];
            Ok(Output::new(lines, &updated))
        }
        GroupCommand::Show(group) => {
            let path = [
                "apps",
                group.app_id.as_str(),
                "groups",
                group.group_id.as_str(),
            ];
            let g: Group = client.call(Method::GET, &path, &[], NO_BODY).await?;
            Ok(Output::new(group_details(&g), &g))
        }
        GroupCommand::Versions(args) => crate::rollout::versions(client, &args).await,
        GroupCommand::Events(args) => crate::rollout::events(client, &args).await,
        GroupCommand::CheckIns(args) => crate::rollout::check_ins(client, &args).await,
        GroupCommand::ClearRetry { group, client_id } => {
            let path = [
                "apps",
                group.app_id.as_str(),
                "groups",
                group.group_id.as_str(),
                "retry",
            ];
            let query: Vec<(&str, String)> =
                client_id.iter().map(|c| ("clientId", c.clone())).collect();
            let cleared: RetryCleared = client.call(Method::DELETE, &path, &query, NO_BODY).await?;
            let line = match &client_id {
                Some(c) => format!("retry delay of {c} cleared ({} cleared)", cleared.cleared),
                None => format!("retry delays cleared: {} instances", cleared.cleared),
            };
            Ok(Output::new(vec![line], &cleared))
        }
        GroupCommand::Instances(args) => crate::rollout::instances(client, &args).await,
        GroupCommand::Delete(group) => {
            let path = [
                "apps",
                group.app_id.as_str(),
                "groups",
                group.group_id.as_str(),
            ];
            Ok(one(client
                .call(Method::DELETE, &path, &[], NO_BODY)
                .await?))
        }
        GroupCommand::Pause(group) => Ok(one(modify(client, &group, &[], |g| {
            g.updates_paused = true
        })
        .await?)),
        GroupCommand::Unpause(group) => Ok(one(modify(client, &group, &[], |g| {
            g.updates_paused = false
        })
        .await?)),
        GroupCommand::Percent {
            group,
            update_percent,
        } => {
            let body = GroupPercent {
                app_id: group.app_id.clone(),
                id: group.group_id.clone(),
                update_percent,
                ..GroupPercent::default()
            };
            let path = [
                "apps",
                group.app_id.as_str(),
                "groups",
                group.group_id.as_str(),
            ];
            let set: GroupPercent = client.call(Method::POST, &path, &[], Some(&body)).await?;
            let mut lines = vec![format!("update percent set to {:.6}", set.update_percent)];
            if set.rollout_stopped {
                lines.push("the group's timed rollout was running: it is stopped now".to_owned());
            }
            Ok(Output::new(lines, &set))
        }
    }
}

/// The JSON keys of the extension flags given (sent even when 0 or false).
fn extra_keys(extra: &PolicyFlags) -> Vec<&'static str> {
    let given = [
        ("maxInFlight", extra.max_in_flight.is_some()),
        ("updateTimeout", extra.update_timeout.is_some()),
        (
            "failureThresholdCount",
            extra.failure_threshold_count.is_some(),
        ),
        (
            "failureThresholdPercent",
            extra.failure_threshold_percent.is_some(),
        ),
        ("failureWindow", extra.failure_window.is_some()),
        (
            "failureCountTimeouts",
            extra.failure_count_timeouts.is_some(),
        ),
        ("maintenanceTimeZone", extra.maintenance_time_zone.is_some()),
        ("maintenanceWindows", extra.maintenance_windows.is_some()),
        ("allowDowngrade", extra.allow_downgrade.is_some()),
        ("retryDelay", extra.retry_delay.is_some()),
        ("retryDelayMax", extra.retry_delay_max.is_some()),
    ];
    given
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(key, _)| key)
        .collect()
}

fn apply_extra(g: &mut Group, extra: PolicyFlags) {
    if let Some(v) = extra.max_in_flight {
        g.max_in_flight = v;
    }
    if let Some(v) = extra.update_timeout {
        g.update_timeout = v;
    }
    if let Some(v) = extra.failure_threshold_count {
        g.failure_threshold_count = v;
    }
    if let Some(v) = extra.failure_threshold_percent {
        g.failure_threshold_percent = v;
    }
    if let Some(v) = extra.failure_window {
        g.failure_window = v;
    }
    if let Some(v) = extra.failure_count_timeouts {
        g.failure_count_timeouts = v;
    }
    if let Some(v) = extra.maintenance_time_zone {
        g.maintenance_time_zone = v;
    }
    if let Some(v) = extra.maintenance_windows {
        g.maintenance_windows = v;
    }
    if let Some(v) = extra.allow_downgrade {
        g.allow_downgrade = v;
    }
    if let Some(v) = extra.retry_delay {
        g.retry_delay = v;
    }
    if let Some(v) = extra.retry_delay_max {
        g.retry_delay_max = v;
    }
}

/// `group show`: one `Field\tValue` line per policy field.
fn group_details(g: &Group) -> Vec<String> {
    let rows: [(&str, String); 23] = [
        ("Id", g.id.clone()),
        ("Label", g.label.clone()),
        ("App", g.app_id.clone()),
        ("Channel", g.channel_id.clone()),
        ("Updates Paused", g.updates_paused.to_string()),
        ("Auto Paused At", g.auto_paused_at.clone()),
        ("Percent", go_float(g.update_percent)),
        ("Rollout Active", g.rollout_active.to_string()),
        ("OEM Blacklist", g.oem_blacklist.clone()),
        ("Update Count", g.update_count.to_string()),
        ("Update Interval", g.update_interval.to_string()),
        ("Update Pooling", g.update_pooling.to_string()),
        ("Max In Flight", g.max_in_flight.to_string()),
        ("Update Timeout", g.update_timeout.to_string()),
        (
            "Failure Threshold Count",
            g.failure_threshold_count.to_string(),
        ),
        (
            "Failure Threshold Percent",
            go_float(g.failure_threshold_percent),
        ),
        ("Failure Window", g.failure_window.to_string()),
        (
            "Failure Count Timeouts",
            g.failure_count_timeouts.to_string(),
        ),
        ("Maintenance Time Zone", g.maintenance_time_zone.clone()),
        ("Maintenance Windows", g.maintenance_windows.clone()),
        ("Allow Downgrade", g.allow_downgrade.to_string()),
        ("Retry Delay", g.retry_delay.to_string()),
        ("Retry Delay Max", g.retry_delay_max.to_string()),
    ];
    std::iter::once("Field\tValue".to_owned())
        .chain(
            rows.into_iter()
                .map(|(name, value)| format!("{name}\t{value}")),
        )
        .collect()
}

async fn modify(
    client: &Client,
    group: &GroupRef,
    keep: &[&str],
    change: impl FnOnce(&mut Group),
) -> Result<Group, Error> {
    let path = [
        "apps",
        group.app_id.as_str(),
        "groups",
        group.group_id.as_str(),
    ];
    let mut current: Group = client.call(Method::GET, &path, &[], NO_BODY).await?;
    change(&mut current);
    let mut body = crate::client::omit_empty(
        serde_json::to_value(&current).unwrap_or(serde_json::Value::Null),
    );
    // Fields the operator set explicitly go out even when 0 (`--update-count=0`).
    if let (Some(map), serde_json::Value::Object(full)) = (
        body.as_object_mut(),
        serde_json::to_value(&current).unwrap_or_default(),
    ) {
        for key in keep {
            if let Some(value) = full.get(*key) {
                map.insert((*key).to_owned(), value.clone());
            }
        }
    }
    Ok(client
        .call_raw(Method::PATCH, &path, &[], Some(&body))
        .await?)
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The `--meta` file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Meta {
    metadata_size: String,
    metadata_signature_rsa: String,
}

/// Runs a `package` command. `package create` hashes the payload itself (fixing §11.2) and
/// uploads it to `/package-upload` unless `--url` says where it is hosted.
///
/// # Errors
/// The API's, the transport's, or reading the files.
pub async fn package(client: &Client, command: PackageCommand) -> Result<Output, Error> {
    let one = |p: Package| {
        Output::new(
            table(PACKAGE_HEADER, std::slice::from_ref(&p), package_row),
            &p,
        )
    };
    let one_arch = |p: Package| {
        Output::new(
            table(
                ARCH_PACKAGE_HEADER,
                std::slice::from_ref(&p),
                arch_package_row,
            ),
            &p,
        )
    };
    match command {
        PackageCommand::List { app_id } => {
            let list: PackageList = client.packages(&app_id).await?;
            Ok(Output::new(
                table(PACKAGE_HEADER, &list.items, package_row),
                &list.items,
            ))
        }
        PackageCommand::Create {
            bulk: Some(PackageCreateBulk::Bulk { dir, base_url }),
            ..
        } => crate::transfer::create_bulk(client, &dir, base_url.as_deref()).await,
        PackageCommand::Create {
            app_id,
            version,
            file,
            url,
            meta,
            release_notes,
            replace,
            arch,
            bulk: None,
        } => {
            // clap requires the three without a subcommand.
            let (app_id, version, file) = (
                app_id.unwrap_or_default(),
                version.unwrap_or_default(),
                file.unwrap_or_default(),
            );
            let (size, sha1_sum, sha256_sum) = file_sums(&file)?;
            let meta = match meta {
                Some(path) => {
                    serde_json::from_slice(&read(&path)?).map_err(|source| Error::Json {
                        url: path.display().to_string(),
                        source,
                    })?
                }
                None => Meta::default(),
            };
            let release_notes = match release_notes {
                Some(path) => String::from_utf8_lossy(&read(&path)?).into_owned(),
                None => String::new(),
            };
            let url = match url {
                Some(url) => url,
                None => {
                    let progress = crate::progress::Progress::bytes(
                        size.parse().ok(),
                        &file.display().to_string(),
                    );
                    let package = Some((app_id.as_str(), version.as_str()));
                    let uploaded = crate::client::upload_file(
                        client,
                        &file,
                        package,
                        arch.as_deref(),
                        &progress,
                    )
                    .await;
                    progress.finish();
                    uploaded?.url
                }
            };
            let body = Package {
                url,
                size,
                sha1_sum,
                sha256_sum,
                metadata_size: meta.metadata_size,
                metadata_signature_rsa: meta.metadata_signature_rsa,
                release_notes,
                ..Package::default()
            };
            if let Some(arch) = arch {
                let path = [
                    "apps",
                    app_id.as_str(),
                    "packages",
                    version.as_str(),
                    "arches",
                    arch.as_str(),
                ];
                return Ok(one_arch(
                    client.call(Method::PUT, &path, &[], Some(&body)).await?,
                ));
            }
            let path = ["apps", app_id.as_str(), "packages", version.as_str()];
            let method = if replace { Method::PATCH } else { Method::POST };
            Ok(one(client.call(method, &path, &[], Some(&body)).await?))
        }
        PackageCommand::AddFile {
            app_id,
            version,
            file,
            arch,
            upload,
        } => {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| {
                    Error::Invalid(format!("--file {} names no file", file.display()))
                })?;
            let (size, sha1_sum, sha256_sum) = file_sums(&file)?;
            let body = PackageFile {
                size,
                sha1_sum,
                sha256_sum,
                ..PackageFile::default()
            };
            let path = ["apps", &app_id, "packages", &version, "files", &name];
            let query = arch_query(arch.as_deref());
            let registered: PackageFile =
                client.call(Method::PUT, &path, &query, Some(&body)).await?;
            if upload {
                let progress =
                    crate::progress::Progress::bytes(registered.size.parse().ok(), &name);
                let uploaded = crate::client::upload_file(
                    client,
                    &file,
                    Some((&app_id, &version)),
                    arch.as_deref(),
                    &progress,
                )
                .await;
                progress.finish();
                uploaded?;
            }
            Ok(files_table(std::slice::from_ref(&registered)))
        }
        PackageCommand::Files {
            app_id,
            version,
            arch,
        } => {
            let path = ["apps", &app_id, "packages", &version, "files"];
            let list: PackageFileList = client
                .call(Method::GET, &path, &arch_query(arch.as_deref()), NO_BODY)
                .await?;
            Ok(files_table(&list.items))
        }
        PackageCommand::DeleteFile {
            app_id,
            version,
            name,
            arch,
        } => {
            let path = ["apps", &app_id, "packages", &version, "files", &name];
            let deleted: PackageFile = client
                .call(Method::DELETE, &path, &arch_query(arch.as_deref()), NO_BODY)
                .await?;
            Ok(Output::new(
                table(FILE_HEADER, std::slice::from_ref(&deleted), file_row),
                &deleted,
            ))
        }
        PackageCommand::Arches { app_id, version } => {
            let path = [
                "apps",
                app_id.as_str(),
                "packages",
                version.as_str(),
                "arches",
            ];
            let list: PackageList = client.call(Method::GET, &path, &[], NO_BODY).await?;
            Ok(Output::new(
                table(ARCH_PACKAGE_HEADER, &list.items, arch_package_row),
                &list.items,
            ))
        }
        PackageCommand::Download {
            app_id,
            version,
            min_version,
            dir,
        } => {
            let min_version = min_version
                .map(|v| {
                    semver::Version::parse(&v)
                        .map_err(|e| Error::Invalid(format!("--min-version {v:?}: {e}")))
                })
                .transpose()?;
            let filter = crate::transfer::DownloadFilter {
                app_id,
                version,
                min_version,
            };
            crate::transfer::download(client, &filter, &dir).await
        }
        PackageCommand::Upload {
            bulk: Some(PackageUploadBulk::Bulk { dir }),
            ..
        } => crate::transfer::upload_bulk(client, &dir).await,
        PackageCommand::Upload { file, bulk: None } => {
            crate::transfer::upload(client, &file.unwrap_or_default()).await
        }
        PackageCommand::Delete {
            app_id,
            version,
            arch: Some(arch),
        } => {
            let path = [
                "apps",
                app_id.as_str(),
                "packages",
                version.as_str(),
                "arches",
                arch.as_str(),
            ];
            Ok(one_arch(
                client.call(Method::DELETE, &path, &[], NO_BODY).await?,
            ))
        }
        PackageCommand::Delete {
            app_id,
            version,
            arch: None,
        } => {
            let path = ["apps", app_id.as_str(), "packages", version.as_str()];
            Ok(one(client
                .call(Method::DELETE, &path, &[], NO_BODY)
                .await?))
        }
    }
}

fn report_query(filter: &ReportFilter) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(app) = &filter.app_id {
        query.push(("appId", app.clone()));
    }
    if let Some(group) = &filter.group_id {
        query.push(("groupId", group.clone()));
    }
    if filter.start != 0 {
        query.push(("dateStart", filter.start.to_string()));
    }
    if filter.end != 0 {
        query.push(("dateEnd", filter.end.to_string()));
    }
    query
}

/// Runs `instance list-updates`: the latest state of each instance. The app filter is
/// sent whenever given (fixing §11.3).
///
/// # Errors
/// The API's or the transport's.
pub async fn list_updates(client: &Client, filter: &ReportFilter) -> Result<Output, Error> {
    let list: ClientUpdateList = client
        .call(
            Method::GET,
            &["clientupdates"],
            &report_query(filter),
            NO_BODY,
        )
        .await?;
    let rows = table(
        "AppID\tClientID\tVersion\tLastSeen\tGroup\tOEM",
        &list.items,
        |u| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                u.app_id, u.client_id, u.version, u.last_seen, u.group_id, u.oem
            )
        },
    );
    Ok(Output::new(rows, &list.items))
}

/// Runs `instance list-app-versions`: instance counts per app, group and version.
///
/// # Errors
/// The API's or the transport's.
pub async fn list_app_versions(client: &Client, filter: &ReportFilter) -> Result<Output, Error> {
    let list: AppVersionList = client
        .call(
            Method::GET,
            &["appversions"],
            &report_query(filter),
            NO_BODY,
        )
        .await?;
    let rows = table("AppID\tGroupID\tVersion\tClients", &list.items, |v| {
        format!("{}\t{}\t{}\t{}", v.app_id, v.group_id, v.version, v.count)
    });
    Ok(Output::new(rows, &list.items))
}

/// Runs `instance history`: an instance's events and grants, oldest first.
///
/// # Errors
/// The API's or the transport's.
pub async fn history(
    client: &Client,
    client_id: &str,
    app_id: Option<&str>,
    limit: u32,
) -> Result<Output, Error> {
    let mut query = vec![
        ("clientId", client_id.to_owned()),
        ("limit", limit.to_string()),
    ];
    if let Some(app) = app_id {
        query.push(("appId", app.to_owned()));
    }
    let history: ClientHistory = client
        .call(Method::GET, &["client", "history"], &query, NO_BODY)
        .await?;
    let rows = table(
        "Time\tKind\tGroup\tVersion\tEvent\tError\tTarget\tSource\tPrevious",
        &history.items,
        |h| {
            let event = if h.event_type.is_empty() {
                String::new()
            } else {
                update_api::api::event_label(&h.event_type, &h.event_result)
            };
            format!(
                "{}\t{}\t{}\t{}\t{event}\t{}\t{}\t{}\t{}",
                rfc3339(h.date_time),
                h.kind,
                h.group_id,
                h.version,
                error_text(&h.error_code, &h.error_name),
                h.target_version,
                h.install_source,
                h.previous_version
            )
        },
    );
    Ok(Output::new(rows, &history.items))
}

/// An error code with update_engine's name for it: `268437959 (HTTP 503)`.
fn error_text(code: &str, name: &str) -> String {
    match (code.is_empty(), name.is_empty()) {
        (true, _) => String::new(),
        (false, true) => code.to_owned(),
        (false, false) => format!("{code} ({name})"),
    }
}

/// Runs `instance search`: instances matching the filters, most recently seen first.
///
/// # Errors
/// The API's or the transport's.
pub async fn search(client: &Client, args: &SearchArgs) -> Result<Output, Error> {
    let mut query = vec![
        ("limit", args.limit.to_string()),
        ("skip", args.skip.to_string()),
    ];
    let optional = [
        ("appId", &args.app_id),
        ("groupId", &args.group_id),
        ("idPrefix", &args.id_prefix),
        ("version", &args.version),
        ("status", &args.status),
        ("oem", &args.oem),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            query.push((key, value.clone()));
        }
    }
    let list: ClientUpdateList = client
        .call(Method::GET, &["instances"], &query, NO_BODY)
        .await?;
    let rows = table(
        "AppID\tClientID\tVersion\tStatus\tLastSeen\tGroup\tOEM\tError\tRetryUntil",
        &list.items,
        |u| {
            let error = if u.status == "error" {
                error_text(&u.error_code, &u.error_name)
            } else {
                String::new()
            };
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                u.app_id,
                u.client_id,
                u.version,
                u.status,
                u.last_seen,
                u.group_id,
                u.oem,
                error,
                u.retry_until
            )
        },
    );
    Ok(Output::new(rows, &list.items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_automatic_pause_shows_in_the_group_tables() {
        let mut g = Group {
            label: "L".into(),
            app_id: "a".into(),
            channel_id: "c".into(),
            id: "g".into(),
            update_percent: 100.0,
            ..Group::default()
        };
        let rows = |g: &Group| (group_row(g), group_rate_row(g));
        assert_eq!(rows(&g).0, "L\ta\tc\tg\tfalse\t100\tfalse");
        g.auto_paused_at = "2026-11-27T08:00:00Z".into();
        assert_eq!(rows(&g).0, "L\ta\tc\tg\tauto\t100\tfalse");
        assert_eq!(rows(&g).1, "L\ta\tc\tg\tauto\t0\t0");
        g.updates_paused = true;
        assert_eq!(
            rows(&g).0,
            "L\ta\tc\tg\ttrue\t100\tfalse",
            "an operator's pause first"
        );
    }
}
