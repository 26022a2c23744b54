//! The client's error type: one enum for the whole core, every variant typed and secret-free.

use std::fmt;

use crate::attempt::{Attempt, Attempts};
use crate::endpoint::Endpoint;

/// The result type of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a call to the Agora Link REST API.
///
/// No variant ever carries a password, client secret, token or AWS key: server messages are kept
/// as sent (they name accounts and projects, not credentials), and body excerpts are redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client configuration is invalid (bad URL, plain HTTP to a remote host, bad PEM, ...).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// An argument of a call is invalid (empty account name, empty project id, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The request did not produce an HTTP response (DNS, connect, TLS, timeout, reset).
    #[error("{endpoint}: {kind} error: {message}{attempts}")]
    Transport {
        /// The endpoint that was called.
        endpoint: Endpoint,
        /// What kind of transport failure it was.
        kind: TransportErrorKind,
        /// A description of the failure from the HTTP stack.
        message: String,
        /// The envelope trace id, for cloud-storage calls.
        trace_id: Option<String>,
        /// The hosts tried before this failure, when the call failed over (see [`Error::attempts`]).
        attempts: Attempts,
    },

    /// A server failure without an Agora Link answer: HTTP 5xx or 429 whose body is not the API's
    /// JSON envelope — typically a reverse proxy or load balancer in front of the API (nginx's
    /// `502 Bad Gateway` or `504 Gateway Time-out` page) whose upstream is down or slow. Kind
    /// [`ErrorKind::Network`]: a temporary failure of the path to the API, not a malformed answer.
    #[error("{endpoint}: HTTP {http_status} from the server or a proxy in front of it, without an Agora Link answer; body starts with: {excerpt}{attempts}")]
    Server {
        /// The endpoint that was called.
        endpoint: Endpoint,
        /// The HTTP status (500-599, or 429).
        http_status: u16,
        /// The start of the body, at most 160 characters, with secret values masked.
        excerpt: String,
        /// The envelope trace id, for cloud-storage calls.
        trace_id: Option<String>,
        /// The hosts tried before this failure, when the call failed over (see [`Error::attempts`]).
        attempts: Attempts,
    },

    /// The server answered with a well-formed body whose `code` is not 0.
    #[error("{0}")]
    Api(#[from] ApiError),

    /// The server's answer could not be decoded (not JSON, truncated, wrong shape).
    #[error("{endpoint}: cannot decode response (HTTP {http_status}): {message}; body starts with: {excerpt}{attempts}")]
    Decode {
        /// The endpoint that was called.
        endpoint: Endpoint,
        /// The HTTP status of the response.
        http_status: u16,
        /// What the decoder reported.
        message: String,
        /// The start of the body, at most 160 characters, with secret values masked.
        excerpt: String,
        /// The envelope trace id, for cloud-storage calls.
        trace_id: Option<String>,
        /// The hosts tried before this failure, when the call failed over (see [`Error::attempts`]).
        attempts: Attempts,
    },

    /// The library runtime was shut down ([`crate::runtime::shutdown`]), or the call was
    /// cancelled by that shutdown.
    #[error("the agora-link runtime has been shut down")]
    Shutdown,

    /// A blocking call was made from a thread that runs async code (a library thread, for
    /// example inside a completion callback); blocking there would deadlock.
    #[error("a blocking call was made from an async context, where it would deadlock")]
    WouldDeadlock,

    /// The response body was larger than the configured limit; it was not read to the end.
    #[error("{endpoint}: response body exceeds the {limit}-byte limit (HTTP {http_status})")]
    BodyTooLarge {
        /// The endpoint that was called.
        endpoint: Endpoint,
        /// The HTTP status of the response.
        http_status: u16,
        /// The configured limit in bytes.
        limit: usize,
        /// The envelope trace id, for cloud-storage calls.
        trace_id: Option<String>,
    },
}

/// The Amazon Cognito error types that mean the identity's OpenID token will never be accepted
/// again, so that a new login is needed: a refused token, and an identity Cognito does not know.
const COGNITO_REFUSALS: &[&str] = &["NotAuthorizedException", "ResourceNotFoundException"];

/// A failure reported by the server: the response envelope's `code` was not 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The endpoint that was called.
    pub endpoint: Endpoint,
    /// The HTTP status (Agora reports failures with 200, 201 and 4xx alike).
    pub http_status: u16,
    /// The server's `code` (for example 400, 401 or 999999).
    pub code: i64,
    /// The server's `msg`, as sent.
    pub msg: String,
    /// The server's `timestamp` (ms since the Unix epoch), when present.
    pub server_timestamp_ms: Option<i64>,
    /// The envelope trace id, for cloud-storage calls.
    pub trace_id: Option<String>,
    /// The hosts tried before this answer, when the call failed over (see [`Error::attempts`]).
    pub attempts: Attempts,
}

impl ApiError {
    /// `true` when the failure is an authentication failure: HTTP 401 or JSON `code` 401.
    pub fn is_unauthorized(&self) -> bool {
        self.http_status == 401 || self.code == 401
    }
}

impl ApiError {
    /// `true` when the token endpoint refused the grant (a 4xx status or code, such as
    /// `invalid_grant` or `invalid_client`), or Cognito refused an identity's OpenID token
    /// (`NotAuthorizedException`), as opposed to failing for another reason.
    pub fn is_refused_grant(&self) -> bool {
        match self.endpoint {
            Endpoint::RestToken => {
                (400..500).contains(&self.http_status) || (400..500).contains(&self.code)
            }
            // Cognito refusing the identity's OpenID token, or not knowing the identity; its
            // other errors (throttling, internal errors) are temporary.
            Endpoint::CognitoGetCredentials => {
                let kind = self.msg.split(':').next().unwrap_or_default();
                COGNITO_REFUSALS.contains(&kind)
            }
            _ => false,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: server error code {} (HTTP {}): {}",
            self.endpoint, self.code, self.http_status, self.msg
        )?;
        if let Some(trace_id) = &self.trace_id {
            write!(f, " [traceId {trace_id}]")?;
        }
        write!(f, "{}", self.attempts)
    }
}

impl std::error::Error for ApiError {}

/// The kind of a transport failure, and what it says about whether the request reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The host name could not be resolved. Nothing was sent.
    Dns,
    /// The connection could not be established (refused, unreachable). Nothing was sent.
    Connect,
    /// Establishing the connection took longer than the connect timeout. Nothing was sent.
    ConnectTimeout,
    /// The TLS handshake failed (unknown CA, wrong name, protocol error). Nothing was sent.
    Tls,
    /// The whole request took longer than the request timeout; the server may have processed it.
    Timeout,
    /// The connection failed after the request may have been sent (reset, closed early).
    Io,
    /// Any other failure of the HTTP stack.
    Other,
    /// The HTTP proxy could not be reached or refused to open a tunnel to the API host (the
    /// message names the proxy, without credentials, and the status it answered). Nothing was
    /// sent to the API host.
    Proxy,
}

impl TransportErrorKind {
    /// `true` when the failure provably happened before any byte of the request was sent, so the
    /// server cannot have acted on it.
    pub fn before_request_sent(self) -> bool {
        matches!(
            self,
            Self::Dns | Self::Connect | Self::ConnectTimeout | Self::Tls | Self::Proxy
        )
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dns => "DNS",
            Self::Connect => "connect",
            Self::ConnectTimeout => "connect timeout",
            Self::Tls => "TLS",
            Self::Timeout => "timeout",
            Self::Io => "I/O",
            Self::Other => "HTTP",
            Self::Proxy => "proxy",
        })
    }
}

/// A coarse classification of [`Error`], stable across versions, for foreign bindings and for
/// callers that only branch on the kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Config`].
    Config,
    /// [`Error::InvalidArgument`].
    InvalidArgument,
    /// A transport failure other than a timeout or TLS.
    Network,
    /// A connect or request timeout.
    Timeout,
    /// A TLS failure.
    Tls,
    /// The credentials or the token were refused: HTTP 401, code 401, or a 4xx from the token
    /// endpoint (see [`ApiError::is_refused_grant`]).
    Auth,
    /// Any other server-reported failure.
    Api,
    /// An undecodable or oversized response.
    Decode,
    /// [`Error::Shutdown`].
    Shutdown,
    /// [`Error::WouldDeadlock`].
    WouldDeadlock,
}

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::Config,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Transport { kind, .. } => match kind {
                TransportErrorKind::Timeout | TransportErrorKind::ConnectTimeout => {
                    ErrorKind::Timeout
                }
                TransportErrorKind::Tls => ErrorKind::Tls,
                _ => ErrorKind::Network,
            },
            Error::Server { .. } => ErrorKind::Network,
            Error::Api(api) if api.is_unauthorized() || api.is_refused_grant() => ErrorKind::Auth,
            Error::Api(_) => ErrorKind::Api,
            Error::Decode { .. } | Error::BodyTooLarge { .. } => ErrorKind::Decode,
            Error::Shutdown => ErrorKind::Shutdown,
            Error::WouldDeadlock => ErrorKind::WouldDeadlock,
        }
    }

    /// The server's error, when the server answered with a non-zero `code`.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The HTTP status of the response, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Api(api) => Some(api.http_status),
            Error::Decode { http_status, .. }
            | Error::Server { http_status, .. }
            | Error::BodyTooLarge { http_status, .. } => Some(*http_status),
            _ => None,
        }
    }

    /// The envelope trace id of the failed call, for cloud-storage calls.
    pub fn trace_id(&self) -> Option<&str> {
        match self {
            Error::Api(api) => api.trace_id.as_deref(),
            Error::Transport { trace_id, .. }
            | Error::Decode { trace_id, .. }
            | Error::Server { trace_id, .. }
            | Error::BodyTooLarge { trace_id, .. } => trace_id.as_deref(),
            _ => None,
        }
    }

    /// The failed attempts of the call, in order, with how each failed: every host it moved away
    /// from, and the host whose failure ended the call when that failure was a host failure
    /// (transport, 5xx, 429, malformed). Empty when the first answer was final.
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            Error::Transport { attempts, .. }
            | Error::Decode { attempts, .. }
            | Error::Server { attempts, .. } => attempts.as_slice(),
            Error::Api(api) => api.attempts.as_slice(),
            _ => &[],
        }
    }

    /// Attaches the attempts of a failed-over call.
    pub(crate) fn with_attempts(mut self, trail: Vec<Attempt>) -> Self {
        // The last attempt failed before sending, an earlier one may have sent: the message
        // says so, as `request_may_have_been_sent` does.
        if let Error::Transport { kind, message, .. } = &mut self {
            if kind.before_request_sent() && trail.iter().any(|a| !a.failure.before_request_sent())
            {
                if let Some(cut) = message.strip_suffix("; nothing was sent") {
                    *message = cut.to_owned();
                }
                message.push_str(
                    "; nothing was sent by this attempt, but an earlier one may have reached the \
                     server",
                );
            }
        }
        match &mut self {
            Error::Transport { attempts, .. }
            | Error::Decode { attempts, .. }
            | Error::Server { attempts, .. } => attempts.0 = trail,
            Error::Api(api) => api.attempts.0 = trail,
            _ => {}
        }
        self
    }

    /// `true` for an authentication failure (see [`ApiError::is_unauthorized`]).
    pub fn is_unauthorized(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_unauthorized)
    }

    /// `false` only when no attempt of the call can have reached a server: the call was refused
    /// before sending (a configuration error, an invalid argument, a call that would deadlock),
    /// or every attempt failed before any byte of the request went out (DNS, connection refused,
    /// connect timeout, TLS handshake, proxy; see [`TransportErrorKind::before_request_sent`]).
    /// `true` otherwise: an answer arrived (the server had the request), or a connection broke,
    /// stalled or was cut by a shutdown after the request may have been written. For a purchase
    /// (`open`), `true` means "look before you buy again": the order may exist.
    pub fn request_may_have_been_sent(&self) -> bool {
        match self {
            Error::Config(_) | Error::InvalidArgument(_) | Error::WouldDeadlock => false,
            Error::Transport { kind, attempts, .. } => {
                !kind.before_request_sent()
                    || attempts
                        .as_slice()
                        .iter()
                        .any(|a| !a.failure.before_request_sent())
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(endpoint: Endpoint, http_status: u16, code: i64) -> Error {
        Error::Api(ApiError {
            endpoint,
            http_status,
            code,
            msg: String::new(),
            server_timestamp_ms: None,
            trace_id: None,
            attempts: Default::default(),
        })
    }

    #[test]
    fn kinds_separate_refused_credentials_from_server_failures() {
        assert_eq!(api(Endpoint::RestToken, 400, 400).kind(), ErrorKind::Auth);
        assert_eq!(api(Endpoint::RestToken, 200, 400).kind(), ErrorKind::Auth);
        assert_eq!(api(Endpoint::RestToken, 500, 500).kind(), ErrorKind::Api);
        assert_eq!(
            api(Endpoint::PackagesGetAll, 200, 401).kind(),
            ErrorKind::Auth
        );
        assert_eq!(
            api(Endpoint::PackagesGetAll, 401, 0).kind(),
            ErrorKind::Auth
        );
        assert_eq!(
            api(Endpoint::ThirdPartyLogin, 201, 400).kind(),
            ErrorKind::Api
        );
        assert_eq!(
            api(Endpoint::ThirdPartyLogin, 201, 999999).kind(),
            ErrorKind::Api
        );
    }

    #[test]
    fn only_failures_before_sending_are_marked_safe_to_resend() {
        use TransportErrorKind::*;
        for kind in [Dns, Connect, ConnectTimeout, Tls, Proxy] {
            assert!(kind.before_request_sent(), "{kind}");
        }
        for kind in [Timeout, Io, Other] {
            assert!(!kind.before_request_sent(), "{kind}");
        }
    }
}
