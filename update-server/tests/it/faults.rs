//! Faults below the server: a disk that fills up, a database that stops answering. Requests
//! fail fast and clearly while the fault lasts, `/readyz` says not-ready, and the server
//! recovers by itself once the fault is gone, with no restart.

use crate::processes::ServerProcess;
use crate::support::{self, APP};
use omaha_proto::codes::{EventResult, EventType};
use omaha_proto::request::{App, Event, Os};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use update_server::policy::GroupPolicy;

/// An update check of a new instance carrying an event (download started): it always goes
/// through the writer and writes a history row.
fn check_with_event(machine: &str) -> Vec<u8> {
    omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(
        App::new(APP, "1.0.0")
            .with_track("stable")
            .with_machine_id(machine)
            .with_event(Event::new(
                EventType::UpdateDownloadStarted,
                EventResult::Success,
            ))
            .with_update_check(None),
    )
    .encode()
}

async fn post_check(client: &reqwest::Client, addr: SocketAddr, machine: &str) -> u16 {
    match client
        .post(format!("http://{addr}/v1/update/"))
        .body(check_with_event(machine))
        .timeout(Duration::from_secs(20))
        .send()
        .await
    {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

async fn ready(client: &reqwest::Client, addr: SocketAddr) -> u16 {
    client
        .get(format!("http://{addr}/readyz"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Once the fault is gone: how long until a check with an event succeeds and `/readyz` is
/// ready (at most `limit`), then how many of `then` further checks failed.
async fn recovery(
    client: &reqwest::Client,
    addr: SocketAddr,
    limit: Duration,
    then: usize,
) -> (Duration, usize) {
    let back = Instant::now();
    let mut i = 0;
    let recovered = loop {
        i += 1;
        if post_check(client, addr, &format!("after-{i}")).await == 200
            && ready(client, addr).await == 200
        {
            break back.elapsed();
        }
        assert!(back.elapsed() < limit, "not recovered within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut failed = 0;
    for j in 0..then {
        if post_check(client, addr, &format!("settled-{j}")).await != 200 {
            failed += 1;
        }
    }
    (recovered, failed)
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` bytes, or says why it cannot.
    fn mount(size: u64) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system holding `dir` with one file until the disk is full; returns it.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if file.write_all(&block).is_err() {
            break;
        }
    }
    // The last bytes too, a small write at a time.
    while file.write_all(&[0u8; 512]).is_ok() {}
    let _ = file.flush();
    path
}

/// SQLite on a disk that fills up: update checks with events fail (500) and `/readyz`
/// turns not-ready; once space returns, within 5 s every request succeeds and `/readyz` is
/// ready again, with no restart.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_recovers_from_a_full_disk() {
    let tmpfs = match Tmpfs::mount(16 * 1024 * 1024) {
        Ok(tmpfs) => tmpfs,
        Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: no tmpfs for the full-disk test ({why})");
            return;
        }
        Err(why) => panic!("CI must run the full-disk test: {why}"),
    };
    let data = tmpfs.path().join("data");
    std::fs::create_dir(&data).unwrap();
    {
        let store = update_server::store::SqliteStore::open(&data.join("update-server.sqlite3"))
            .await
            .unwrap();
        support::populate(&store, &GroupPolicy::default()).await;
    }
    let server = ServerProcess::start(&["--data-dir", data.to_str().unwrap()]).await;
    let addr = server.addr;
    let client = reqwest::Client::new();
    for i in 0..20 {
        assert_eq!(post_check(&client, addr, &format!("before-{i}")).await, 200);
    }
    assert_eq!(ready(&client, addr).await, 200);

    let filler = fill(tmpfs.path());
    // Enough new instances and events to need new pages, which the disk no longer has.
    let mut failed = 0;
    let mut statuses = Vec::new();
    for i in 0..400 {
        let status = post_check(&client, addr, &format!("full-{i}")).await;
        if status != 200 {
            failed += 1;
            statuses.push(status);
        }
        if failed >= 20 {
            break;
        }
    }
    assert!(failed >= 20, "the full disk failed only {failed} requests");
    assert!(
        statuses.iter().all(|&s| s == 500 || s == 503),
        "failures answered {statuses:?}"
    );
    assert_eq!(
        ready(&client, addr).await,
        503,
        "/readyz said ready on a full disk"
    );

    std::fs::remove_file(&filler).unwrap();
    // Within 5 s of space returning, every request succeeds.
    let (recovered, failed_after) = recovery(&client, addr, Duration::from_secs(5), 200).await;
    eprintln!("recovered {recovered:?} after space returned; {failed_after} of 200 failed after");
    assert_eq!(failed_after, 0, "requests failed after recovery");
    server.kill().await;
}

/// A TCP proxy to PostgreSQL that can stall: while stalled it keeps every connection open
/// and reads what arrives, but forwards nothing, in either direction (a silent partition).
struct StallingProxy {
    addr: SocketAddr,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl StallingProxy {
    async fn start(upstream: SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stalled.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                for (mut from, mut to) in [(in_read, out_write), (out_read, in_write)]
                    .map(|(r, w)| {
                        (
                            Box::new(r) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                            w,
                        )
                    })
                    .map(|(r, w)| {
                        (
                            r,
                            Box::new(w) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
                        )
                    })
                {
                    let flag = flag.clone();
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match from.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            while flag.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            if to.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown().await;
                    });
                }
            }
        });
        Self {
            addr,
            stalled,
            task,
        }
    }

    fn stall(&self, on: bool) {
        self.stalled.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.stall(false);
        self.task.abort();
    }
}

/// PostgreSQL behind a proxy that stops answering: update checks that need the database
/// fail with 503 within the configured timeout (2 s here) instead of hanging, `/readyz`
/// says not-ready, and once the database answers again every request succeeds, with no
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_that_stops_answering_fails_fast_and_recovers() {
    let Some((schema, store)) = support::postgres().await else {
        return;
    };
    support::populate(&store, &GroupPolicy::default()).await;
    let options: sqlx::postgres::PgConnectOptions = schema.url.parse().unwrap();
    let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = StallingProxy::start(upstream).await;
    let url = {
        let mut url = reqwest::Url::parse(&schema.url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(proxy.addr.port())).unwrap();
        url.to_string()
    };
    let server = ServerProcess::start(&[
        "--database-url",
        &url,
        "--database-timeout",
        "2",
        "--database-acquire-timeout",
        "2",
        "--admin-key",
        support::ADMIN_KEY,
    ])
    .await;
    let addr = server.addr;
    let client = reqwest::Client::new();
    let list_apps = || {
        client
            .get(format!("http://{addr}/_ah/api/update/v1/apps"))
            .basic_auth("admin", Some(support::ADMIN_KEY))
            .timeout(Duration::from_secs(20))
            .send()
    };
    for i in 0..20 {
        assert_eq!(post_check(&client, addr, &format!("before-{i}")).await, 200);
    }
    assert_eq!(ready(&client, addr).await, 200);
    assert_eq!(list_apps().await.unwrap().status(), 200);

    proxy.stall(true);
    let stalled_at = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let status = post_check(&client, addr, &format!("stalled-{i}")).await;
                (status, started.elapsed())
            })
        })
        .collect();
    for task in tasks {
        let (status, took) = task.await.unwrap();
        assert_eq!(status, 503, "a request during the stall answered {status}");
        assert!(
            took < Duration::from_millis(3500),
            "a request during the stall took {took:?} (timeout 2 s)"
        );
    }
    let probe = Instant::now();
    assert_eq!(ready(&client, addr).await, 503, "/readyz said ready");
    assert!(probe.elapsed() < Duration::from_secs(4));
    // A read of the admin API is answered 503 within the timeouts (2 s + 2 s) as well.
    let probe = Instant::now();
    let response = list_apps().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(
        probe.elapsed() < Duration::from_millis(5500),
        "{:?}",
        probe.elapsed()
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("the database is unavailable"), "{body}");
    eprintln!("stalled for {:?}", stalled_at.elapsed());

    proxy.stall(false);
    let (recovered, failed_after) = recovery(&client, addr, Duration::from_secs(10), 100).await;
    eprintln!(
        "recovered {recovered:?} after the database answered again; {failed_after} of 100 \
         failed after"
    );
    assert_eq!(failed_after, 0, "requests failed after recovery");
    assert_eq!(list_apps().await.unwrap().status(), 200);
    server.kill().await;
    drop(proxy);
    schema.drop().await;
}
