//! # agora-link-server-guard
//!
//! What keeps the project's servers — the sandbox (`agora-link-sandbox`) and the provisioning
//! service (`agora-link-provisioning`) — answering when clients are slow, idle or hostile:
//!
//! * [`Limits`]: how long a connection may take to send a request head and a body, how long it may
//!   stay idle between requests, and how many connections are open at once.
//! * [`serve`]: an accept loop that enforces them on HTTP/1.1 (and on HTTP/2 over TLS, with the
//!   `tls` feature), sheds the oldest idle or slow connection when the cap is reached instead of
//!   starving accepts, and never spins or floods the log when `accept` fails (for example with
//!   `EMFILE`).
//! * [`raise_nofile_limit`]: raises the soft `RLIMIT_NOFILE` to the hard limit at start.
//! * [`unblock_stop_signals`]: SIGTERM and SIGINT reach the server whatever mask its parent had;
//!   [`run_server_main`] does it, then runs a binary's `main` on a tokio runtime.
//! * [`RateLimited`] and [`Tally`]: logs that cost a line per interval, not a line per event.
//!
//! Cleartext HTTP/2 (h2c) is not served: a plaintext connection speaks HTTP/1.1 only.

#![warn(missing_docs)]
// docs.rs: items of the `tls` feature are shown with it (`[package.metadata.docs.rs]`).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod io;
mod limits;
mod log;
mod serve;
mod tracker;

pub use body::{BodyTimeout, GuardedBody};
pub use limits::{raise_nofile_limit, run_server_main, unblock_stop_signals, Limits, NofileLimit};
pub use log::{RateLimited, Tally};
pub use serve::{bind, bind_with_backlog, serve, ConnectionInfo, Transport, LISTEN_BACKLOG};
pub use tracker::{GuardStats, RawConnection, RawRequest, Tracker};
