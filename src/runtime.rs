//! The library's own tokio runtime: created on first use, configurable before that, and shut
//! down explicitly by hosts that unload the library.
//!
//! Rust callers normally never see it: a client created inside a multi-thread tokio runtime does
//! its I/O on that runtime. A client created elsewhere (no runtime, a current-thread runtime),
//! or polled by another executor (smol, async-std, `futures::executor`, a foreign event loop),
//! does its I/O here. The C ABI and the foreign bindings run every call on it.
//!
//! # Signals
//!
//! The library never raises `SIGPIPE` in its host, whatever the host's disposition for it (most
//! C firmware leaves the default, which kills the process): every thread of the library runtime
//! blocks `SIGPIPE` for its whole life, and a blocking call ([`block_on`]) blocks it on the
//! calling thread for the duration of the call and discards a `SIGPIPE` that the call itself
//! caused (the approach of PostgreSQL's libpq). A write to a peer that hung up then fails with
//! `EPIPE`, which the call returns as a network error. The host's signal mask and handlers are
//! otherwise left alone. Rust programs ignore `SIGPIPE` already (the standard library sets it
//! to `SIG_IGN` before `main`).
//!
//! # fork()
//!
//! A process that forks keeps, in the child, a copy of the library's memory but none of its
//! threads, and shares its epoll instance and sockets with the parent. Touching the inherited
//! runtime from the child would corrupt the parent's (registering the child's sockets in the
//! parent's epoll set is what crashed parents). So, with `pthread_atfork` handlers installed when
//! the runtime first starts:
//!
//! * the child never uses, drops or joins the inherited runtime: it is forgotten, and the first
//!   call in the child starts a fresh runtime (threads, epoll instance, timers) of its own;
//! * a [`crate::Client`] created before the fork works in the child: on its first call there it
//!   builds a fresh connection pool and host table from its configuration (the inherited pool's
//!   connections belong to the parent and are never touched), keeping the cached REST token;
//! * the parent is unaffected by anything a child does;
//! * asynchronous calls that were in flight in the parent when it forked do not exist in the
//!   child: their callbacks run in the parent only. Do not fork from inside a library callback.
//!
//! [`fork_generation`] counts the forks this process descends from.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
#[cfg(any(feature = "capi", feature = "uniffi"))]
use std::sync::{atomic::AtomicBool, Arc};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use crate::error::{Error, Result};

/// The default number of worker threads of the library runtime.
pub const DEFAULT_WORKER_THREADS: usize = 2;

/// The name of the library runtime's threads.
pub const THREAD_NAME: &str = "agora-link-worker";

enum State {
    NotStarted { worker_threads: usize },
    Running(Started),
    ShutDown,
}

/// A running library runtime.
struct Started {
    runtime: Runtime,
    /// Notified when [`shutdown`] begins, before the runtime's drivers stop: blocking calls
    /// ([`block_on`]) drive their futures on the caller's thread with the runtime's timers, and
    /// must stop polling them before those timers are gone (tokio panics on a timer polled after
    /// its driver shut down).
    stopping: std::sync::Arc<tokio::sync::Notify>,
}

static STATE: Mutex<State> = Mutex::new(State::NotStarted {
    worker_threads: DEFAULT_WORKER_THREADS,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many `fork()`s separate this process from the one that loaded the library: 0 in the
/// original process, incremented in each child (by the `pthread_atfork` child handler).
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// The worker-thread count last configured, for a runtime started again in a forked child.
static CONFIGURED_WORKERS: AtomicUsize = AtomicUsize::new(DEFAULT_WORKER_THREADS);

/// The stack size of the runtime's threads in bytes, 0 for tokio's default (2 MiB). Read when
/// the runtime starts (also again in a forked child).
static CONFIGURED_STACK_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The smallest stack [`set_thread_stack_size`] accepts: 64 KiB.
pub const MIN_THREAD_STACK_SIZE: usize = 64 * 1024;

/// The largest stack [`set_thread_stack_size`] accepts: 64 MiB.
pub const MAX_THREAD_STACK_SIZE: usize = 64 * 1024 * 1024;

/// The number of `fork()`s this process descends from since the library was first used (0 in the
/// original process). An object created in one generation and used in a later one was inherited
/// across a fork.
pub fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Acquire)
}

/// A value that belongs to the process that made it. In a process forked from that one, [`get`]
/// gives a replacement made (once per process) from the inherited value by `remake`, and the
/// inherited value is never dropped there: it may hold locks taken by threads that do not exist
/// in the child, or handles into the parent's I/O driver.
///
/// [`get`]: ForkLocal::get
pub(crate) struct ForkLocal<T> {
    generation: u64,
    value: std::mem::ManuallyDrop<T>,
    successor: std::sync::OnceLock<Option<Box<ForkLocal<T>>>>,
}

impl<T> ForkLocal<T> {
    /// `value`, owned by the current process.
    pub(crate) fn new(value: T) -> Self {
        Self {
            generation: fork_generation(),
            value: std::mem::ManuallyDrop::new(value),
            successor: std::sync::OnceLock::new(),
        }
    }

    /// `true` when the value was made in this process (not inherited across a fork).
    pub(crate) fn is_current(&self) -> bool {
        self.generation == fork_generation()
    }

    /// The value for this process: the original in the process that made it; in a forked child,
    /// the replacement `remake` builds from the inherited value on first use there (the inherited
    /// value itself when `remake` gives `None`).
    pub(crate) fn get(&self, remake: &dyn Fn(&T) -> Option<T>) -> &T {
        if self.is_current() {
            return &self.value;
        }
        match self
            .successor
            .get_or_init(|| remake(&self.value).map(|next| Box::new(ForkLocal::new(next))))
        {
            Some(next) => next.get(remake),
            None => &self.value,
        }
    }

    /// The value as made, whatever the process (for data that is safe to read anywhere).
    pub(crate) fn original(&self) -> &T {
        &self.value
    }
}

impl<T> Drop for ForkLocal<T> {
    fn drop(&mut self) {
        if self.is_current() {
            // SAFETY: dropped once, here; never used afterwards.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.value) }
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for ForkLocal<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

#[cfg(unix)]
mod fork {
    //! `pthread_atfork` handlers: hold the runtime's state lock across `fork()` (so the child
    //! never inherits it locked by a thread that does not exist there), and in the child forget
    //! the inherited runtime.
    use super::{State, CONFIGURED_WORKERS, FORK_GENERATION};
    use std::cell::RefCell;
    use std::sync::atomic::Ordering;
    use std::sync::{MutexGuard, Once};

    thread_local! {
        static HELD: RefCell<Option<MutexGuard<'static, State>>> = const { RefCell::new(None) };
    }

    extern "C" fn prepare() {
        let guard = super::state();
        HELD.with(|held| *held.borrow_mut() = Some(guard));
    }

    extern "C" fn parent() {
        HELD.with(|held| drop(held.borrow_mut().take()));
    }

    extern "C" fn child() {
        FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
        HELD.with(|held| {
            if let Some(mut state) = held.borrow_mut().take() {
                let workers = CONFIGURED_WORKERS.load(Ordering::Relaxed);
                if let State::Running(_) = &*state {
                    let inherited = std::mem::replace(
                        &mut *state,
                        State::NotStarted {
                            worker_threads: workers,
                        },
                    );
                    // Its threads do not exist here and its epoll instance is the parent's:
                    // dropping it would wait for threads that never finish, or touch the
                    // parent's I/O driver. It is never used again.
                    std::mem::forget(inherited);
                }
            }
        });
    }

    /// Installs the handlers once per process (they are inherited by children).
    pub(super) fn install() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            // SAFETY: the handlers are `extern "C"` functions that live for the whole program.
            unsafe {
                libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
            }
        });
    }
}

#[cfg(unix)]
mod sigpipe {
    //! `SIGPIPE` stays blocked on library threads and during blocking calls.

    fn sigpipe_set() -> libc::sigset_t {
        // SAFETY: sigemptyset/sigaddset initialise the set they are given.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            set
        }
    }

    fn pending() -> bool {
        // SAFETY: sigpending fills the set; sigismember reads it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut set) == 0 && libc::sigismember(&set, libc::SIGPIPE) == 1
        }
    }

    /// Blocks `SIGPIPE` on the current thread for good (library threads).
    pub(crate) fn block_forever() {
        let set = sigpipe_set();
        // SAFETY: valid set, no old mask wanted.
        unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
    }

    /// Blocks `SIGPIPE` on this thread until dropped; then discards a `SIGPIPE` raised meanwhile
    /// and restores the mask.
    pub(crate) struct Guard {
        old: libc::sigset_t,
        restore: bool,
        was_pending: bool,
    }

    impl Guard {
        pub(crate) fn new() -> Self {
            let set = sigpipe_set();
            // SAFETY: valid sets.
            let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
            let ok = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) } == 0;
            // Already blocked by the host: nothing to undo, and a pending SIGPIPE is the host's.
            let restore = ok && unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 0;
            Self {
                old,
                restore,
                was_pending: !restore || pending(),
            }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            if !self.restore {
                return;
            }
            if !self.was_pending && pending() {
                let set = sigpipe_set();
                let zero = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: valid set and timeout; consumes the pending SIGPIPE this call caused.
                unsafe {
                    libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
                }
            }
            // SAFETY: the mask saved by `new`.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
            }
        }
    }
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
            CONFIGURED_WORKERS.store(count, Ordering::Relaxed);
            Ok(())
        }
        State::Running(_) => Err(Error::InvalidArgument(
            "the library runtime is already running; configure it before the first call".into(),
        )),
        State::ShutDown => Err(Error::Shutdown),
    }
}

/// Sets the stack size of the library runtime's threads (its workers and the threads that run
/// blocking work such as `getaddrinfo`), in bytes, from [`MIN_THREAD_STACK_SIZE`] (64 KiB) to
/// [`MAX_THREAD_STACK_SIZE`] (64 MiB); 0 goes back to tokio's default of 2 MiB. Only possible
/// before the runtime starts ([`Error::InvalidArgument`] afterwards, or out of range). The
/// stack is virtual memory: only the pages a thread touches become resident, so this bounds
/// the address space a host reserves, and what a thread may use at most.
pub fn set_thread_stack_size(bytes: usize) -> Result<()> {
    if bytes != 0 && !(MIN_THREAD_STACK_SIZE..=MAX_THREAD_STACK_SIZE).contains(&bytes) {
        return Err(Error::InvalidArgument(format!(
            "a thread stack size is 0 (the default) or {MIN_THREAD_STACK_SIZE} to \
             {MAX_THREAD_STACK_SIZE} bytes, not {bytes}"
        )));
    }
    match &*state() {
        State::NotStarted { .. } => {
            CONFIGURED_STACK_SIZE.store(bytes, Ordering::Relaxed);
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
    running().map(|(handle, _)| handle)
}

/// The runtime's handle and its shutdown notification, starting it on first use.
fn running() -> Result<(Handle, std::sync::Arc<tokio::sync::Notify>)> {
    let mut state = state();
    match &*state {
        State::Running(started) => Ok((started.runtime.handle().clone(), started.stopping.clone())),
        State::ShutDown => Err(Error::Shutdown),
        State::NotStarted { worker_threads } => {
            #[cfg(unix)]
            fork::install();
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder
                .worker_threads(*worker_threads)
                .thread_name(THREAD_NAME)
                .on_thread_start(|| {
                    #[cfg(unix)]
                    sigpipe::block_forever();
                })
                .enable_all();
            let stack_size = CONFIGURED_STACK_SIZE.load(Ordering::Relaxed);
            if stack_size != 0 {
                builder.thread_stack_size(stack_size);
            }
            let runtime = builder
                .build()
                .map_err(|e| Error::Config(format!("cannot start the library runtime: {e}")))?;
            let handle = runtime.handle().clone();
            let stopping = std::sync::Arc::new(tokio::sync::Notify::new());
            *state = State::Running(Started {
                runtime,
                stopping: stopping.clone(),
            });
            Ok((handle, stopping))
        }
    }
}

/// Process-wide state of higher layers that must not outlive the library (the SigV4 signing
/// keys cached by `iot::sigv4`): functions registered with [`on_shutdown`], run by every
/// [`shutdown`] call.
static SHUTDOWN_HOOKS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

/// Registers `hook` to run at every [`shutdown`] call, after the runtime has stopped, whatever
/// the call returns. Each caller registers once (behind a `std::sync::Once`).
pub(crate) fn on_shutdown(hook: fn()) {
    SHUTDOWN_HOOKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(hook);
}

/// Stops the library runtime, for hosts that unload the library: calls in flight are cancelled
/// and worker threads get up to `timeout` to finish; blocking calls in flight return
/// [`Error::Shutdown`]. Final: later calls fail with [`Error::Shutdown`]. Returns whether the
/// runtime was running. From a library thread it fails with [`Error::WouldDeadlock`]. Either way
/// it drops the SigV4 signing keys that presigning caches, so that no key derived from a secret
/// stays in memory.
pub fn shutdown(timeout: Duration) -> Result<bool> {
    let stopped = stop(timeout);
    run_shutdown_hooks();
    stopped
}

/// Runs the [`on_shutdown`] hooks (outside the lock: a hook may register another).
pub(crate) fn run_shutdown_hooks() {
    let hooks = SHUTDOWN_HOOKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    for hook in hooks {
        hook();
    }
}

fn stop(timeout: Duration) -> Result<bool> {
    if in_async_context() {
        return Err(Error::WouldDeadlock);
    }
    let previous = std::mem::replace(&mut *state(), State::ShutDown);
    match previous {
        State::Running(started) => {
            // Blocking calls stop polling (and return Shutdown) before the timers go away.
            started.stopping.notify_waiters();
            started.runtime.shutdown_timeout(timeout);
            Ok(true)
        }
        State::NotStarted { .. } | State::ShutDown => Ok(false),
    }
}

fn is_shut_down() -> bool {
    matches!(&*state(), State::ShutDown)
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
    let (handle, stopping) = running()?;
    #[cfg(unix)]
    let _no_sigpipe = sigpipe::Guard::new();
    handle.block_on(async move {
        let stopped = stopping.notified();
        tokio::pin!(stopped);
        // Registered before the check below: a shutdown after it wakes `stopped`; one before
        // it is seen by the check.
        stopped.as_mut().enable();
        if is_shut_down() {
            return Err(Error::Shutdown);
        }
        tokio::select! {
            biased;
            () = stopped => Err(Error::Shutdown),
            result = future => result,
        }
    })
}

/// In-order delivery of values (IoT events) to a host's listener, on a library thread of its own
/// outside the runtime's workers, for the C and binding adapters:
///
/// - never on the thread of the call that produced the value, so a host may hold its own lock
///   around that call and take it in the listener;
/// - never on a worker, so a listener that blocks (on a host lock) cannot starve the I/O and the
///   timers of the calls in flight (with one worker thread that was a hang);
/// - the thread has entered the runtime: a blocking call of the library from the listener is
///   refused with [`Error::WouldDeadlock`], as on any library thread;
/// - after a `fork()`, the child gets a thread of its own at its first value;
/// - [`Dispatcher::close`] stops delivery and waits for a delivery running on another thread.
#[cfg(any(feature = "capi", feature = "uniffi"))]
pub(crate) struct Dispatcher<T: Send + 'static> {
    listener: Arc<dyn Fn(T) + Send + Sync>,
    closed: Arc<AtomicBool>,
    /// The delivering thread's queue of this fork generation, and the lock held around each
    /// delivery.
    queue: Mutex<Option<DeliveryThread<T>>>,
}

#[cfg(any(feature = "capi", feature = "uniffi"))]
/// A dispatcher's thread: its fork generation, its queue, the lock held around each delivery.
type DeliveryThread<T> = (u64, std::sync::mpsc::Sender<T>, Arc<Mutex<()>>);

#[cfg(any(feature = "capi", feature = "uniffi"))]
thread_local! {
    /// On a dispatcher's thread while it runs a listener: the address of that dispatcher's
    /// delivery lock (0 otherwise).
    static DELIVERING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(any(feature = "capi", feature = "uniffi"))]
impl<T: Send + 'static> Dispatcher<T> {
    /// A dispatcher to `listener` (a panic in it is caught and the value dropped).
    pub(crate) fn new(listener: impl Fn(T) + Send + Sync + 'static) -> Self {
        Self {
            listener: Arc::new(listener),
            closed: Arc::new(AtomicBool::new(false)),
            queue: Mutex::new(None),
        }
    }

    /// Queues `value` for the listener (starting its thread when needed); dropped after
    /// [`Dispatcher::close`] or when no thread can be started.
    pub(crate) fn send(&self, value: T) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let generation = fork_generation();
        if queue.as_ref().is_some_and(|(g, ..)| *g != generation) {
            // Inherited across a fork: its thread does not exist here, and its channel and lock
            // may be held by threads that do not exist either. Never touched again.
            std::mem::forget(queue.take());
        }
        if queue.is_none() {
            let Ok(handle) = handle() else { return };
            let (sender, receiver) = std::sync::mpsc::channel::<T>();
            let running = Arc::new(Mutex::new(()));
            let (listener, closed, lock) =
                (self.listener.clone(), self.closed.clone(), running.clone());
            let mut builder = std::thread::Builder::new().name("agora-link-events".into());
            let stack_size = CONFIGURED_STACK_SIZE.load(Ordering::Relaxed);
            if stack_size != 0 {
                builder = builder.stack_size(stack_size);
            }
            let started = builder.spawn(move || {
                #[cfg(unix)]
                sigpipe::block_forever();
                let _runtime = handle.enter();
                // Ends when the dispatcher (the provider) is dropped or closed.
                while let Ok(value) = receiver.recv() {
                    let _delivering = lock.lock().unwrap_or_else(|p| p.into_inner());
                    if closed.load(Ordering::Acquire) {
                        break;
                    }
                    DELIVERING.with(|d| d.set(Arc::as_ptr(&lock) as usize));
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener(value)));
                    DELIVERING.with(|d| d.set(0));
                }
            });
            if started.is_err() {
                return;
            }
            *queue = Some((generation, sender, running));
        }
        if let Some((_, sender, _)) = queue.as_ref() {
            let _ = sender.send(value);
        }
    }

    /// Stops delivery: queued values are dropped, and when this returns no listener call runs or
    /// will start, except when called from the listener itself (then the current call finishes
    /// after it returns).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let taken = self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((generation, sender, running)) = taken {
            if generation != fork_generation() {
                std::mem::forget((sender, running));
                return;
            }
            drop(sender);
            if DELIVERING.with(|d| d.get()) != Arc::as_ptr(&running) as usize {
                drop(running.lock().unwrap_or_else(|p| p.into_inner()));
            }
        }
    }
}
