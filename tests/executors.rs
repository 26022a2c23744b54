//! The client works when polled by an executor that is not tokio: the HTTP exchange then runs on
//! the library's own runtime instead of panicking for lack of a reactor.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// The smallest executor there is: poll, park until woken, repeat. No tokio anywhere.
fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn calls_work_from_a_non_tokio_executor() {
    // The sandbox runs on its own tokio runtime; the test thread has none.
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = server_runtime.block_on(common::sandbox());
    assert!(tokio::runtime::Handle::try_current().is_err());

    let client = common::client_for(&sandbox);
    let packages = block_on(client.list_packages()).expect("getAll outside tokio");
    assert_eq!(packages.len(), 5);
    let account = block_on(client.register_account("p", "no-tokio")).expect("register");
    let login = block_on(client.login_account("p", "no-tokio", &account.token)).expect("login");
    assert!(!login.gy_token.pool.identity_id.is_empty());
    assert_eq!(sandbox.stats().token_requests(), 1);
}

#[test]
fn a_client_used_from_several_runtimes_never_strands_a_connection() {
    // Connections are driven by one runtime that keeps running (here the library runtime, as
    // the client is created outside any runtime). Were they driven by the runtime that made
    // them, the second runtime would pick a pooled connection whose driver sits on the first,
    // idle runtime, and wait for the request timeout.
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = server_runtime.block_on(common::sandbox());
    let client = common::build(
        common::config_for(&sandbox).request_timeout(std::time::Duration::from_secs(3)),
    );
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for round in 0..3 {
        first
            .block_on(client.list_packages())
            .unwrap_or_else(|e| panic!("round {round}, first: {e}"));
        second
            .block_on(client.list_packages())
            .unwrap_or_else(|e| panic!("round {round}, second: {e}"));
        block_on(client.list_packages())
            .unwrap_or_else(|e| panic!("round {round}, no runtime: {e}"));
    }
    drop(first);
    second
        .block_on(client.list_packages())
        .expect("after the first runtime is gone");
}
