//! The accept loop and the connections it serves.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
#[cfg(feature = "tls")]
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::body::{BoxError, GuardedBody};
use crate::io::TrackedIo;
use crate::log::RateLimited;
use crate::tracker::{watchdog, Activity, Admission, End, GuardStats, Tracker};

/// How connections are spoken to.
#[derive(Clone)]
pub enum Transport {
    /// Plain TCP, HTTP/1.1 only (cleartext HTTP/2 is refused: its first bytes are not a valid
    /// HTTP/1.1 request).
    Plain,
    /// TLS, then HTTP/2 when the client chose `h2` by ALPN and HTTP/1.1 otherwise. The handshake
    /// counts against [`crate::Limits::header_read_timeout`].
    #[cfg(feature = "tls")]
    Tls(tokio_rustls::TlsAcceptor),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Plain => f.write_str("Plain"),
            #[cfg(feature = "tls")]
            Transport::Tls(_) => f.write_str("Tls"),
        }
    }
}

/// What a service factory learns about a new connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionInfo {
    /// The client's address.
    pub peer: SocketAddr,
}

/// The accept backlog of [`bind`]: the kernel caps it at `net.core.somaxconn` (4096 by default
/// since Linux 5.4).
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `address` with `SO_REUSEADDR` and a [`LISTEN_BACKLOG`]-deep accept queue (the
/// standard library's is 1024 deep). A deep queue absorbs bursts of connections — an attacker
/// reconnecting as fast as connections are shed — without dropping a legitimate client's SYN
/// (which would cost it a one-second retransmission).
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    bind_with_backlog(address, LISTEN_BACKLOG)
}

/// [`bind`] with another accept backlog (0 queues a single connection: with it never accepted,
/// further connection attempts time out, as to a blackholed address).
pub fn bind_with_backlog(address: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(backlog)
}

/// How long [`serve`] waits, after `shutdown`, for requests in flight to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often connection counters (shed, timed out) are logged, when they changed.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// Serves `listener` until `shutdown` completes, then stops accepting, lets requests in flight
/// finish (at most 10 s) and returns. Dropping the future closes every connection at once.
///
/// `make_service` is called once per connection; its service gets each request with a
/// [`GuardedBody`]. The limits of `tracker` apply to every connection; several `serve` calls may
/// share one tracker (and so one cap). `accept` errors (such as `EMFILE`) are counted, logged at
/// most once per 10 s, and answered by shedding connections to free descriptors; connection counters
/// that changed are logged once per 10 s.
pub async fn serve<M, S, B>(
    listener: TcpListener,
    tracker: Tracker,
    transport: Transport,
    make_service: M,
    shutdown: impl Future<Output = ()>,
) where
    M: Fn(ConnectionInfo) -> S,
    S: hyper::service::Service<Request<GuardedBody>, Response = Response<B>>
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (stop, stopping) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let accept_log = RateLimited::new(REPORT_INTERVAL);
    let mut report = tokio::time::interval(REPORT_INTERVAL);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = tracker.stats();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = report.tick() => {
                reported = report_changes(&tracker, reported);
                continue;
            }
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracker.count_accept_error();
                let exhausted = matches!(
                    error.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                );
                if let Some(held_back) = accept_log.allow() {
                    tracing::warn!(
                        %error,
                        held_back,
                        "accept failed (logged at most once per 10 s; `held_back` more since the last line)"
                    );
                }
                if exhausted {
                    // Free a few descriptors (the oldest idle connections) and give their tasks a
                    // moment to close them; accepting again at once would fail the same way.
                    for _ in 0..4 {
                        if !tracker.shed_one() {
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                continue;
            }
        };
        let Some(admission) = tracker.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Wrapped at once: the tracker may now look into the socket, which is closed after the
        // tracker forgets it.
        let io = TrackedIo::new(stream, &admission, tracker.clone());
        let service = Arc::new(make_service(ConnectionInfo { peer }));
        let transport = transport.clone();
        let tracker = tracker.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            connection(io, admission, transport, service, tracker, stopping).await;
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    report_changes(&tracker, reported);
}

fn report_changes(tracker: &Tracker, before: GuardStats) -> GuardStats {
    let now = tracker.stats();
    let delta = |f: fn(&GuardStats) -> u64| f(&now).saturating_sub(f(&before));
    let shed = delta(|s| s.shed);
    let refused = delta(|s| s.refused_at_cap);
    let slow = delta(|s| s.closed_slow_head);
    let body = delta(|s| s.body_timeouts);
    let errors = delta(|s| s.accept_errors);
    if shed + refused + slow + body + errors > 0 {
        tracing::warn!(
            shed,
            refused_at_cap = refused,
            closed_slow_head = slow,
            body_timeouts = body,
            accept_errors = errors,
            open = now.open,
            max_connections = now.max_connections,
            "connections closed by the server's limits in the last interval"
        );
    }
    now
}

/// Marks a request in progress on its connection for as long as it lives.
struct InProgress {
    activity: Arc<Activity>,
    tracker: Tracker,
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.activity.request_finished(&self.tracker);
    }
}

async fn connection<S, B>(
    io: TrackedIo<TcpStream>,
    admission: Admission,
    transport: Transport,
    service: Arc<S>,
    tracker: Tracker,
    mut stopping: watch::Receiver<bool>,
) where
    S: hyper::service::Service<Request<GuardedBody>, Response = Response<B>>
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let activity = admission.activity.clone();
    let hyper_service = {
        let tracker = tracker.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            activity.request_started(&tracker);
            let in_progress = InProgress {
                activity: activity.clone(),
                tracker: tracker.clone(),
            };
            let request = request.map(|body| GuardedBody::new(body, tracker.clone(), &activity));
            let future = service.call(request);
            async move {
                let response = future.await;
                drop(in_progress);
                response
            }
        })
    };
    match transport {
        Transport::Plain => {
            let conn = http1_builder().serve_connection(TokioIo::new(io), hyper_service);
            drive(conn, Http1Graceful, &admission, &tracker, &mut stopping).await;
        }
        #[cfg(feature = "tls")]
        Transport::Tls(acceptor) => {
            let handshake = acceptor.accept(io);
            let tls = tokio::select! {
                tls = handshake => match tls {
                    Ok(tls) => tls,
                    Err(error) => {
                        tracing::debug!(%error, "TLS handshake failed");
                        return;
                    }
                },
                _ = watchdog(&admission, &tracker) => return,
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            if h2 {
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder
                    .timer(TokioTimer::new())
                    .max_concurrent_streams(64)
                    .max_header_list_size(64 * 1024);
                let conn = builder.serve_connection(TokioIo::new(tls), hyper_service);
                drive(conn, Http2Graceful, &admission, &tracker, &mut stopping).await;
            } else {
                let conn = http1_builder().serve_connection(TokioIo::new(tls), hyper_service);
                drive(conn, Http1Graceful, &admission, &tracker, &mut stopping).await;
            }
        }
    }
}

fn http1_builder() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The request head is bounded by `header_read_timeout` (our watchdog) and by hyper's
    // buffer limit (~400 KB) and header count (100).
    builder.keep_alive(true).max_buf_size(64 * 1024);
    builder
}

trait Graceful<C> {
    fn start(&self, conn: Pin<&mut C>);
}

struct Http1Graceful;
#[cfg(feature = "tls")]
struct Http2Graceful;

impl<I, S> Graceful<hyper::server::conn::http1::Connection<I, S>> for Http1Graceful
where
    S: hyper::service::HttpService<Incoming>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: 'static,
    <S::ResBody as http_body::Body>::Error: Into<BoxError>,
{
    fn start(&self, conn: Pin<&mut hyper::server::conn::http1::Connection<I, S>>) {
        conn.graceful_shutdown();
    }
}

#[cfg(feature = "tls")]
impl<I, S, E> Graceful<hyper::server::conn::http2::Connection<I, S, E>> for Http2Graceful
where
    S: hyper::service::HttpService<Incoming>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: 'static,
    <S::ResBody as http_body::Body>::Error: Into<BoxError>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn start(&self, conn: Pin<&mut hyper::server::conn::http2::Connection<I, S, E>>) {
        conn.graceful_shutdown();
    }
}

/// How long a request that arrived on a connection after it was shed, before its task could close
/// it, has for its body (already sent by then) before the connection is closed: the request is
/// answered if its body is complete by then.
const LATE_REQUEST_GRACE: Duration = Duration::from_millis(500);

/// The longest a shed connection stays open to answer the request it was shed with (it no
/// longer counts against the cap): closed then, answered or not (HTTP/2 clients may otherwise
/// go on opening streams after its GOAWAY).
const SHED_DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Runs a connection until it ends, the watchdog closes it, or the server stops (then
/// gracefully: requests in flight finish).
async fn drive<C, G>(
    conn: C,
    graceful: G,
    admission: &Admission,
    tracker: &Tracker,
    stopping: &mut watch::Receiver<bool>,
) where
    C: Future,
    G: Graceful<C>,
{
    tokio::pin!(conn);
    let mut shutting_down = *stopping.borrow();
    if shutting_down {
        graceful.start(conn.as_mut());
    }
    let watchdog = watchdog(admission, tracker);
    tokio::pin!(watchdog);
    let mut watching = true;
    // Once shed: the hard end of the connection (it no longer counts against the cap), and the
    // time a late request's body has.
    let drain = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(drain);
    let mut draining = false;
    let body_grace = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(body_grace);
    let mut awaiting_body = false;
    loop {
        tokio::select! {
            // The connection first: a request that arrived before the task ran (the server was
            // busy) starts, so that a shed seen in the same wake-up answers it before closing
            // instead of resetting it.
            biased;
            _ = conn.as_mut() => return,
            end = &mut watchdog, if watching => {
                let activity = &admission.activity;
                let late = end == End::Shed && activity.started_after_shed();
                if end == End::Shed && (activity.is_answering() || late) {
                    // Shed just as its request became complete, or with a request that arrived
                    // before the task could close it: answer it, then close, within
                    // SHED_DRAIN_LIMIT; the late one's body (already sent) has
                    // LATE_REQUEST_GRACE. (One shed while its body was arriving is closed at
                    // once: it holds a descriptor the cap no longer counts, and may be stalling.)
                    watching = false;
                    let now = tokio::time::Instant::now();
                    drain.as_mut().reset(now + SHED_DRAIN_LIMIT);
                    draining = true;
                    if activity.body_pending() {
                        body_grace.as_mut().reset(now + LATE_REQUEST_GRACE);
                        awaiting_body = true;
                    }
                    if !shutting_down {
                        shutting_down = true;
                        graceful.start(conn.as_mut());
                    }
                } else {
                    return;
                }
            }
            () = &mut drain, if draining => return,
            () = &mut body_grace, if awaiting_body => {
                if admission.activity.body_pending() {
                    return;
                }
                awaiting_body = false;
            }
            changed = stopping.changed(), if !shutting_down => {
                if changed.is_err() || *stopping.borrow() {
                    shutting_down = true;
                    graceful.start(conn.as_mut());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll};

    use crate::limits::Limits;

    /// A connection whose request arrived while its task was not running. Its first poll starts
    /// the request (as hyper does when it reads a head and calls the service) with its body
    /// pending; hyper hands the body over on a later poll of the same task (it wakes itself),
    /// when `body_arrives`. The connection ends once a graceful shutdown has begun (the answer
    /// written).
    struct Arrived {
        activity: Arc<Activity>,
        tracker: Tracker,
        polls: u32,
        body_arrives: bool,
        /// The service never answers.
        hangs: bool,
        graceful: Arc<AtomicBool>,
    }

    impl Arrived {
        fn new(admission: &Admission, tracker: &Tracker, body_arrives: bool) -> Self {
            Arrived {
                activity: admission.activity.clone(),
                tracker: tracker.clone(),
                polls: 0,
                body_arrives,
                hangs: false,
                graceful: Arc::new(AtomicBool::new(false)),
            }
        }

        fn start_request(&self) {
            self.activity.request_started(&self.tracker);
            self.activity.body_started();
        }
    }

    impl Future for Arrived {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let this = self.get_mut();
            this.polls += 1;
            if this.polls == 1 && this.activity.debug_busy() == 0 {
                this.start_request();
                cx.waker().wake_by_ref();
            } else if this.polls == 2 && this.body_arrives {
                this.activity.body_finished();
            }
            if !this.hangs && this.graceful.load(Ordering::Acquire) && this.activity.is_answering()
            {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    struct Answer;

    impl Graceful<Arrived> for Answer {
        fn start(&self, conn: Pin<&mut Arrived>) {
            conn.graceful.store(true, Ordering::Release);
        }
    }

    #[tokio::test]
    async fn a_request_that_arrived_before_its_shed_connection_ran_is_answered() {
        let tracker = Tracker::new(Limits::default());
        let (_stop, mut stopping) = watch::channel(false);
        let peer = std::net::IpAddr::from([127, 0, 0, 1]);
        // Each round: a connection shed before its task runs, its request (head and body)
        // already there. Were the watchdog polled first (an unbiased select: half the rounds),
        // or a body pending at the shed closed at once, it would close without answering.
        for round in 0..32 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let admission = tracker.admit(peer).unwrap();
            assert!(tracker.shed_one());
            let conn = Arrived::new(&admission, &tracker, true);
            let graceful = conn.graceful.clone();
            tokio::time::timeout(
                Duration::from_secs(5),
                drive(conn, Answer, &admission, &tracker, &mut stopping),
            )
            .await
            .unwrap_or_else(|_| panic!("round {round}: the connection hung"));
            assert!(
                graceful.load(Ordering::Acquire),
                "round {round}: the request was dropped, not answered"
            );
        }
    }

    #[tokio::test]
    async fn a_body_stalled_before_the_shed_closes_at_once_and_a_late_one_within_its_grace() {
        let tracker = Tracker::new(Limits::default());
        let (_stop, mut stopping) = watch::channel(false);
        let peer = std::net::IpAddr::from([127, 0, 0, 1]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        // A body stalling since before the shed: closed without an answer, at once.
        let admission = tracker.admit(peer).unwrap();
        let conn = Arrived::new(&admission, &tracker, false);
        conn.start_request();
        let graceful = conn.graceful.clone();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(tracker.shed_one());
        let started = std::time::Instant::now();
        drive(conn, Answer, &admission, &tracker, &mut stopping).await;
        assert!(!graceful.load(Ordering::Acquire));
        assert!(started.elapsed() < LATE_REQUEST_GRACE);
        // A request that arrived after the shed whose body never comes: closed when its grace
        // ends, unanswered.
        let admission = tracker.admit(peer).unwrap();
        assert!(tracker.shed_one());
        let conn = Arrived::new(&admission, &tracker, false);
        let started = std::time::Instant::now();
        tokio::time::timeout(
            Duration::from_secs(5),
            drive(conn, Answer, &admission, &tracker, &mut stopping),
        )
        .await
        .expect("closed when the grace ends");
        assert!(started.elapsed() >= LATE_REQUEST_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shed_connection_whose_answer_never_comes_closes_after_the_drain_limit() {
        let tracker = Tracker::new(Limits::default());
        let (_stop, mut stopping) = watch::channel(false);
        let admission = tracker
            .admit(std::net::IpAddr::from([127, 0, 0, 1]))
            .unwrap();
        assert!(tracker.shed_one());
        let mut conn = Arrived::new(&admission, &tracker, true);
        conn.hangs = true;
        let graceful = conn.graceful.clone();
        let started = tokio::time::Instant::now();
        tokio::time::timeout(
            SHED_DRAIN_LIMIT * 2,
            drive(conn, Answer, &admission, &tracker, &mut stopping),
        )
        .await
        .expect("a shed connection ends within its drain limit");
        assert!(
            graceful.load(Ordering::Acquire),
            "its request was being answered"
        );
        assert!(started.elapsed() >= SHED_DRAIN_LIMIT);
    }
}
