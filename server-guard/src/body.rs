//! Request bodies with a deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use std::sync::Arc;

use crate::tracker::{Activity, Tracker};

/// Marks a body pending on its connection until finished or dropped.
struct Pending(Arc<Activity>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.body_finished();
    }
}

/// The error a [`GuardedBody`] yields when the body is still arriving at its deadline
/// ([`crate::Limits::body_read_timeout`] after the request head). Servers answer it with
/// `408 Request Timeout`; find it with `error.downcast_ref::<BodyTimeout>()` (through
/// `std::error::Error::source` when wrapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// The error type of a [`GuardedBody`]: the transport's, or [`BodyTimeout`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project_lite::pin_project! {
    /// A request body that ends with [`BodyTimeout`] if it is not complete by its deadline.
    pub struct GuardedBody {
        #[pin]
        inner: hyper::body::Incoming,
        #[pin]
        deadline: tokio::time::Sleep,
        tracker: Tracker,
        expired: bool,
        pending: Option<Pending>,
    }
}

impl std::fmt::Debug for GuardedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedBody")
            .field("expired", &self.expired)
            .finish_non_exhaustive()
    }
}

impl GuardedBody {
    pub(crate) fn new(
        inner: hyper::body::Incoming,
        tracker: Tracker,
        activity: &Arc<Activity>,
    ) -> Self {
        let deadline = tokio::time::sleep(tracker.limits().body_read_timeout);
        let pending = (!inner.is_end_stream()).then(|| {
            activity.body_started();
            Pending(activity.clone())
        });
        GuardedBody {
            inner,
            deadline,
            tracker,
            expired: false,
            pending,
        }
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if *this.expired {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                if !matches!(frame, Some(Ok(_))) {
                    // The end of the body, or its failure.
                    this.pending.take();
                }
                Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
            }
            Poll::Pending => match this.deadline.poll(cx) {
                Poll::Ready(()) => {
                    *this.expired = true;
                    this.pending.take();
                    this.tracker.count_body_timeout();
                    Poll::Ready(Some(Err(Box::new(BodyTimeout))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
