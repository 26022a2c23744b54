//! The library's own tokio runtime: created on first use, configurable before that, and shut
//! down explicitly by hosts that unload the library.
//!
//! Rust callers normally never see it: a client created inside a multi-thread tokio runtime does
//! its I/O on that runtime. A client created elsewhere (no runtime, a current-thread runtime),
//! or polled by another executor (smol, async-std, `futures::executor`, a foreign event loop),
//! does its I/O here. The C ABI and the foreign bindings run every call on it.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use crate::error::{Error, Result};

/// The default number of worker threads of the library runtime.
pub const DEFAULT_WORKER_THREADS: usize = 2;

/// The name of the library runtime's threads.
pub const THREAD_NAME: &str = "agora-link-worker";

enum State {
    NotStarted { worker_threads: usize },
    Running(Runtime),
    ShutDown,
}

static STATE: Mutex<State> = Mutex::new(State::NotStarted {
    worker_threads: DEFAULT_WORKER_THREADS,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sets the number of worker threads (at least 1). Only possible before the runtime starts.
pub fn set_worker_threads(count: usize) -> Result<()> {
    if count == 0 {
        return Err(Error::InvalidArgument(
            "the runtime needs at least one worker thread".into(),
        ));
    }
    match &mut *state() {
        State::NotStarted { worker_threads } => {
            *worker_threads = count;
            Ok(())
        }
        State::Running(_) => Err(Error::InvalidArgument(
            "the library runtime is already running; configure it before the first call".into(),
        )),
        State::ShutDown => Err(Error::Shutdown),
    }
}

/// A handle to the library runtime, starting it on first use. Fails after [`shutdown`].
pub fn handle() -> Result<Handle> {
    let mut state = state();
    match &*state {
        State::Running(runtime) => Ok(runtime.handle().clone()),
        State::ShutDown => Err(Error::Shutdown),
        State::NotStarted { worker_threads } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(*worker_threads)
                .thread_name(THREAD_NAME)
                .enable_all()
                .build()
                .map_err(|e| Error::Config(format!("cannot start the library runtime: {e}")))?;
            let handle = runtime.handle().clone();
            *state = State::Running(runtime);
            Ok(handle)
        }
    }
}

/// Stops the library runtime: pending calls are cancelled, and the worker threads are given up to
/// `timeout` to finish. Returns `true` if the runtime was running. Final: afterwards every call
/// that needs the runtime fails with [`Error::Shutdown`]. Calling it again is a no-op.
///
/// Must not be called from a thread of the library runtime (it would wait for itself); that
/// gives [`Error::WouldDeadlock`].
pub fn shutdown(timeout: Duration) -> Result<bool> {
    if in_async_context() {
        return Err(Error::WouldDeadlock);
    }
    let previous = std::mem::replace(&mut *state(), State::ShutDown);
    match previous {
        State::Running(runtime) => {
            runtime.shutdown_timeout(timeout);
            Ok(true)
        }
        State::NotStarted { .. } | State::ShutDown => Ok(false),
    }
}

/// `true` when the current thread runs async code of a tokio runtime (a library thread, or a
/// host's own runtime): blocking there would stall or deadlock that runtime.
pub fn in_async_context() -> bool {
    Handle::try_current().is_ok()
}

/// Runs a fallible `future` (any call of the client) to completion on the library runtime,
/// blocking the current thread, and returns its result. Refuses to block a thread that runs
/// async code ([`Error::WouldDeadlock`]); fails with [`Error::Shutdown`] after [`shutdown`].
pub fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    if in_async_context() {
        return Err(Error::WouldDeadlock);
    }
    handle()?.block_on(future)
}
