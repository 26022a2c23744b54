//! The limits a server applies to every connection, and the process's file-descriptor limit.

use std::time::Duration;

/// How long connections may take and how many may be open. Every value is a wall-clock
/// duration measured by the server from the event named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the first byte of a request head to the end of that head, and from accepting a
    /// connection to the end of its first head; a connection still sending (or not yet sending)
    /// its head then is closed without an answer (slowloris). Default: 5 s.
    pub header_read_timeout: Duration,
    /// From the end of the request head to the end of its body; a body still arriving then is
    /// answered with an error (`408` in the provisioning service) and the connection closed. Default: 10 s.
    pub body_read_timeout: Duration,
    /// How long a keep-alive connection may wait, with no request in progress, for the first byte
    /// of its next request; it is then closed. Default: 15 s.
    pub idle_timeout: Duration,
    /// The most connections open at once. The server uses at most this many, and never more than
    /// the process's file-descriptor limit less [`Limits::RESERVED_DESCRIPTORS`]. A connection
    /// accepted when the cap is reached closes (sheds) the most overdue one: the longest in its
    /// current state — sending a head, sending a body, idle — relative to that state's timeout,
    /// so slow and long-idle connections go before a keep-alive client between two requests or
    /// a client that has just connected; a connection whose request is being answered is never
    /// shed, and one waiting for a request whose client has already sent bytes the server has not
    /// read (a request sent while the server was busy) is spared: its clock restarts, once per
    /// request, at most 8 such per connection shed. When no connection can be shed (each being
    /// answered or spared), the new one is closed instead.
    /// Default: 4096.
    pub max_connections: usize,
}

impl Limits {
    /// File descriptors kept for what is not a connection (the database, log files, the runtime).
    pub const RESERVED_DESCRIPTORS: usize = 128;

    /// The connection cap actually applied: [`Limits::max_connections`], lowered to the soft
    /// `RLIMIT_NOFILE` less [`Limits::RESERVED_DESCRIPTORS`], and at least 16.
    pub fn effective_max_connections(&self) -> usize {
        let by_descriptors = current_nofile()
            .map(|soft| {
                usize::try_from(soft)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(Self::RESERVED_DESCRIPTORS)
            })
            .unwrap_or(usize::MAX);
        self.max_connections.min(by_descriptors).max(16)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            max_connections: 4096,
        }
    }
}

/// The soft and hard `RLIMIT_NOFILE` before and after [`raise_nofile_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit found at start.
    pub before: u64,
    /// The soft limit now.
    pub after: u64,
    /// The hard limit (the most a process may raise its soft limit to).
    pub hard: u64,
}

#[allow(clippy::unnecessary_cast)] // `rlim_t` is `u64` on Linux, not everywhere
fn current_nofile() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            return Some(limit.rlim_cur as u64);
        }
        None
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Raises the process's soft `RLIMIT_NOFILE` to its hard limit (servers start with the soft one,
/// often 1024, while the hard one is far higher). On macOS the soft limit is raised at most to
/// `OPEN_MAX` when the hard limit is unlimited. Returns the limits, or `None` where the platform
/// has none or refuses (nothing changes then).
#[allow(clippy::unnecessary_cast)]
pub fn raise_nofile_limit() -> Option<NofileLimit> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read and write the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        let before = limit.rlim_cur as u64;
        let hard = limit.rlim_max as u64;
        if limit.rlim_cur < limit.rlim_max {
            #[cfg_attr(not(target_os = "macos"), allow(unused_mut))]
            let mut raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            #[cfg(target_os = "macos")]
            if raised.rlim_cur == libc::RLIM_INFINITY {
                raised.rlim_cur = libc::OPEN_MAX as libc::rlim_t;
            }
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                return Some(NofileLimit {
                    before,
                    after: raised.rlim_cur as u64,
                    hard,
                });
            }
        }
        Some(NofileLimit {
            before,
            after: before,
            hard,
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Unblocks SIGTERM and SIGINT in the calling thread (call it first in `main`, before any thread
/// starts, so that every thread inherits the mask). A process inherits its parent's signal
/// mask, and some parents start children with those signals blocked (Swift's
/// `Foundation.Process` on Linux, run from a task, passes on its dispatch thread's mask): the
/// server would then ignore `kill` and its parent's `terminate()`. Returns whether the mask was
/// changed; `false` where the platform has no signal masks.
pub fn unblock_stop_signals() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: a zeroed sigset_t is valid storage for sigemptyset; the calls only read and
        // write the set and this thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) == 0
        }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Runs a server binary's `main`: unblocks SIGTERM and SIGINT ([`unblock_stop_signals`]) before
/// any thread starts, then runs `main` on a multi-thread tokio runtime with every driver
/// enabled. When the runtime cannot start, prints `<program>: cannot start the async runtime:
/// <why>` on stderr and exits with status 1.
pub fn run_server_main(program: &str, main: impl std::future::Future<Output = ()>) {
    unblock_stop_signals();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(main),
        Err(error) => {
            eprintln!("{program}: cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    }
}
