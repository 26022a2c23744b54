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
