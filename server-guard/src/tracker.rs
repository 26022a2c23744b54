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
    /// New connections closed at once because the cap was reached and every open connection was
    /// busy.
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
    fn shed_locked(&self, open: &mut Open) -> bool {
        let now = self.now_ms();
        let limits = &self.inner.limits;
        let per_peer = &open.per_peer;
        let victim = open
            .connections
            .iter()
            .filter_map(|(id, entry)| {
                let held = per_peer.get(&entry.peer).copied().unwrap_or(0);
                entry
                    .activity
                    .overdue(now, limits)
                    .map(|score| (held, score, std::cmp::Reverse(*id)))
            })
            .max()
            .map(|(_, _, std::cmp::Reverse(id))| id);
        match victim.and_then(|id| open.remove(id)) {
            Some(entry) => {
                // `notify_one` stores a permit, so the connection task sees it even if it is not
                // waiting yet.
                entry.kill.notify_one();
                self.inner.shed.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
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
        if self.busy.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Acquire) == 0 {
            self.head_since.store(tracker.now_ms(), Ordering::Release);
            // The connection's deadline is now the head's, sooner than the idle one.
            self.changed.notify_one();
        }
    }

    /// Whether a request is being answered: its head and body complete, its service running.
    /// (A request whose body is still arriving does not count: it may be stalled.)
    pub(crate) fn is_answering(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0 && self.bodies_pending.load(Ordering::Acquire) == 0
    }

    /// A request head is complete and its service starts.
    pub(crate) fn request_started(&self, tracker: &Tracker) {
        self.request_since
            .store(tracker.now_ms(), Ordering::Release);
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
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
    /// body complete). A trickled head or body does not reset the clock.
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
                // A new connection: since it was accepted.
                _ if first => (
                    self.idle_since.load(Ordering::Acquire),
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

        let mut order = Vec::new();
        while tracker.shed_one() {
            let open = tracker.lock();
            let gone = admitted
                .iter()
                .position(|a| !open.connections.contains_key(&a.id) && !order.contains(&a.id))
                .unwrap();
            order.push(admitted[gone].id);
        }
        let names = [
            "keep-alive",
            "half head",
            "answering",
            "fresh",
            "stalled body",
        ];
        let shed: Vec<&str> = order
            .iter()
            .map(|id| names[admitted.iter().position(|a| a.id == *id).unwrap()])
            .collect();
        assert_eq!(shed, ["half head", "stalled body", "keep-alive", "fresh"]);
        assert_eq!(tracker.stats().shed, 4);
        assert_eq!(tracker.stats().open, 1);
    }
}
