//! The library's own tokio runtime, created on first use.
//!
//! The client's futures run on the caller's tokio runtime when there is one. When a future is
//! polled by another executor (smol, async-std, `futures::executor`, a foreign event loop), the
//! HTTP exchange is spawned onto this runtime instead and its result awaited, so no call ever
//! panics for lack of a tokio reactor.

use std::future::Future;

use once_cell::sync::OnceCell;
use tokio::runtime::{Handle, Runtime};

use crate::error::{Error, Result};

static RUNTIME: OnceCell<Runtime> = OnceCell::new();

/// The number of worker threads of the library runtime.
pub const WORKER_THREADS: usize = 2;

/// The library runtime (multi-thread, [`WORKER_THREADS`] workers, threads named
/// `agora-link-worker`), built on first use.
pub fn library_runtime() -> Result<&'static Runtime> {
    RUNTIME.get_or_try_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("agora-link-worker")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the library runtime: {e}")))
    })
}

/// Runs `future` on the current tokio runtime, or on the library runtime when the caller is not
/// inside one.
pub(crate) async fn run_on_tokio<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if Handle::try_current().is_ok() {
        return Ok(future.await);
    }
    library_runtime()?
        .spawn(future)
        .await
        .map_err(|e| Error::Config(format!("the library runtime dropped a call: {e}")))
}
