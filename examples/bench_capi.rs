//! Benchmark: the cost of the C ABI. The same third-party login, sequentially, through
//! (a) the blocking C call `agora_link_client_login_account` (called through its `extern "C"`
//! symbol, converting every field to C strings and freeing the result), and (b) the Rust API,
//! blocking on the same library runtime; plus (c) the Rust API awaited in a loop inside one
//! tokio runtime, for reference. One in-process sandbox; paired rounds; medians. The ratio is
//! measured twice: from whole runs of each side (which go first alternates), and from runs in
//! which the two alternate call by call, each call timed (the machine's drift then falls on both
//! sides alike; this is the figure the goal, C ≥ 0.98× Rust, is checked against).
//!
//! `cargo run --release --example bench_capi -- [logins per run, default 3000] [rounds, default 7]`

use std::ffi::CString;
use std::ptr;
use std::time::Instant;

use agora_link::capi::*;
use agora_link::{Client, ClientConfig, Region};
use agora_link_sandbox::{
    Sandbox, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn rate(calls: usize, run: impl FnOnce()) -> f64 {
    let started = Instant::now();
    run();
    calls as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);

    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sandbox = server.block_on(Sandbox::builder().start()).unwrap();
    let base = sandbox.base_url();

    // The Rust client, and the C client built through the C ABI, with the same configuration.
    let rust = Client::new(
        ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .password_grant(DEFAULT_USERNAME, DEFAULT_PASSWORD)
            .base_url(&base)
            .build()
            .unwrap(),
    )
    .unwrap();
    let c = |s: &str| CString::new(s).unwrap();
    let (id, secret, user, password, url) = (
        c(DEFAULT_CLIENT_ID),
        c(DEFAULT_CLIENT_SECRET),
        c(DEFAULT_USERNAME),
        c(DEFAULT_PASSWORD),
        c(&base),
    );
    let mut config = ptr::null_mut();
    let mut c_client = ptr::null_mut();
    // SAFETY: valid NUL-terminated strings and writable out-pointers.
    unsafe {
        assert_eq!(
            agora_link_config_new(
                AGORA_LINK_REGION_CN,
                id.as_ptr(),
                secret.as_ptr(),
                &mut config,
                ptr::null_mut()
            ),
            agora_link_result::AGORA_LINK_OK
        );
        agora_link_config_set_password_grant(
            config,
            user.as_ptr(),
            password.as_ptr(),
            ptr::null_mut(),
        );
        agora_link_config_set_base_url(config, url.as_ptr(), ptr::null_mut());
        assert_eq!(
            agora_link_client_new(config, &mut c_client, ptr::null_mut()),
            agora_link_result::AGORA_LINK_OK
        );
        agora_link_config_free(config);
    }
    let account =
        agora_link::runtime::block_on(rust.register_account("bench", "bench-capi")).unwrap();
    let (project, name, token) = (c("bench"), c("bench-capi"), c(account.token.expose()));

    let c_login = || {
        let mut login = ptr::null_mut();
        // SAFETY: live client, valid strings, writable out-pointer; the result is freed.
        unsafe {
            let result = agora_link_client_login_account(
                c_client,
                project.as_ptr(),
                name.as_ptr(),
                token.as_ptr(),
                &mut login,
                ptr::null_mut(),
            );
            assert_eq!(result, agora_link_result::AGORA_LINK_OK);
            assert!(!(*agora_link_login_get(login)).identity_id.is_null());
            agora_link_login_free(login);
        }
    };
    let rust_login = || {
        let login = agora_link::runtime::block_on(rust.login_account(
            "bench",
            "bench-capi",
            &account.token,
        ))
        .unwrap();
        assert!(!login.gy_token.pool.identity_id.is_empty());
    };
    for _ in 0..200 {
        c_login();
        rust_login();
    }
    let user_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut c_rates, mut rust_rates, mut async_rates, mut ratios) =
        (vec![], vec![], vec![], vec![]);
    let mut interleaved_ratios = vec![];
    for round in 0..rounds {
        let run_c = || rate(calls, || (0..calls).for_each(|_| c_login()));
        let run_rust = || rate(calls, || (0..calls).for_each(|_| rust_login()));
        let (c_rate, rust_rate) = if round % 2 == 0 {
            let c = run_c();
            (c, run_rust())
        } else {
            let r = run_rust();
            (run_c(), r)
        };
        let async_rate = rate(calls, || {
            user_runtime.block_on(async {
                for _ in 0..calls {
                    rust.login_account("bench", "bench-capi", &account.token)
                        .await
                        .unwrap();
                }
            })
        });
        // Call by call: C, Rust, C, Rust, … (which starts alternates by round).
        let (mut c_time, mut rust_time) = (0f64, 0f64);
        for call in 0..calls * 2 {
            let started = Instant::now();
            if (call + round) % 2 == 0 {
                c_login();
                c_time += started.elapsed().as_secs_f64();
            } else {
                rust_login();
                rust_time += started.elapsed().as_secs_f64();
            }
        }
        interleaved_ratios.push(rust_time / c_time);
        c_rates.push(c_rate);
        rust_rates.push(rust_rate);
        async_rates.push(async_rate);
        ratios.push(c_rate / rust_rate);
    }
    let (c_rate, rust_rate) = (median(&mut c_rates), median(&mut rust_rates));
    println!("bench_capi: {calls} sequential logins per run, median of {rounds} paired rounds");
    println!(
        "  C ABI, blocking                 {c_rate:>8.0} calls/s  ({:.1} us/call)",
        1e6 / c_rate
    );
    println!(
        "  Rust API, blocking (same path)  {rust_rate:>8.0} calls/s  ({:.1} us/call)",
        1e6 / rust_rate
    );
    println!(
        "  Rust API, awaited in a runtime  {:>8.0} calls/s",
        median(&mut async_rates)
    );
    println!(
        "  C / Rust ratio {:.2}x from whole runs; C ABI overhead {:.1} us per call",
        median(&mut ratios),
        1e6 / c_rate - 1e6 / rust_rate
    );
    println!(
        "  C / Rust ratio {:.3}x alternating call by call (goal: at least 0.98x)",
        median(&mut interleaved_ratios)
    );
    // SAFETY: the client is live and freed once.
    unsafe { agora_link_client_free(c_client) };
    drop(sandbox);
}
