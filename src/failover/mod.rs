//! Domain switching (切换域名) and safe retries: which hosts a call may try, in what order, after
//! which failures, with what back-off, within one overall deadline, and which hosts to avoid.
//!
//! The plan of every call follows the spec:
//!
//! 1. the primary host: `api.sd-rtn.com` when the business server is in mainland China,
//!    `api.agora.io` elsewhere ([`ServerLocation`], by default taken from the
//!    [`Region`](crate::config::Region));
//! 2. the same host once more;
//! 3. the other primary host, skipped when the primary failed with a network error rather than a
//!    DNS failure (as the spec advises) — unless step 4 has no host to offer;
//! 4. a regional host adjacent to the region the primary resolved to
//!    ([`RegionalFallback`]), under the primary's suffix first and then the other one.
//!
//! A call moves to the next step only after a failure of the host ([`FailureClass`]), and only
//! when resending is safe: idempotent calls after any host failure, non-idempotent calls
//! (`open`, `register`, `removeAccount`) only after failures that happened before the request was
//! sent, unless the caller opts in with [`CallOptions::allow_resend`].
//!
//! Hosts that fail are remembered per [`Client`](crate::Client) (all clones share it) by a
//! circuit breaker: a host that just failed is skipped by later calls for a cool-down period,
//! after which one call probes it (half-open). Health is per client, not per process, because two
//! clients can reach the same host name through different networks, resolve overrides or trust
//! settings; share one client to share the knowledge.

mod health;
mod plan;
mod run;

pub use health::{ClientStats, HostState, HostStats};
pub(crate) use run::{Failover, RequestBudget};

pub use crate::attempt::{Attempt, Attempts, FailureClass};
pub use crate::policy::{
    AgoraRegion, CallOptions, FailoverEvent, FailoverObserver, FailoverPolicy, IpNetwork,
    RegionalFallback, ServerLocation, DEFAULT_BACKOFF, DEFAULT_CALL_DEADLINE, DEFAULT_COOLDOWN,
    DEFAULT_MAX_COOLDOWN,
};

use crate::error::TransportErrorKind;

impl FailureClass {
    /// The failure class of a transport error: what the kind says about the host and about
    /// whether the request can have been sent.
    pub(crate) fn from_transport(kind: TransportErrorKind) -> Self {
        match kind {
            TransportErrorKind::Dns => Self::Dns,
            TransportErrorKind::Connect => Self::Refused,
            TransportErrorKind::ConnectTimeout => Self::ConnectTimeout,
            TransportErrorKind::Tls => Self::Tls,
            TransportErrorKind::Timeout => Self::ReadTimeout,
            TransportErrorKind::Proxy => Self::Proxy,
            TransportErrorKind::Io | TransportErrorKind::Other => Self::ResetAfterSend,
        }
    }
}
