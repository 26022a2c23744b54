//! The whole client fault matrix (see `tests/support/fault_matrix.rs`): every call kind × every
//! strike point × every kind of strike, on the Rust API and the C ABI (blocking and
//! asynchronous). Prints the size of the matrix and every violated promise; exits 1 on any.
//!
//! `cargo run --release --example fault_matrix [-- CONCURRENCY [SURFACES [CALLS]]]`, SURFACES a
//! comma list of `rust`, `c`, `c-async` (default: all three), CALLS `all` (the default) or
//! `at-most-once` (`open`, `register`, `removeAccount` and the password token grant). `.ci/run`
//! runs every call on the Rust API and the at-most-once calls on the C ABI.

#[path = "../tests/support/fault_matrix.rs"]
mod fault_matrix;

use std::time::Instant;

use fault_matrix::{CallKind, Surface};

fn main() {
    let mut args = std::env::args().skip(1);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(48);
    let surfaces: Vec<Surface> = args
        .next()
        .unwrap_or_else(|| "rust,c,c-async".into())
        .split(',')
        .filter_map(|s| match s {
            "rust" => Some(Surface::Rust),
            "c" => Some(Surface::CBlocking),
            "c-async" => Some(Surface::CAsync),
            _ => None,
        })
        .collect();
    let calls: Vec<CallKind> = match args.next().as_deref() {
        Some("at-most-once") => CallKind::ALL
            .into_iter()
            .filter(|k| k.at_most_once() || *k == CallKind::TokenPassword)
            .collect(),
        _ => CallKind::ALL.to_vec(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let kinds = fault_matrix::all_kinds();
    let report = runtime.block_on(fault_matrix::run(&surfaces, &calls, &kinds, concurrency));
    println!("fault matrix: {} strike kinds ({:?})", kinds.len(), kinds);
    for (surface, kind, request, response, points) in &report.shapes {
        println!(
            "  {surface:?} {kind:?}: request {request} B, response {response} B -> {points} points"
        );
    }
    println!(
        "fault matrix: {} points ({} calls succeeded, {} failed with an honest error), {} violations, {:.1} s",
        report.points,
        report.succeeded,
        report.failed_honestly,
        report.violations.len(),
        started.elapsed().as_secs_f64()
    );
    for v in report.violations.iter().take(50) {
        println!("violation: {v}");
    }
    if !report.violations.is_empty() {
        std::process::exit(1);
    }
}
