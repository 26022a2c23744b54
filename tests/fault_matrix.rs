//! The client fault matrix in the test suite (see `tests/support/fault_matrix.rs`): the calls
//! that must reach the server at most once, through the Rust API and the C ABI, broken by a
//! garbage TLS record and by a reset at every byte offset of their request and response. The
//! whole matrix (every call, every kind of strike) runs in release as
//! `cargo run --release --example fault_matrix` in `.ci/run`.

#[path = "support/fault_matrix.rs"]
mod fault_matrix;

use agora_link_sandbox::StrikeKind;
use fault_matrix::{CallKind, Surface};

async fn check(surfaces: &[Surface], kinds: &[CallKind], strikes: &[StrikeKind]) {
    let report = fault_matrix::run(surfaces, kinds, strikes, 16).await;
    for v in &report.violations {
        eprintln!("violation: {v}");
    }
    assert!(report.points > 0);
    assert!(
        report.violations.is_empty(),
        "{} violations in {} points; first: {}",
        report.violations.len(),
        report.points,
        report.violations[0]
    );
}

/// Counter-example 1 of the issue: a garbage record after the server read the whole purchase
/// was classified as a TLS failure (nothing sent) and the purchase failed over to the other
/// host. Every offset of the request and the response, both at-most-once calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_tls_record_after_sending_is_never_nothing_was_sent() {
    check(
        &[Surface::Rust],
        &[CallKind::Open, CallKind::Register, CallKind::Remove],
        &[StrikeKind::Garbage],
    )
    .await;
}
