//! A connection's byte stream, reporting to its [`Activity`] when bytes arrive.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::tracker::{Activity, Admission, SocketSlot, Tracker};

pin_project_lite::pin_project! {
    /// `T` with every read that brings bytes reported to the connection's activity, and its
    /// socket recorded in the tracker while it is open.
    pub(crate) struct TrackedIo<T> {
        // Declared (so dropped) before `inner`: the tracker forgets the socket before it closes.
        slot: Option<SocketSlot>,
        #[pin]
        inner: T,
        activity: Arc<Activity>,
        tracker: Tracker,
    }
}

impl TrackedIo<tokio::net::TcpStream> {
    /// Wraps the socket of a connection just admitted, recording it in the tracker until this
    /// is dropped (the record goes first: `slot` is declared before `inner`, so the descriptor is
    /// never asked about once closed).
    pub(crate) fn new(
        inner: tokio::net::TcpStream,
        admission: &Admission,
        tracker: Tracker,
    ) -> Self {
        #[cfg(unix)]
        let slot = {
            use std::os::unix::io::AsRawFd as _;
            Some(admission.attach_socket(inner.as_raw_fd()))
        };
        #[cfg(not(unix))]
        let slot = None;
        TrackedIo {
            slot,
            inner,
            activity: admission.activity.clone(),
            tracker,
        }
    }
}

impl<T: AsyncRead> AsyncRead for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.inner.poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.on_read(this.tracker);
        }
        polled
    }
}

impl<T: AsyncWrite> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
