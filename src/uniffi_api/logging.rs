//! Forwarding the SDK's `tracing` events to a logger of the host app.

use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use super::{AgoraLinkError, FailureKind};

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Diagnostic.
    Debug,
    /// Normal operation worth noting (token renewal, 401 replay).
    Info,
    /// Something went wrong but the SDK carried on.
    Warn,
    /// A failure.
    Error,
}

impl From<&Level> for LogLevel {
    fn from(level: &Level) -> Self {
        match *level {
            Level::TRACE => LogLevel::Trace,
            Level::DEBUG => LogLevel::Debug,
            Level::INFO => LogLevel::Info,
            Level::WARN => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }
}

/// One log record of the SDK. Never contains a secret.
#[derive(Debug, Clone, uniffi::Record)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// Where it comes from, e.g. `agora_link::transport`.
    pub target: String,
    /// The message and its fields (`key=value`).
    pub message: String,
}

/// Receives the SDK's log records, on whatever thread logs them (often a library thread).
#[uniffi::export(with_foreign)]
pub trait LogListener: Send + Sync {
    /// Called for each record at or above the configured level. Must return quickly.
    fn log(&self, record: LogRecord);
}

type Installed = Option<(Arc<dyn LogListener>, LogLevel)>;

static LISTENER: RwLock<Installed> = RwLock::new(None);
static INSTALL: std::sync::Once = std::sync::Once::new();

/// Sends the SDK's log records (targets `agora_link::*`) at `min_level` and above to `listener`, replacing any previous
/// listener. The first call installs a process-wide `tracing` subscriber; if the host process
/// already has one, this fails with `Config` (use that subscriber instead).
#[uniffi::export]
pub fn set_log_listener(
    listener: Arc<dyn LogListener>,
    min_level: LogLevel,
) -> Result<(), AgoraLinkError> {
    let mut installed = Ok(());
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(ForwardLayer);
        installed = tracing::subscriber::set_global_default(subscriber).map_err(|_| {
            AgoraLinkError::new(
                FailureKind::Config,
                "a global tracing subscriber is already installed in this process",
            )
        });
    });
    installed?;
    *LISTENER.write().unwrap_or_else(|p| p.into_inner()) = Some((listener, min_level));
    Ok(())
}

/// Stops forwarding log records.
#[uniffi::export]
pub fn clear_log_listener() {
    *LISTENER.write().unwrap_or_else(|p| p.into_inner()) = None;
}

struct ForwardLayer;

impl<S: Subscriber> Layer<S> for ForwardLayer {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let installed = LISTENER.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some((listener, min_level)) = installed else {
            return;
        };
        let level = LogLevel::from(event.metadata().level());
        // The SDK's own records only; its HTTP stack's trace chatter stays out.
        if level < min_level || !event.metadata().target().starts_with("agora_link") {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        listener.log(LogRecord {
            level,
            target: event.metadata().target().to_owned(),
            message: visitor.finish(),
        });
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_owned()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}
