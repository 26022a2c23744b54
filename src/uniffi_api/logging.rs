//! Forwarding the SDK's `tracing` events to a logger of the host app.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
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

impl LogLevel {
    /// Position in [`MIN_LEVEL`]'s scale (trace 0 … error 4).
    fn rank(self) -> u8 {
        match self {
            LogLevel::Trace => 0,
            LogLevel::Debug => 1,
            LogLevel::Info => 2,
            LogLevel::Warn => 3,
            LogLevel::Error => 4,
        }
    }
}

/// [`MIN_LEVEL`] when nothing is forwarded.
const OFF: u8 = u8::MAX;

/// The lowest forwarded level's rank, or [`OFF`]. Checked before an event is built, so a record
/// below it costs one atomic load.
static MIN_LEVEL: AtomicU8 = AtomicU8::new(OFF);

static LISTENER: RwLock<Option<Arc<dyn LogListener>>> = RwLock::new(None);
static INSTALL: std::sync::Once = std::sync::Once::new();

/// Sends the SDK's log records (targets `agora_link::*`) at `min_level` and above to `listener`,
/// replacing any previous listener. The first call installs a process-wide `tracing`
/// subscriber; if the host process already has one, this fails with `Config` (use that
/// subscriber instead).
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
    *LISTENER.write().unwrap_or_else(|p| p.into_inner()) = Some(listener);
    MIN_LEVEL.store(min_level.rank(), Ordering::Release);
    Ok(())
}

/// Changes the lowest level forwarded to the installed listener (absent, that is null, nil or
/// None: none, until the next call). Records below it are dropped before they are formatted,
/// at the cost of one atomic load: a host keeps this in step with its own logger's level (the
/// Python package does, for the `agora_link` logger). No effect without a listener.
#[uniffi::export]
pub fn set_log_level(min_level: Option<LogLevel>) {
    MIN_LEVEL.store(min_level.map_or(OFF, LogLevel::rank), Ordering::Release);
}

/// Stops forwarding log records.
#[uniffi::export]
pub fn clear_log_listener() {
    MIN_LEVEL.store(OFF, Ordering::Release);
    *LISTENER.write().unwrap_or_else(|p| p.into_inner()) = None;
}

/// Whether a record at `level` is forwarded now.
fn forwarded(level: &Level) -> bool {
    LogLevel::from(level).rank() >= MIN_LEVEL.load(Ordering::Acquire)
}

struct ForwardLayer;

impl<S: Subscriber> Layer<S> for ForwardLayer {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // The SDK's own records only; its HTTP stack's trace chatter is never even built. The
        // SDK's are checked per event against the current level.
        if metadata.target().starts_with("agora_link") {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _context: Context<'_, S>) -> bool {
        metadata.target().starts_with("agora_link") && forwarded(metadata.level())
    }

    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        // Only events `enabled` let through arrive here (the SDK's, at the current level).
        let Some(listener) = LISTENER.read().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        let level = LogLevel::from(event.metadata().level());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<(LogLevel, String)>>);

    impl LogListener for Collect {
        fn log(&self, record: LogRecord) {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((record.level, record.message));
        }
    }

    fn taken(collect: &Collect) -> Vec<(LogLevel, String)> {
        std::mem::take(&mut *collect.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    #[test]
    fn the_level_can_change_without_replacing_the_listener_and_other_targets_stay_out() {
        let collect = Arc::new(Collect::default());
        set_log_listener(collect.clone(), LogLevel::Warn).expect("installed");
        tracing::debug!(target: "agora_link::test", "hidden");
        tracing::warn!(target: "agora_link::test", "shown");
        tracing::error!(target: "hyper::proto", "not ours");
        assert_eq!(taken(&collect), vec![(LogLevel::Warn, "shown".to_owned())]);

        set_log_level(Some(LogLevel::Debug));
        tracing::debug!(target: "agora_link::test", n = 1, "now shown");
        tracing::trace!(target: "agora_link::test", "still hidden");
        assert_eq!(
            taken(&collect),
            vec![(LogLevel::Debug, "now shown n=1".to_owned())]
        );

        set_log_level(None);
        tracing::error!(target: "agora_link::test", "off");
        assert!(taken(&collect).is_empty());

        set_log_level(Some(LogLevel::Error));
        clear_log_listener();
        tracing::error!(target: "agora_link::test", "cleared");
        assert!(taken(&collect).is_empty());
    }
}
