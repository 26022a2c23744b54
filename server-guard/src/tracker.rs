//! The open connections: what each is doing, the cap, shedding, and the counters.

use std::collections::BTreeMap;
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
}

struct Inner {
    limits: Limits,
    cap: usize,
    started: Instant,
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Entry>>,
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
        self.tracker.lock().remove(&self.id);
    }
}

impl Tracker {
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
                open: Mutex::new(BTreeMap::new()),
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
            open: self.lock().len() as u64,
            max_connections: inner.cap as u64,
            shed: load(&inner.shed),
            refused_at_cap: load(&inner.refused_at_cap),
            closed_idle: load(&inner.closed_idle),
            closed_slow_head: load(&inner.closed_slow_head),
            body_timeouts: load(&inner.body_timeouts),
            accept_errors: load(&inner.accept_errors),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
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

    /// Admits a just-accepted connection, closing the oldest idle or slow one when the cap is
    /// reached; `None` when every open connection is busy (the new one is then to be closed).
    pub(crate) fn admit(&self) -> Option<Admission> {
        self.inner.accepted.fetch_add(1, Ordering::Relaxed);
        let mut open = self.lock();
        while open.len() >= self.inner.cap {
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
            },
        );
        Some(Admission {
            tracker: self.clone(),
            id,
            activity,
            kill,
        })
    }

    /// Closes the oldest connection without a request in progress, to free a descriptor (after
    /// `EMFILE`). Returns whether there was one.
    pub(crate) fn shed_one(&self) -> bool {
        let mut open = self.lock();
        self.shed_locked(&mut open)
    }

    fn shed_locked(&self, open: &mut BTreeMap<u64, Entry>) -> bool {
        let victim = open
            .iter()
            .find(|(_, entry)| entry.activity.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match victim.and_then(|id| open.remove(&id)) {
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
        let (deadline, verdict) = if head_since != 0 {
            (
                head_since.saturating_add(ms(limits.header_read_timeout)),
                Verdict::SlowHead,
            )
        } else if activity.requests.load(Ordering::Acquire) == 0 {
            // A new connection's first request is due as soon as a head may take.
            (
                idle_since.saturating_add(ms(limits.header_read_timeout.min(limits.idle_timeout))),
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
        }
    }

    /// A request head is complete and its service starts.
    pub(crate) fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
    }

    /// A request's service finished (or was dropped).
    pub(crate) fn request_finished(&self, tracker: &Tracker) {
        self.idle_since.store(tracker.now_ms(), Ordering::Release);
        self.head_since.store(0, Ordering::Release);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }
}
