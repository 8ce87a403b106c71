//! Connections: how many, and for how long, a client may hold.
//!
//! The Omaha endpoint faces whole fleets without authentication, so no connection may hold
//! the server's resources without bounds. Every connection is served by this module's
//! accept loop (HTTP/1.1, hyper), under four limits ([`ConnectionLimits`]):
//!
//! | limit | default | when it is hit |
//! |---|---|---|
//! | `max_connections` | 10,000 (at most the open-file limit less 256) | the new connection is closed at once, before a byte is read; counted in `update_server_connections_refused_total` |
//! | `header_read_timeout` | 10 s | a request head (request line and headers) not complete this long after its first byte arrived: the connection is closed; slow-header clients (one byte a second) cannot hold a connection |
//! | `idle_timeout` | 60 s | a connection with no request in flight that moved no byte this long is closed: a keep-alive connection waiting for its next request, a connection that never sent a byte, a response the client stopped reading |
//! | `body_timeout` | 30 s | a request body not complete this long after its head arrived fails the request (the handler sees a body error: 400 for the Omaha endpoint). Payload uploads (`/package-upload`), which may be gigabytes, instead fail when no byte arrived for this long |
//!
//! The open-file soft limit is raised to the hard limit at start
//! ([`raise_open_file_limit`]), so that the connection limit, not the file descriptors,
//! is what a flood of connections meets.
//!
//! Shutdown stops accepting, asks every connection to close after its request in flight
//! (idle ones close at once), and waits until all of them have.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// The limits every connection is served under (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// How long a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// How long a connection may sit with no request in flight and no byte moving.
    pub idle_timeout: Duration,
    /// How long a request body may take (payload uploads: the longest pause in one).
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// File descriptors kept free of connections: the database, payload files, logs.
const RESERVED_FILES: u64 = 256;

/// Raises the process's open-file soft limit to its hard limit (where the platform has
/// one), and returns the soft limit in force afterwards (`None` where it cannot be read).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let (soft, hard) = rlimit::Resource::NOFILE.get().ok()?;
        if soft < hard {
            match rlimit::Resource::NOFILE.set(hard, hard) {
                Ok(()) => return Some(hard),
                Err(err) => {
                    tracing::warn!(soft, hard, error = %err, "cannot raise the open-file limit");
                }
            }
        }
        Some(soft)
    }
    #[cfg(not(unix))]
    None
}

/// The connection limit that fits the open-file limit: `wanted`, or less (with a warning)
/// when the process may not open that many files.
pub fn fit_to_open_files(wanted: usize, open_files: Option<u64>) -> usize {
    let Some(files) = open_files else {
        return wanted;
    };
    let room = usize::try_from(files.saturating_sub(RESERVED_FILES))
        .unwrap_or(usize::MAX)
        .max(1);
    if wanted > room {
        tracing::warn!(
            wanted,
            open_files = files,
            using = room,
            "the open-file limit allows fewer connections than --max-connections"
        );
        room
    } else {
        wanted
    }
}

/// Counters of what the limits did, for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
    idle_closed: AtomicU64,
    slow_heads: AtomicU64,
    body_timeouts: AtomicU64,
}

impl ConnectionStats {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed on arrival because `max_connections` were open.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connections closed by the idle timeout.
    pub fn idle_closed(&self) -> u64 {
        self.idle_closed.load(Ordering::Relaxed)
    }

    /// Connections closed because a request head did not arrive in time.
    pub fn slow_heads(&self) -> u64 {
        self.slow_heads.load(Ordering::Relaxed)
    }

    /// Request bodies that did not arrive in time.
    pub fn body_timeouts(&self) -> u64 {
        self.body_timeouts.load(Ordering::Relaxed)
    }
}

/// Something that accepts connections: a TCP listener or the TLS one.
pub trait Accept: Send + 'static {
    /// The connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Waits for the next connection. Errors are the listener's to log and retry; this
    /// returns only connections.
    fn accept(&mut self) -> impl Future<Output = (Self::Io, SocketAddr)> + Send;
}

impl Accept for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        loop {
            match tokio::net::TcpListener::accept(self).await {
                Ok((stream, peer)) => {
                    // Answers are small and latency matters more than packet count.
                    let _ = stream.set_nodelay(true);
                    return (stream, peer);
                }
                Err(err) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Serves `app` on the connections `listener` accepts, under `limits`, until `shutdown`
/// completes; then closes every connection after its request in flight and returns when
/// all are closed.
pub async fn serve<L: Accept>(
    mut listener: L,
    app: Router,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closing_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            drop(io);
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let (app, stats, closing) = (app.clone(), stats.clone(), closing_rx.clone());
        tokio::spawn(async move {
            serve_one(io, peer, app, limits, &stats, closing).await;
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a slot until it is closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// What the two connection timeouts watch: when a byte last moved, when the first byte of
/// a request head arrived, and the requests in flight.
#[derive(Debug)]
struct Activity {
    start: Instant,
    /// Milliseconds after `start` of the last byte read or written.
    last: AtomicU64,
    /// Milliseconds after `start` of the first byte read while no request was in flight
    /// (the start of a request head); [`NO_HEAD`] when none is pending.
    head: AtomicU64,
    in_flight: AtomicUsize,
    /// Wakes the watchdog when a request head starts (its deadline is sooner than the one
    /// it sleeps towards).
    head_started: Notify,
}

/// [`Activity::head`] when no request head is pending.
const NO_HEAD: u64 = u64::MAX;

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overstay {
    /// A request head took longer than the header-read timeout.
    SlowHead,
    /// Nothing moved for the idle timeout, with no request in flight.
    Idle,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            head: AtomicU64::new(NO_HEAD),
            in_flight: AtomicUsize::new(0),
            head_started: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    fn read(&self) {
        let now = self.now_ms();
        self.last.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            // The first byte of the next request head starts its clock.
            if self
                .head
                .compare_exchange(NO_HEAD, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                self.head_started.notify_one();
            }
        }
    }

    fn wrote(&self) {
        self.last.store(self.now_ms(), Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head.store(NO_HEAD, Ordering::Relaxed);
    }

    fn request_answered(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.wrote();
    }

    /// Completes when the connection overstays: a request head pending for longer than
    /// `header`, or nothing moving for `idle` while no request is in flight. A request in
    /// flight (its handler may take long) holds neither clock.
    async fn overstay(&self, header: Duration, idle: Duration) -> Overstay {
        loop {
            let now = Instant::now();
            let mut wake = now + idle;
            if self.in_flight.load(Ordering::Relaxed) == 0 {
                let head = self.head.load(Ordering::Relaxed);
                if head != NO_HEAD {
                    let deadline = self.at(head) + header;
                    if now >= deadline {
                        return Overstay::SlowHead;
                    }
                    wake = wake.min(deadline);
                }
                let deadline = self.at(self.last.load(Ordering::Relaxed)) + idle;
                if now >= deadline {
                    return Overstay::Idle;
                }
                wake = wake.min(deadline);
            }
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = self.head_started.notified() => {}
            }
        }
    }
}

async fn serve_one<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    stats: &Arc<ConnectionStats>,
    mut closing: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = Watched {
        inner: io,
        activity: activity.clone(),
    };
    let service = {
        let activity = activity.clone();
        let stats = stats.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let (app, activity, stats) = (app.clone(), activity.clone(), stats.clone());
            activity.request_started();
            request.extensions_mut().insert(ConnectInfo(peer));
            let mode = if request.uri().path() == UPLOAD_PATH {
                DeadlineMode::BetweenReads
            } else {
                DeadlineMode::Whole
            };
            let request = request
                .map(|body| Body::new(Deadline::new(body, limits.body_timeout, mode, stats)));
            async move {
                let response = app.oneshot(request).await;
                activity.request_answered();
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header-read timeout is the watchdog's (hyper's would also run while a
    // keep-alive connection waits for its next request, which the idle timeout governs).
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    let mut asked_to_close = *closing.borrow();
    if asked_to_close {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            changed = closing.changed(), if !asked_to_close => {
                asked_to_close = true;
                if changed.is_err() || *closing.borrow() {
                    connection.as_mut().graceful_shutdown();
                }
            }
            why = activity.overstay(limits.header_read_timeout, limits.idle_timeout) => {
                match why {
                    Overstay::SlowHead => &stats.slow_heads,
                    Overstay::Idle => &stats.idle_closed,
                }
                .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, ?why, "connection closed");
                return;
            }
        }
    }
}

/// The path whose bodies may be large: the deadline is on pauses, not on the whole body.
const UPLOAD_PATH: &str = "/package-upload";

/// A connection that records when a byte last moved.
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// How a body's deadline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeadlineMode {
    /// The whole body within the timeout.
    Whole,
    /// No pause between two reads longer than the timeout.
    BetweenReads,
}

/// The body timeout ([`ConnectionLimits::body_timeout`]): the body fails with
/// [`BodyTimeout`] when it is not complete in time.
struct Deadline {
    inner: Incoming,
    timeout: Duration,
    mode: DeadlineMode,
    sleep: Pin<Box<Sleep>>,
    stats: Arc<ConnectionStats>,
    expired: bool,
}

impl Deadline {
    fn new(
        inner: Incoming,
        timeout: Duration,
        mode: DeadlineMode,
        stats: Arc<ConnectionStats>,
    ) -> Self {
        Self {
            inner,
            timeout,
            mode,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            stats,
            expired: false,
        }
    }
}

/// A request body did not arrive within the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.expired {
            return Poll::Ready(Some(Err(BodyTimeout(self.timeout).into())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            if self.mode == DeadlineMode::BetweenReads {
                let next = Instant::now() + self.timeout;
                self.sleep.as_mut().reset(next);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        ready!(self.sleep.as_mut().poll(cx));
        self.expired = true;
        self.stats.body_timeouts.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Some(Err(BodyTimeout(self.timeout).into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_fits_the_open_files() {
        assert_eq!(fit_to_open_files(10_000, None), 10_000);
        assert_eq!(fit_to_open_files(10_000, Some(1024)), 768);
        assert_eq!(fit_to_open_files(100, Some(1024)), 100);
        assert_eq!(fit_to_open_files(100, Some(10)), 1);
    }
}
