//! A TLS-terminating TCP proxy that breaks one exchange at a chosen point, for fault-injection
//! tests: clients speak TLS to it, it forwards the plaintext to a sandbox (or any plain HTTP
//! server), and the connection it is armed for fails exactly where and how it is told.
//!
//! - **Where** ([`StrikePoint`]): as soon as the TCP connection is accepted; after the client's
//!   first TLS record (its `ClientHello`) arrived, before any answer; after `k` plaintext bytes
//!   of the request reached the server; after `k` plaintext bytes of the response reached the
//!   client. `k` runs over every offset, from 0 to the last byte and just after it.
//! - **How** ([`StrikeKind`]): a reset (RST), a close without TLS `close_notify`, a clean TLS
//!   close, a garbage TLS record, a stall (nothing more is forwarded; the connection stays open),
//!   or a trickle (the rest is forwarded one byte at a time).
//!
//! Each armed strike applies to the next connection the proxy accepts; later connections are
//! forwarded untouched, so a client that retries or fails over reaches the server. After a
//! strike the proxy keeps the server's side open for a while (and drains it), as a real network
//! does when the client's side breaks: a request that reached the server whole is acted on.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use agora_link_sandbox::{FaultProxy, Sandbox, Strike, StrikeKind, StrikePoint, TlsIdentity};
//! let sandbox = Sandbox::builder().start().await?;
//! let (identity, ca_pem) = TlsIdentity::generate_for(&["api.sd-rtn.com"])?;
//! let proxy = FaultProxy::start(sandbox.address(), &identity).await?;
//! proxy.arm(Strike::new(StrikePoint::Request(120), StrikeKind::Garbage));
//! // Point a client at https://api.sd-rtn.com resolved to proxy.address(), trusting ca_pem.
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::tls::TlsIdentity;

/// Where a strike breaks the exchange. Byte offsets count plaintext bytes of one connection,
/// from its first request byte (or first response byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrikePoint {
    /// Right after the TCP connection is accepted, before any byte is read or written.
    Accept,
    /// After the client's first TLS record (its `ClientHello`) arrived, before any answer.
    AfterClientHello,
    /// After `k` bytes of the request were forwarded to the server (0: the handshake completed,
    /// nothing of the request forwarded).
    Request(usize),
    /// After `k` bytes of the response were forwarded to the client (the whole request reached
    /// the server).
    Response(usize),
}

/// How a strike breaks the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrikeKind {
    /// A TCP reset (`SO_LINGER` 0, then close).
    Reset,
    /// A TCP close (FIN) without the TLS `close_notify` alert: a truncation.
    Close,
    /// A clean TLS close: `close_notify`, then FIN.
    CloseNotify,
    /// A TLS application-data record of garbage (it fails to decrypt), then the connection is
    /// held open.
    Garbage,
    /// Nothing more is forwarded in either direction; the connection stays open until the client
    /// closes it (or for at most [`FaultProxy::HOLD`]).
    Stall,
    /// The rest of this direction is forwarded one byte at a time, this long apart.
    Trickle(Duration),
}

/// A strike: where and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strike {
    /// Where the exchange breaks.
    pub point: StrikePoint,
    /// How it breaks.
    pub kind: StrikeKind,
}

impl Strike {
    /// A strike at `point` of kind `kind`.
    pub fn new(point: StrikePoint, kind: StrikeKind) -> Self {
        Self { point, kind }
    }
}

/// A strike as the admin API takes it (`POST /_sandbox/fault-proxy/arm`), for tests in other
/// languages: `{"point": "accept" | "client-hello" | "request" | "response", "offset": k,
/// "kind": "reset" | "close" | "close-notify" | "garbage" | "stall" | "trickle",
/// "trickleMicros": n}` (`offset` for `request` and `response` only, default 0; `trickleMicros`
/// for `trickle` only, default 500).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StrikeSpec {
    point: String,
    #[serde(default)]
    offset: usize,
    kind: String,
    #[serde(default)]
    trickle_micros: Option<u64>,
}

impl StrikeSpec {
    /// The strike, or what is wrong with the spec.
    pub(crate) fn strike(&self) -> Result<Strike, String> {
        let point = match self.point.as_str() {
            "accept" => StrikePoint::Accept,
            "client-hello" => StrikePoint::AfterClientHello,
            "request" => StrikePoint::Request(self.offset),
            "response" => StrikePoint::Response(self.offset),
            _ => return Err("point must be accept, client-hello, request or response".to_owned()),
        };
        let kind = match self.kind.as_str() {
            "reset" => StrikeKind::Reset,
            "close" => StrikeKind::Close,
            "close-notify" => StrikeKind::CloseNotify,
            "garbage" => StrikeKind::Garbage,
            "stall" => StrikeKind::Stall,
            "trickle" => StrikeKind::Trickle(Duration::from_micros(
                self.trickle_micros.unwrap_or(500).min(1_000_000),
            )),
            _ => {
                return Err(
                    "kind must be reset, close, close-notify, garbage, stall or trickle".to_owned(),
                )
            }
        };
        Ok(Strike::new(point, kind))
    }
}

/// Per-connection byte counts, for measuring an exchange before enumerating its offsets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionBytes {
    /// The connection's number, in the order the proxy accepted them (from 0).
    pub connection: u64,
    /// Plaintext bytes forwarded from the client to the server.
    pub request: usize,
    /// Plaintext bytes forwarded from the server to the client.
    pub response: usize,
}

#[derive(Debug, Default)]
struct Shared {
    armed: Mutex<Option<Strike>>,
    struck: AtomicBool,
    accepted: AtomicU64,
    bytes: Mutex<Vec<ConnectionBytes>>,
    /// The connections' tasks (and their server-side drains), for `abort_connections`.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Shared {
    fn track(&self, task: tokio::task::AbortHandle) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }
}

/// The proxy: see the module documentation. Dropping it stops accepting; connections already
/// accepted end on their own (bounded by [`FaultProxy::HOLD`]).
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// The longest a stalled or struck connection is held open (30 s).
    pub const HOLD: Duration = Duration::from_secs(30);

    /// Starts a proxy on an ephemeral loopback port that terminates TLS with `identity` (HTTP/1.1
    /// only) and forwards to the plain TCP server at `upstream`.
    ///
    /// # Errors
    /// The identity's PEM does not parse, or no loopback port can be bound.
    pub async fn start(upstream: SocketAddr, identity: &TlsIdentity) -> std::io::Result<Self> {
        let acceptor = crate::tls::tls_acceptor_with_alpn(identity, &[b"http/1.1"])?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(accept_loop(listener, acceptor, upstream, shared.clone()));
        Ok(Self {
            address,
            shared,
            task,
        })
    }

    /// The address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Arms `strike` for the next connection accepted (replacing one armed before).
    pub fn arm(&self, strike: Strike) {
        if let Ok(mut armed) = self.shared.armed.lock() {
            self.shared.struck.store(false, Ordering::Release);
            *armed = Some(strike);
        }
    }

    /// `true` once the strike armed last was applied to a connection (a strike at an offset past
    /// the end of the exchange never fires).
    pub fn struck(&self) -> bool {
        self.shared.struck.load(Ordering::Acquire)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Acquire)
    }

    /// Ends every connection accepted so far at once (the client's and the server's side),
    /// stalled, trickling and draining ones included, so that nothing of one test point reaches
    /// the server during the next.
    pub fn abort_connections(&self) {
        if let Ok(mut tasks) = self.shared.tasks.lock() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }

    /// The plaintext bytes forwarded on each connection that has ended, in the order they ended.
    pub fn connection_bytes(&self) -> Vec<ConnectionBytes> {
        self.shared
            .bytes
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default()
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: SocketAddr,
    shared: Arc<Shared>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let connection = shared.accepted.fetch_add(1, Ordering::AcqRel);
        let strike = shared.armed.lock().ok().and_then(|mut a| a.take());
        let acceptor = acceptor.clone();
        let task_shared = shared.clone();
        let task = tokio::spawn(async move {
            let _ = tokio::time::timeout(
                FaultProxy::HOLD,
                serve(stream, acceptor, upstream, strike, connection, &task_shared),
            )
            .await;
        });
        shared.track(task.abort_handle());
    }
}

/// A TLS record that cannot decrypt: application data, 32 bytes of 0xA5.
fn garbage_record() -> Vec<u8> {
    let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x20];
    record.extend_from_slice(&[0xA5; 32]);
    record
}

/// Resets `stream` (linger 0, then close).
// `set_linger` is deprecated because a non-zero linger blocks the closing thread; a zero linger
// does not block (the kernel sends RST at once), which is the point here.
#[allow(deprecated)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Reads `stream` until the peer closes it or [`FaultProxy::HOLD`] passes.
async fn hold<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) {
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(FaultProxy::HOLD, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// A strike before TLS: on the raw TCP stream.
async fn strike_raw(mut stream: TcpStream, kind: StrikeKind) {
    match kind {
        StrikeKind::Reset => reset(stream),
        StrikeKind::Close | StrikeKind::CloseNotify => {
            let _ = stream.shutdown().await;
            hold(&mut stream).await;
        }
        StrikeKind::Garbage => {
            let _ = stream.write_all(&garbage_record()).await;
            hold(&mut stream).await;
        }
        StrikeKind::Stall | StrikeKind::Trickle(_) => hold(&mut stream).await,
    }
}

/// Reads one whole TLS record from `stream` (the client's first flight).
async fn read_record(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).await?;
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(())
}

/// Drains the server's side for a while after a strike, as a network would leave it: a request
/// that reached the server whole is still acted on.
fn drain_upstream(mut upstream: TcpStream, shared: &Shared) {
    let task = tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), hold(&mut upstream)).await;
    });
    shared.track(task.abort_handle());
}

async fn serve(
    mut stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: SocketAddr,
    strike: Option<Strike>,
    connection: u64,
    shared: &Shared,
) {
    let _ = stream.set_nodelay(true);
    match strike {
        Some(s) if s.point == StrikePoint::Accept => {
            shared.struck.store(true, Ordering::Release);
            return strike_raw(stream, s.kind).await;
        }
        Some(s) if s.point == StrikePoint::AfterClientHello => {
            if read_record(&mut stream).await.is_err() {
                return;
            }
            shared.struck.store(true, Ordering::Release);
            return strike_raw(stream, s.kind).await;
        }
        _ => {}
    }
    let Ok(mut tls) = acceptor.accept(stream).await else {
        return;
    };
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let mut counts = ConnectionBytes {
        connection,
        ..ConnectionBytes::default()
    };
    let (mut to_client, mut to_server) = ([0u8; 16384], [0u8; 16384]);
    // The offset in each direction after which the strike applies (None: not in that direction).
    let (request_at, response_at) = match strike.map(|s| s.point) {
        Some(StrikePoint::Request(k)) => (Some(k), None),
        Some(StrikePoint::Response(k)) => (None, Some(k)),
        _ => (None, None),
    };
    let kind = strike.map(|s| s.kind);
    let trickle = match kind {
        Some(StrikeKind::Trickle(gap)) => Some(gap),
        _ => None,
    };
    // Whether the server has begun to answer (a response strike at 0 waits for it).
    let mut answering = false;
    loop {
        // A strike due at the current offset (k may be 0: before any byte).
        let due = request_at.is_some_and(|k| counts.request >= k)
            || response_at.is_some_and(|k| answering && counts.response >= k);
        if due && trickle.is_none() {
            shared.struck.store(true, Ordering::Release);
            let kind = kind.unwrap_or(StrikeKind::Reset);
            record(shared, counts);
            return strike_tls(tls, server, kind, shared).await;
        }
        tokio::select! {
            read = tls.read(&mut to_server) => {
                let n = match read { Ok(0) | Err(_) => break, Ok(n) => n };
                let take = request_at.filter(|_| trickle.is_none())
                    .map_or(n, |k| n.min(k.saturating_sub(counts.request)));
                if request_at.is_some_and(|k| counts.request >= k) {
                    if let Some(gap) = trickle {
                        shared.struck.store(true, Ordering::Release);
                        if trickle_bytes(&mut server, &to_server[..n], gap).await.is_err() {
                            break;
                        }
                        counts.request += n;
                        continue;
                    }
                }
                if server.write_all(&to_server[..take]).await.is_err() {
                    break;
                }
                counts.request += take;
                if take < n {
                    // The rest of this read stays unsent: the strike is due now.
                    continue;
                }
            }
            read = server.read(&mut to_client) => {
                let n = match read { Ok(0) | Err(_) => break, Ok(n) => n };
                answering = true;
                if response_at.is_some_and(|k| counts.response + n >= k) && trickle.is_none() {
                    let k = response_at.unwrap_or(0);
                    let take = k.saturating_sub(counts.response);
                    if tls.write_all(&to_client[..take]).await.is_err() || tls.flush().await.is_err() {
                        break;
                    }
                    counts.response += take;
                    continue;
                }
                if let (Some(gap), Some(k)) = (trickle, response_at) {
                    if counts.response + n > k {
                        shared.struck.store(true, Ordering::Release);
                        let head = k.saturating_sub(counts.response).min(n);
                        if tls.write_all(&to_client[..head]).await.is_err() {
                            break;
                        }
                        if trickle_bytes(&mut tls, &to_client[head..n], gap).await.is_err() {
                            break;
                        }
                        counts.response += n;
                        continue;
                    }
                }
                if tls.write_all(&to_client[..n]).await.is_err() || tls.flush().await.is_err() {
                    break;
                }
                counts.response += n;
            }
        }
    }
    record(shared, counts);
}

fn record(shared: &Shared, counts: ConnectionBytes) {
    if let Ok(mut bytes) = shared.bytes.lock() {
        if bytes.len() < 10_000 {
            bytes.push(counts);
        }
    }
}

async fn trickle_bytes<W: tokio::io::AsyncWrite + Unpin>(
    out: &mut W,
    bytes: &[u8],
    gap: Duration,
) -> std::io::Result<()> {
    for byte in bytes {
        out.write_all(std::slice::from_ref(byte)).await?;
        out.flush().await?;
        tokio::time::sleep(gap).await;
    }
    Ok(())
}

async fn strike_tls(
    mut tls: tokio_rustls::server::TlsStream<TcpStream>,
    server: TcpStream,
    kind: StrikeKind,
    shared: &Shared,
) {
    drain_upstream(server, shared);
    match kind {
        StrikeKind::Reset => reset(tls.into_inner().0),
        StrikeKind::Close => {
            let (mut tcp, _) = tls.into_inner();
            let _ = tcp.shutdown().await;
            hold(&mut tcp).await;
        }
        StrikeKind::CloseNotify => {
            let _ = tls.shutdown().await;
            hold(&mut tls).await;
        }
        StrikeKind::Garbage => {
            let _ = tls.get_mut().0.write_all(&garbage_record()).await;
            hold(&mut tls).await;
        }
        StrikeKind::Stall | StrikeKind::Trickle(_) => hold(&mut tls).await,
    }
}
