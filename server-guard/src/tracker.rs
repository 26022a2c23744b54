//! The open connections: what each is doing, the cap, shedding, the counters, and the watchdog
//! that closes a connection when it is shed or past its deadline.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::limits::Limits;

/// What one connection is doing, updated by its I/O and its requests; times are milliseconds
/// since the tracker started, `0` meaning "none".
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Requests whose service future is running (HTTP/2 may have several).
    busy: AtomicU32,
    /// When the connection last became idle (accepted, or its last request answered).
    idle_since: AtomicU64,
    /// When the first byte of a request head arrived while idle (cleared when the head is
    /// complete and the request starts).
    head_since: AtomicU64,
    /// Requests started on this connection so far.
    requests: AtomicU64,
    /// When the latest request started (its head complete).
    request_since: AtomicU64,
    /// Requests whose body is still arriving.
    bodies_pending: AtomicU32,
    /// When the connection was last spared from shedding because its client had sent bytes the
    /// server had not read yet ([`Tracker::shed_one`]); its first head's shedding clock starts
    /// there (its deadline does not move).
    spared_since: AtomicU64,
    /// When the connection was shed (`0`: not shed).
    shed_at: AtomicU64,
    /// Woken when a request head starts on an idle connection (its deadline moves closer).
    pub(crate) changed: Notify,
}

/// Why a connection was closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Keep it; look again at this time (ms since the tracker started).
    KeepUntil(u64),
    /// No request for `idle_timeout`.
    Idle,
    /// A request head not finished within `header_read_timeout`.
    SlowHead,
}

/// Counters of a server's connections since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// The cap applied ([`Limits::effective_max_connections`]).
    pub max_connections: u64,
    /// Connections closed to make room for a new one (the oldest without a request in progress).
    pub shed: u64,
    /// New connections closed at once because the cap was reached and no open connection could
    /// be shed (every one being answered, or holding a request not read yet: spared).
    pub refused_at_cap: u64,
    /// Connections closed after `idle_timeout` without a request.
    pub closed_idle: u64,
    /// Connections closed because a request head took longer than `header_read_timeout`.
    pub closed_slow_head: u64,
    /// Request bodies that took longer than `body_read_timeout`.
    pub body_timeouts: u64,
    /// `accept` failures (for example `EMFILE`).
    pub accept_errors: u64,
}

struct Entry {
    activity: Arc<Activity>,
    kill: Arc<Notify>,
    peer: IpAddr,
    /// The connection's socket while it is open ([`SocketSlot`] clears it, under the lock,
    /// before the socket is closed): asked whether unread bytes wait in it before shedding.
    #[cfg(unix)]
    socket: Option<std::os::unix::io::RawFd>,
}

/// The open connections, and how many each peer address holds.
#[derive(Default)]
struct Open {
    connections: BTreeMap<u64, Entry>,
    per_peer: HashMap<IpAddr, u32>,
}

impl Open {
    fn insert(&mut self, id: u64, entry: Entry) {
        *self.per_peer.entry(entry.peer).or_default() += 1;
        self.connections.insert(id, entry);
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.connections.remove(&id)?;
        if let Some(count) = self.per_peer.get_mut(&entry.peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_peer.remove(&entry.peer);
            }
        }
        Some(entry)
    }
}

struct Inner {
    limits: Limits,
    cap: usize,
    started: Instant,
    next_id: AtomicU64,
    open: Mutex<Open>,
    accepted: AtomicU64,
    shed: AtomicU64,
    refused_at_cap: AtomicU64,
    closed_idle: AtomicU64,
    closed_slow_head: AtomicU64,
    body_timeouts: AtomicU64,
    accept_errors: AtomicU64,
}

/// The open connections of one server (or of several listeners sharing one cap): cheap to
/// clone, shared by every connection task.
#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("limits", &self.inner.limits)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The most connections [`Tracker::shed_one`] spares, because unread bytes wait in their
/// sockets, before it sheds the next most overdue one regardless (each costs an `ioctl`, under
/// the tracker's lock).
const MAX_SPARED_PER_SHED: usize = 8;

/// A connection admitted by [`Tracker::admit`]; dropping it removes the connection.
pub(crate) struct Admission {
    tracker: Tracker,
    id: u64,
    pub(crate) activity: Arc<Activity>,
    pub(crate) kill: Arc<Notify>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.tracker.lock().remove(self.id);
    }
}

impl Admission {
    /// Records the connection's socket, so that shedding can see whether its client has sent
    /// bytes the server has not read yet. The socket must outlive the returned slot: drop the
    /// slot first (it forgets the descriptor under the tracker's lock, so the descriptor is
    /// never asked about after it is closed and perhaps reused).
    #[cfg(unix)]
    pub(crate) fn attach_socket(&self, socket: std::os::unix::io::RawFd) -> SocketSlot {
        if let Some(entry) = self.tracker.lock().connections.get_mut(&self.id) {
            entry.socket = Some(socket);
        }
        SocketSlot {
            tracker: self.tracker.clone(),
            id: self.id,
        }
    }
}

/// A connection's socket recorded in its tracker entry ([`Admission::attach_socket`]);
/// dropping it forgets the socket. Drop it before the socket.
pub(crate) struct SocketSlot {
    tracker: Tracker,
    id: u64,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(entry) = self.tracker.lock().connections.get_mut(&self.id) {
            entry.socket = None;
        }
    }
}

/// Whether bytes the server has not read yet wait in `socket` (`FIONREAD`). A closed or
/// failed socket has none.
#[cfg(unix)]
fn has_unread_bytes(socket: std::os::unix::io::RawFd) -> bool {
    let mut unread: libc::c_int = 0;
    // SAFETY: `socket` is open (the caller holds the tracker's lock, and `SocketSlot` forgets it
    // under that lock before it is closed); FIONREAD writes one `c_int` into `unread`, which we own.
    let done = unsafe { libc::ioctl(socket, libc::FIONREAD, &mut unread as *mut libc::c_int) };
    done == 0 && unread > 0
}

/// A connection that does not speak HTTP through [`crate::serve`] (a WebSocket gateway reading
/// its own upgrade request, say), counted under the same cap and deadlines: report each read
/// that brought bytes ([`RawConnection::received`]), wait on [`RawConnection::closed`] beside
/// the reads, and hold [`RawConnection::start`]'s guard while the request is being served. Drop
/// it with the socket.
pub struct RawConnection {
    admission: Admission,
}

impl std::fmt::Debug for RawConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConnection")
            .field("id", &self.admission.id)
            .finish_non_exhaustive()
    }
}

/// A request in progress on a [`RawConnection`]: the connection is not shed while it lives.
pub struct RawRequest {
    activity: Arc<Activity>,
    tracker: Tracker,
}

impl std::fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequest").finish_non_exhaustive()
    }
}

impl Drop for RawRequest {
    fn drop(&mut self) {
        self.activity.request_finished(&self.tracker);
    }
}

impl RawConnection {
    /// Bytes arrived from the client.
    pub fn received(&self) {
        self.admission.activity.on_read(&self.admission.tracker);
    }

    /// The request is complete and being served: from now on the connection is neither shed nor
    /// timed out until the guard is dropped.
    pub fn start(&self) -> RawRequest {
        let tracker = self.admission.tracker.clone();
        self.admission.activity.request_started(&tracker);
        RawRequest {
            activity: self.admission.activity.clone(),
            tracker,
        }
    }

    /// Completes when the connection is to be closed: shed to make room, or past its head or
    /// idle deadline.
    pub async fn closed(&self) {
        let _ = watchdog(&self.admission, &self.admission.tracker).await;
    }
}

impl Tracker {
    /// Admits a non-HTTP connection just accepted from `peer` under this tracker's cap (shedding
    /// one when it is reached); `None` when every connection is being served (close it then).
    pub fn admit_raw(&self, peer: IpAddr) -> Option<RawConnection> {
        self.admit(peer)
            .map(|admission| RawConnection { admission })
    }

    /// A tracker applying `limits`; the cap is computed now
    /// ([`Limits::effective_max_connections`]), so raise the descriptor limit first.
    pub fn new(limits: Limits) -> Self {
        let cap = limits.effective_max_connections();
        Tracker {
            inner: Arc::new(Inner {
                limits,
                cap,
                started: Instant::now(),
                next_id: AtomicU64::new(1),
                open: Mutex::new(Open::default()),
                accepted: AtomicU64::new(0),
                shed: AtomicU64::new(0),
                refused_at_cap: AtomicU64::new(0),
                closed_idle: AtomicU64::new(0),
                closed_slow_head: AtomicU64::new(0),
                body_timeouts: AtomicU64::new(0),
                accept_errors: AtomicU64::new(0),
            }),
        }
    }

    /// The limits applied.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The counters so far.
    pub fn stats(&self) -> GuardStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let inner = &self.inner;
        GuardStats {
            accepted: load(&inner.accepted),
            open: self.lock().connections.len() as u64,
            max_connections: inner.cap as u64,
            shed: load(&inner.shed),
            refused_at_cap: load(&inner.refused_at_cap),
            closed_idle: load(&inner.closed_idle),
            closed_slow_head: load(&inner.closed_slow_head),
            body_timeouts: load(&inner.body_timeouts),
            accept_errors: load(&inner.accept_errors),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.inner
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Milliseconds since the tracker started (at least 1, so that 0 can mean "none").
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    pub(crate) fn instant_at(&self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.inner.started) + Duration::from_millis(ms)
    }

    /// Admits a connection just accepted from `peer`, shedding one when the cap is reached
    /// ([`Tracker::shed_one`]); `None` when every open connection is being answered (the new one
    /// is then to be closed).
    pub(crate) fn admit(&self, peer: IpAddr) -> Option<Admission> {
        self.inner.accepted.fetch_add(1, Ordering::Relaxed);
        let mut open = self.lock();
        while open.connections.len() >= self.inner.cap {
            if !self.shed_locked(&mut open) {
                self.inner.refused_at_cap.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::default());
        activity.idle_since.store(self.now_ms(), Ordering::Relaxed);
        let kill = Arc::new(Notify::new());
        open.insert(
            id,
            Entry {
                activity: activity.clone(),
                kill: kill.clone(),
                peer: peer.to_canonical(),
                #[cfg(unix)]
                socket: None,
            },
        );
        Some(Admission {
            tracker: self.clone(),
            id,
            activity,
            kill,
        })
    }

    /// Sheds one connection, to make room or free a descriptor (after `EMFILE`): among the
    /// connections of the peer address that holds the most, the most overdue. Returns whether
    /// there was one to shed.
    pub(crate) fn shed_one(&self) -> bool {
        let mut open = self.lock();
        self.shed_locked(&mut open)
    }

    /// Picks the connection to shed: first the peer address holding the most connections (one
    /// client flooding cannot push others out while it holds more than they do), then the most
    /// overdue there ([`Activity::overdue`]: the time spent in its current state — a pending
    /// body, a pending or awaited head, idle — as a fraction of what that state is allowed), the
    /// oldest on a tie. So a half-sent head of 50 ms goes before a keep-alive connection idle for
    /// 40 ms between requests, and a connection idle for 2 s before either. A connection whose
    /// request is being answered is never picked; one picked just as its request starts
    /// finishes that request before closing.
    ///
    /// A connection waiting for its client's next (or first) byte whose socket already holds
    /// unread bytes is spared: the client has sent a request the server has not got to yet (a
    /// busy server reads late), and closing the socket then would reset it and lose the request.
    /// Its time so far was the server's, not the client's: it counts from now as a head being
    /// sent. At most [`MAX_SPARED_PER_SHED`] are spared per connection shed; a spared connection
    /// cannot be spared again before its next request starts.
    fn shed_locked(&self, open: &mut Open) -> bool {
        let now = self.now_ms();
        let limits = &self.inner.limits;
        // One scan keeps the most overdue candidates, most overdue first: the first
        // MAX_SPARED_PER_SHED may be spared, the next is then shed regardless.
        // (connections its peer holds, overdue score, the older first on a tie)
        let mut candidates: Vec<(u32, u64, std::cmp::Reverse<u64>)> =
            Vec::with_capacity(MAX_SPARED_PER_SHED + 2);
        for (id, entry) in &open.connections {
            let Some(score) = entry.activity.overdue(now, limits) else {
                continue;
            };
            let held = open.per_peer.get(&entry.peer).copied().unwrap_or(0);
            let key = (held, score, std::cmp::Reverse(*id));
            if candidates.len() > MAX_SPARED_PER_SHED
                && candidates.last().is_some_and(|last| key <= *last)
            {
                continue;
            }
            let at = candidates.partition_point(|other| *other > key);
            candidates.insert(at, key);
            candidates.truncate(MAX_SPARED_PER_SHED + 1);
        }
        for (attempt, &(_, _, std::cmp::Reverse(id))) in candidates.iter().enumerate() {
            #[cfg(unix)]
            if attempt < MAX_SPARED_PER_SHED {
                if let Some(entry) = open.connections.get(&id) {
                    if entry.activity.awaits_first_byte()
                        && entry.socket.is_some_and(has_unread_bytes)
                    {
                        entry.activity.spare(now);
                        continue;
                    }
                }
            }
            #[cfg(not(unix))]
            let _ = attempt;
            if let Some(entry) = open.remove(id) {
                entry.activity.shed_at.store(now, Ordering::Release);
                // `notify_one` stores a permit, so the connection task sees it even if it is not
                // waiting yet.
                entry.kill.notify_one();
                self.inner.shed.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    pub(crate) fn count_closed(&self, verdict: Verdict) {
        match verdict {
            Verdict::Idle => self.inner.closed_idle.fetch_add(1, Ordering::Relaxed),
            Verdict::SlowHead => self.inner.closed_slow_head.fetch_add(1, Ordering::Relaxed),
            Verdict::KeepUntil(_) => 0,
        };
    }

    pub(crate) fn count_body_timeout(&self) {
        self.inner.body_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_accept_error(&self) {
        self.inner.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// What to do with a connection now.
    pub(crate) fn verdict(&self, activity: &Activity) -> Verdict {
        let now = self.now_ms();
        let limits = &self.inner.limits;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if activity.busy.load(Ordering::Acquire) > 0 {
            // A request in progress: its body deadline and the service bound it; look again later.
            return Verdict::KeepUntil(now.saturating_add(ms(limits.idle_timeout).max(100)));
        }
        let head_since = activity.head_since.load(Ordering::Acquire);
        let idle_since = activity.idle_since.load(Ordering::Acquire);
        let (deadline, verdict) = if activity.requests.load(Ordering::Acquire) == 0 {
            // A new connection's first head is due `header_read_timeout` after accepting it.
            (
                idle_since.saturating_add(ms(limits.header_read_timeout)),
                Verdict::SlowHead,
            )
        } else if head_since != 0 {
            (
                head_since.saturating_add(ms(limits.header_read_timeout)),
                Verdict::SlowHead,
            )
        } else {
            (
                idle_since.saturating_add(ms(limits.idle_timeout)),
                Verdict::Idle,
            )
        };
        if now >= deadline {
            verdict
        } else {
            Verdict::KeepUntil(deadline)
        }
    }
}

impl Activity {
    /// Bytes arrived from the client.
    pub(crate) fn on_read(&self, tracker: &Tracker) {
        if self.awaits_first_byte() {
            self.head_since.store(tracker.now_ms(), Ordering::Release);
            // The connection's deadline is now the head's, sooner than the idle one.
            self.changed.notify_one();
        }
    }

    /// Whether a request is being answered: its head and body complete, its service running.
    /// (A request whose body is still arriving does not count: it may be stalled.)
    pub(crate) fn is_answering(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0 && !self.body_pending()
    }

    /// A request head is complete and its service starts.
    pub(crate) fn request_started(&self, tracker: &Tracker) {
        self.request_since
            .store(tracker.now_ms(), Ordering::Release);
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
    }

    /// Whether the server is waiting for the client's first byte of a request head (of its
    /// first request, or of the next one on a keep-alive connection) and has read none of it.
    fn awaits_first_byte(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Acquire) == 0
    }

    /// Spared from shedding at `now`: unread bytes wait in its socket, so a head has started
    /// arriving; its shedding clock restarts, and its deadline becomes the head's from now (for a
    /// connection's first head it still counts from accepting it).
    fn spare(&self, now: u64) {
        self.spared_since.store(now, Ordering::Release);
        self.head_since.store(now, Ordering::Release);
        // The deadline is now the head's, `header_read_timeout` from now.
        self.changed.notify_one();
    }

    #[cfg(test)]
    pub(crate) fn debug_busy(&self) -> u32 {
        self.busy.load(Ordering::Acquire)
    }

    /// Whether a request body is still to be handed over to its service.
    pub(crate) fn body_pending(&self) -> bool {
        self.bodies_pending.load(Ordering::Acquire) > 0
    }

    /// Whether a request started after the connection was shed: it had arrived before the
    /// connection's task could close it (a busy server), and is to be answered.
    pub(crate) fn started_after_shed(&self) -> bool {
        let shed_at = self.shed_at.load(Ordering::Acquire);
        shed_at != 0
            && self.busy.load(Ordering::Acquire) > 0
            && self.request_since.load(Ordering::Acquire) >= shed_at
    }

    /// A request body starts arriving (`body_finished` follows, exactly once).
    pub(crate) fn body_started(&self) {
        self.bodies_pending.fetch_add(1, Ordering::AcqRel);
    }

    /// A request body is complete, failed, or was dropped.
    pub(crate) fn body_finished(&self) {
        self.bodies_pending.fetch_sub(1, Ordering::AcqRel);
    }

    /// How overdue this connection is, for shedding (largest first), in millionths: the time in
    /// its current state over the time that state is allowed — since its request started while
    /// a body is pending (over `body_read_timeout`), since the first byte of a pending head —
    /// since accepting the connection, for its first head — (over `header_read_timeout`), since
    /// its last answer while idle (over `idle_timeout`). `None` while a request is being answered (its
    /// body complete). A trickled head or body does not reset the clock; being spared
    /// ([`Tracker::shed_one`]) does: the head's clock then starts at the sparing.
    fn overdue(&self, now: u64, limits: &Limits) -> Option<u64> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        let (since, allowed) = if self.busy.load(Ordering::Acquire) > 0 {
            if self.bodies_pending.load(Ordering::Acquire) == 0 {
                return None;
            }
            (
                self.request_since.load(Ordering::Acquire),
                limits.body_read_timeout,
            )
        } else {
            let first = self.requests.load(Ordering::Acquire) == 0;
            match self.head_since.load(Ordering::Acquire) {
                // A new connection: since it was accepted (or last spared).
                _ if first => (
                    self.idle_since
                        .load(Ordering::Acquire)
                        .max(self.spared_since.load(Ordering::Acquire)),
                    limits.header_read_timeout,
                ),
                0 => (self.idle_since.load(Ordering::Acquire), limits.idle_timeout),
                since => (since, limits.header_read_timeout),
            }
        };
        Some(now.saturating_sub(since).saturating_mul(1_000_000) / ms(allowed))
    }

    /// A request's service finished (or was dropped).
    pub(crate) fn request_finished(&self, tracker: &Tracker) {
        self.idle_since.store(tracker.now_ms(), Ordering::Release);
        self.head_since.store(0, Ordering::Release);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why the watchdog ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Shed by the tracker.
    Shed,
    /// Idle or slow past its deadline.
    Overdue,
}

/// Completes when the connection is to be closed: shed by the tracker, or idle or slow too long.
/// The serving loop races it against each connection; [`RawConnection::closed`] awaits it.
pub(crate) async fn watchdog(admission: &Admission, tracker: &Tracker) -> End {
    loop {
        match tracker.verdict(&admission.activity) {
            Verdict::KeepUntil(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(tracker.instant_at(at)) => {}
                    // A head started: its deadline may be sooner.
                    () = admission.activity.changed.notified() => {}
                    () = admission.kill.notified() => return End::Shed,
                }
            }
            verdict => {
                tracker.count_closed(verdict);
                return End::Overdue;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(activity: &Activity, field: &AtomicU64, ms_ago: u64, now: u64) {
        let _ = activity;
        field.store(now - ms_ago, Ordering::Release);
    }

    #[test]
    fn the_most_overdue_connection_is_shed_first_and_busy_ones_never() {
        let tracker = Tracker::new(Limits::default());
        std::thread::sleep(Duration::from_millis(300));
        let now = tracker.now_ms();
        let peer = IpAddr::from([127, 0, 0, 1]);
        let admitted: Vec<Admission> = (0..5).map(|_| tracker.admit(peer).unwrap()).collect();
        let [keep_alive, half_head, answering, fresh, stalled_body] = &admitted[..] else {
            unreachable!()
        };
        // A keep-alive connection idle for 40 ms between requests.
        keep_alive.activity.requests.store(3, Ordering::Release);
        set(
            &keep_alive.activity,
            &keep_alive.activity.idle_since,
            40,
            now,
        );
        // A keep-alive connection's next head, half sent 50 ms ago (50/5000 of its allowance:
        // the most overdue).
        half_head.activity.requests.store(1, Ordering::Release);
        set(&half_head.activity, &half_head.activity.head_since, 50, now);
        // A request being answered (body complete) for 250 ms: never shed.
        answering.activity.busy.store(1, Ordering::Release);
        set(
            &answering.activity,
            &answering.activity.request_since,
            250,
            now,
        );
        // A connection accepted 10 ms ago, yet to send its head.
        set(&fresh.activity, &fresh.activity.idle_since, 10, now);
        // A body pending for 60 ms (60/10000).
        stalled_body.activity.busy.store(1, Ordering::Release);
        stalled_body.activity.body_started();
        set(
            &stalled_body.activity,
            &stalled_body.activity.request_since,
            60,
            now,
        );

        let order = shed_all(&tracker, &admitted, Vec::new());
        let names = [
            "keep-alive",
            "half head",
            "answering",
            "fresh",
            "stalled body",
        ];
        let shed: Vec<&str> = order.iter().map(|i| names[*i]).collect();
        assert_eq!(shed, ["half head", "stalled body", "keep-alive", "fresh"]);
        assert_eq!(tracker.stats().shed, 4);
        assert_eq!(tracker.stats().open, 1);
    }

    /// A loopback pair: the server's end (whose descriptor the tracker is given) and the
    /// client's.
    #[cfg(unix)]
    fn socket_pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    /// `n` connections admitted from loopback, each with a real socket pair recorded: the
    /// admissions, the sockets (server's end, client's end) and the records.
    #[cfg(unix)]
    #[allow(clippy::type_complexity)]
    fn admit_with_sockets(
        tracker: &Tracker,
        n: usize,
    ) -> (
        Vec<Admission>,
        Vec<(std::net::TcpStream, std::net::TcpStream)>,
        Vec<Option<SocketSlot>>,
    ) {
        use std::os::unix::io::AsRawFd as _;
        let peer = IpAddr::from([127, 0, 0, 1]);
        let admitted: Vec<Admission> = (0..n).map(|_| tracker.admit(peer).unwrap()).collect();
        let sockets: Vec<_> = (0..n).map(|_| socket_pair()).collect();
        let slots = admitted
            .iter()
            .zip(&sockets)
            .map(|(a, (server, _))| Some(a.attach_socket(server.as_raw_fd())))
            .collect();
        (admitted, sockets, slots)
    }

    /// Writes `bytes` from the client and waits (at most 5 s) until the server's socket holds
    /// them unread.
    #[cfg(unix)]
    fn send_unread(server: &std::net::TcpStream, client: &mut std::net::TcpStream, bytes: &[u8]) {
        use std::io::Write as _;
        use std::os::unix::io::AsRawFd as _;
        client.write_all(bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !has_unread_bytes(server.as_raw_fd()) {
            assert!(Instant::now() < deadline, "the bytes never arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The connections shed by `shed_one` calls until none is left, in order, by their index in
    /// `admitted`, after those in `order` (shed before).
    fn shed_all(tracker: &Tracker, admitted: &[Admission], mut order: Vec<usize>) -> Vec<usize> {
        while tracker.shed_one() {
            let open = tracker.lock();
            let gone = (0..admitted.len())
                .find(|i| !open.connections.contains_key(&admitted[*i].id) && !order.contains(i))
                .unwrap();
            order.push(gone);
        }
        order
    }

    #[cfg(unix)]
    #[test]
    fn a_connection_holding_a_request_the_server_has_not_read_is_not_shed() {
        let tracker = Tracker::new(Limits::default());
        std::thread::sleep(Duration::from_millis(1000));
        let now = tracker.now_ms();
        let (admitted, mut sockets, mut slots) = admit_with_sockets(&tracker, 6);
        // Ages leave every expected order a margin of at least 400 ms against the test's own
        // pauses (a spared connection's score grows from 0 at 200 per ms).
        // 0: a keep-alive client's next request, sent after 600 ms idle and not read yet (the
        // server is busy): overdue by its idle time, but its client is not at fault.
        let age = |i: usize, field: fn(&Activity) -> &AtomicU64, ms: u64| {
            let activity = &admitted[i].activity;
            set(activity, field(activity), ms, now);
        };
        admitted[0].activity.requests.store(75, Ordering::Release);
        age(0, |a| &a.idle_since, 600);
        // 1: the same, idle for 800 ms, nothing sent.
        admitted[1].activity.requests.store(3, Ordering::Release);
        age(1, |a| &a.idle_since, 800);
        // 2: a new connection accepted 900 ms ago whose head waits unread: the most overdue.
        age(2, |a| &a.idle_since, 900);
        // 3: a new connection accepted 700 ms ago, nothing sent.
        age(3, |a| &a.idle_since, 700);
        // 4: a head being read for 800 ms (slowloris), its next byte unread: shed all the same.
        admitted[4].activity.requests.store(1, Ordering::Release);
        age(4, |a| &a.head_since, 800);
        // 5: idle for 990 ms with unread bytes, but its socket is being closed (the slot is
        // gone): no longer asked about, shed by its idle time.
        admitted[5].activity.requests.store(2, Ordering::Release);
        age(5, |a| &a.idle_since, 990);
        for i in [0, 2, 4, 5] {
            let (server, client) = &mut sockets[i];
            send_unread(
                server,
                client,
                b"POST /customers/c/projects/new HTTP/1.1\r\n",
            );
        }
        slots[5] = None;

        // By overdue score: 2 (900/5000, spared: from now), 4 (800/5000), 3 (700/5000),
        // 5 (990/15000), 1 (800/15000), 0 (600/15000, spared): 2 and 0 go last.
        let first = {
            assert!(tracker.shed_one());
            let open = tracker.lock();
            (0..6)
                .find(|i| !open.connections.contains_key(&admitted[*i].id))
                .unwrap()
        };
        assert_eq!(
            first, 4,
            "the slowloris goes first, not the unread new connection"
        );
        assert_ne!(admitted[2].activity.head_since.load(Ordering::Acquire), 0);
        let order = shed_all(&tracker, &admitted, vec![first]);
        assert_eq!(
            order[..4],
            [4, 3, 5, 1],
            "shed before the spared ones: {order:?}"
        );
        assert_eq!(order.len(), 6);
        // 0 was spared too (its head's clock started then), when it came to be most overdue.
        assert_ne!(admitted[0].activity.head_since.load(Ordering::Acquire), 0);
        assert_eq!(tracker.stats().shed, 6);
        drop(slots);
    }

    #[cfg(unix)]
    #[test]
    fn sparing_is_bounded_per_connection_shed() {
        let tracker = Tracker::new(Limits::default());
        std::thread::sleep(Duration::from_millis(100));
        let now = tracker.now_ms();
        let n = MAX_SPARED_PER_SHED + 3;
        let (admitted, mut sockets, _slots) = admit_with_sockets(&tracker, n);
        for (i, admission) in admitted.iter().enumerate() {
            admission.activity.requests.store(1, Ordering::Release);
            // The lower the index, the longer idle.
            set(
                &admission.activity,
                &admission.activity.idle_since,
                90 - i as u64,
                now,
            );
            let (server, client) = &mut sockets[i];
            send_unread(server, client, b"G");
        }
        assert!(tracker.shed_one());
        let open = tracker.lock();
        let gone: Vec<usize> = (0..n)
            .filter(|i| !open.connections.contains_key(&admitted[*i].id))
            .collect();
        // The first MAX_SPARED_PER_SHED most overdue are spared, the next is shed.
        assert_eq!(gone, [MAX_SPARED_PER_SHED]);
        for admission in &admitted[..MAX_SPARED_PER_SHED] {
            assert_ne!(admission.activity.head_since.load(Ordering::Acquire), 0);
        }
    }
}
