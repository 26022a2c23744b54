//! The state shared by the HTTP server and the IoT gateway ([`Shared`]): the sandbox's [`Db`],
//! the fault plan and the fault proxy, each behind its own lock. Above the state it wraps, below
//! both of its users.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::fault_proxy::FaultProxy;
use crate::faults::FaultPlan;
use crate::state::Db;

/// The state that the HTTP server and the IoT gateway share: the [`Db`], the fault plan, and
/// the fault proxy, each behind its own lock.
#[derive(Debug)]
pub(crate) struct Shared {
    db: Mutex<Db>,
    faults: Mutex<FaultPlan>,
    /// Close a kept-alive connection, unanswered, when a second request arrives on it.
    pub(crate) close_reused: std::sync::atomic::AtomicBool,
    /// The fault proxy in front of the main listener (`SandboxBuilder::fault_proxy`) and the
    /// PEM of the CA its certificate chains to.
    pub(crate) fault_proxy: std::sync::OnceLock<(Arc<FaultProxy>, String)>,
}

impl Shared {
    /// `db`, with no faults planned, no fault proxy and reused connections served.
    pub(crate) fn new(db: Db) -> Shared {
        Shared {
            db: Mutex::new(db),
            faults: Mutex::new(FaultPlan::default()),
            close_reused: std::sync::atomic::AtomicBool::new(false),
            fault_proxy: std::sync::OnceLock::new(),
        }
    }

    /// The state, locked (a poisoned lock is taken over).
    pub(crate) fn db(&self) -> MutexGuard<'_, Db> {
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fault plan, locked (a poisoned lock is taken over).
    pub(crate) fn plan(&self) -> MutexGuard<'_, FaultPlan> {
        self.faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
