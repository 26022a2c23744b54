//! Shutting the library runtime down while blocking calls are in flight: each returns
//! `Error::Shutdown` (the C ABI's and the bindings' blocking calls run this way). Before the
//! fix, tokio panicked in those calls ("A Tokio 1.x context was found, but it is being
//! shutdown"), which the bindings reported as an internal error and a `panic = "abort"`
//! firmware build would have turned into an abort. Its own test binary: shutdown is final for
//! the process.

mod common;

use std::time::Duration;

use agora_link::ErrorKind;
use agora_link_sandbox::{Fault, FaultAction};

#[test]
fn blocking_calls_in_flight_return_shutdown() {
    // The sandbox runs on a tokio runtime of its own; the calls below run on the library's.
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = server_runtime.block_on(common::sandbox());
    let client = common::client_for(&sandbox);
    // The token first, so that every call below waits on the delayed getAll.
    agora_link::runtime::block_on(client.access_token()).expect("token");
    sandbox.inject(Fault::new(
        "/getAll",
        FaultAction::Delay { millis: 10_000 },
        100,
    ));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || agora_link::runtime::block_on(client.list_packages()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(agora_link::runtime::shutdown(Duration::ZERO).expect("shutdown"));
    for caller in callers {
        let outcome = caller.join().expect("no panic in a blocking call");
        let error = outcome.expect_err("the call cannot have finished");
        assert_eq!(error.kind(), ErrorKind::Shutdown, "{error}");
    }
    // Later calls fail the same way, blocking or not.
    let error = agora_link::runtime::block_on(client.list_packages()).expect_err("shut down");
    assert_eq!(error.kind(), ErrorKind::Shutdown);
    drop(sandbox);
}
