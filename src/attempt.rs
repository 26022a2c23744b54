//! The vocabulary of failover that errors carry: how one attempt on one host failed
//! ([`FailureClass`]) and the hosts a call tried ([`Attempt`], [`Attempts`]). Re-exported as
//! `agora_link::failover::…`. The bottom layer: it imports nothing from the crate.

use std::fmt;
use std::time::Duration;

/// How one attempt on one host failed; decides what the call does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureClass {
    /// The host name did not resolve. Nothing was sent; next: the same host once more, then the
    /// other primary.
    Dns,
    /// The connection was refused or the host unreachable. Nothing was sent.
    Refused,
    /// The connection was not established within the connect timeout. Nothing was sent.
    ConnectTimeout,
    /// The TLS handshake failed. Nothing was sent.
    Tls,
    /// The connection broke after the request may have been sent.
    ResetAfterSend,
    /// No complete answer within the request timeout (or the call's deadline).
    ReadTimeout,
    /// HTTP 5xx.
    ServerError(u16),
    /// HTTP 429; `Retry-After` is honoured on the same host when the deadline allows.
    RateLimited,
    /// An answer that is not an Agora Link envelope (wrong host, proxy page, truncated JSON).
    Malformed,
    /// Not tried: the host was cooling down after an earlier failure.
    CoolingDown,
    /// The HTTP proxy failed (unreachable, or it refused the `CONNECT` tunnel): nothing reached
    /// the API host, which is not held responsible (its health is not changed).
    Proxy,
}

impl FailureClass {
    /// `true` when the request provably never left the client, so any call may be sent again.
    pub fn before_request_sent(self) -> bool {
        matches!(
            self,
            Self::Dns
                | Self::Refused
                | Self::ConnectTimeout
                | Self::Tls
                | Self::CoolingDown
                | Self::Proxy
        )
    }

    /// `true` for network failures that are not DNS failures (the spec skips the other primary).
    pub fn is_network(self) -> bool {
        matches!(
            self,
            Self::Refused
                | Self::ConnectTimeout
                | Self::Tls
                | Self::ResetAfterSend
                | Self::ReadTimeout
        )
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns => f.write_str("DNS failure"),
            Self::Refused => f.write_str("connection refused"),
            Self::ConnectTimeout => f.write_str("connect timeout"),
            Self::Tls => f.write_str("TLS failure"),
            Self::ResetAfterSend => f.write_str("connection reset after sending"),
            Self::ReadTimeout => f.write_str("read timeout"),
            Self::ServerError(status) => write!(f, "HTTP {status}"),
            Self::RateLimited => f.write_str("HTTP 429"),
            Self::Malformed => f.write_str("malformed answer"),
            Self::CoolingDown => f.write_str("skipped (cooling down)"),
            Self::Proxy => f.write_str("proxy failure"),
        }
    }
}

/// One host a call tried (or skipped) before its final outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The host (`host` or `host:port`).
    pub host: String,
    /// How it failed.
    pub failure: FailureClass,
    /// How long the attempt took.
    pub elapsed: Duration,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} after {} ms",
            self.host,
            self.failure,
            self.elapsed.as_millis()
        )
    }
}

/// The hosts a call tried before it failed, in order; empty when the first attempt's outcome
/// was final. Shown by `Display` as `[host: failure after N ms, ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attempts(pub Vec<Attempt>);

impl Attempts {
    /// The attempts, in order.
    pub fn as_slice(&self) -> &[Attempt] {
        &self.0
    }

    /// The hosts tried, in order (skipped hosts excluded).
    pub fn hosts(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|a| a.failure != FailureClass::CoolingDown)
            .map(|a| a.host.as_str())
            .collect()
    }
}

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        f.write_str(" [tried: ")?;
        for (index, attempt) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{attempt}")?;
        }
        f.write_str("]")
    }
}
