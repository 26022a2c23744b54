//! What an attempt was doing when its time ran out: still resolving the host's name, still
//! connecting (TCP, TLS, a proxy's tunnel), or past that. A deadline that expires before a new
//! connection was established means nothing was sent, so a purchase may still move on to the
//! next host; only a deadline that expires later is "may have been sent".
//!
//! Each attempt runs inside a task-local [`Phase`]; the resolver and a connector layer mark it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::TransportErrorKind;

/// The progress of one attempt's connection setup.
#[derive(Debug, Default)]
pub(crate) struct Phase {
    resolving: AtomicBool,
    resolved: AtomicBool,
    connecting: AtomicBool,
    connected: AtomicBool,
}

tokio::task_local! {
    static PHASE: Arc<Phase>;
}

/// The phase of the attempt being polled, if any.
pub(crate) fn current() -> Option<Arc<Phase>> {
    PHASE.try_with(Arc::clone).ok()
}

/// Runs `attempt` with `phase` as its task-local phase.
pub(crate) async fn scope<F: Future>(phase: Arc<Phase>, attempt: F) -> F::Output {
    PHASE.scope(phase, attempt).await
}

impl Phase {
    pub(crate) fn resolve_started(&self) {
        self.resolving.store(true, Ordering::Release);
    }

    pub(crate) fn resolve_finished(&self) {
        self.resolved.store(true, Ordering::Release);
    }

    /// When the attempt stopped before any byte could have been sent on a new connection: the
    /// kind to report (`Dns` while the name was being resolved, `ConnectTimeout` while
    /// connecting); `None` when the request may have been sent.
    pub(crate) fn unfinished_setup(&self) -> Option<TransportErrorKind> {
        if self.resolving.load(Ordering::Acquire) && !self.resolved.load(Ordering::Acquire) {
            Some(TransportErrorKind::Dns)
        } else if self.connecting.load(Ordering::Acquire) && !self.connected.load(Ordering::Acquire)
        {
            Some(TransportErrorKind::ConnectTimeout)
        } else {
            None
        }
    }
}

/// A connector layer marking the phase of the attempt that asked for a new connection.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PhaseLayer;

impl<S> tower_layer::Layer<S> for PhaseLayer {
    type Service = PhaseService<S>;

    fn layer(&self, inner: S) -> PhaseService<S> {
        PhaseService(inner)
    }
}

/// See [`PhaseLayer`].
#[derive(Debug, Clone)]
pub(crate) struct PhaseService<S>(S);

impl<S, R> tower_service::Service<R> for PhaseService<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> <Self as tower_service::Service<R>>::Future {
        // Taken now, while the attempt's task is being polled: the connection may be finished
        // in the background by another task.
        let phase = current();
        if let Some(phase) = &phase {
            phase.connecting.store(true, Ordering::Release);
        }
        let connecting = self.0.call(request);
        Box::pin(async move {
            let result = connecting.await;
            if let (Some(phase), Ok(_)) = (&phase, &result) {
                phase.connected.store(true, Ordering::Release);
            }
            result
        })
    }
}
