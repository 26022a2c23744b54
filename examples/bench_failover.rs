//! Benchmark: domain switching with the primary host blackholed (connection attempts time out).
//!
//! `cargo run --release --example bench_failover -- [calls, default 100] [connect timeout ms, default 1000] [rounds, default 5]`
//!
//! One sandbox serves the spec's hosts over TLS on loopback (one listener per host). Two clients
//! share it: a *healthy* one whose primary is `api.agora.io` (up), and a *failover* one whose
//! primary is `api.sd-rtn.com`, blackholed after its token was fetched. Printed:
//! * time to the failover client's first success, against the connect timeout plus two round
//!   trips on a new connection (TCP + TLS + request, measured here; target: no more than that);
//! * the median latency of its next calls relative to the healthy client's median, the two
//!   clients' calls interleaved (target: at most 1.2×).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora_link::{
    AgoraRegion, Client, ClientConfig, FailoverObserver, FailoverPolicy, Region, RegionalFallback,
    ServerLocation,
};
use agora_link_sandbox::{
    HostMode, Sandbox, TlsIdentity, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
};

const HOSTS: [&str; 4] = [
    "api.sd-rtn.com",
    "api.agora.io",
    "api-cn-east-1.sd-rtn.com",
    "api-cn-east-1.agora.io",
];

fn client(
    sandbox: &Sandbox,
    ca: &str,
    location: ServerLocation,
    connect_timeout: Duration,
    observer: Option<FailoverObserver>,
) -> Client {
    let mut builder =
        ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .password_grant(DEFAULT_USERNAME, DEFAULT_PASSWORD)
            .add_root_certificates_pem(ca.to_owned())
            .use_bundled_roots(false)
            .resolve_overrides_only(true)
            .connect_timeout(connect_timeout)
            .failover(FailoverPolicy {
                server_location: Some(location),
                regional: RegionalFallback::Adjacent {
                    region: Some(AgoraRegion::CnNorth1),
                    address_map: Vec::new(),
                },
                observer,
                ..FailoverPolicy::default()
            });
    for host in HOSTS {
        builder = builder.resolve(host, sandbox.host_address(host).expect("virtual host"));
    }
    Client::new(builder.build().expect("config")).expect("client")
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let connect_timeout =
        Duration::from_millis(args.next().and_then(|a| a.parse().ok()).unwrap_or(1000u64));
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);

    let (identity, ca) = TlsIdentity::generate_for(&HOSTS).expect("certificate");
    let mut builder = Sandbox::builder().tls(identity);
    for host in HOSTS {
        builder = builder.host(host);
    }
    let sandbox = builder.start().await.expect("sandbox");

    let healthy = client(
        &sandbox,
        &ca,
        ServerLocation::Elsewhere,
        connect_timeout,
        None,
    );
    healthy.access_token().await.expect("token");
    for _ in 0..20 {
        healthy.list_packages().await.expect("healthy call");
    }
    // A round trip on a new connection (TCP and TLS handshakes, then the request: what the
    // first call to the next host costs), measured as the token request of fresh clients.
    let mut cold = Vec::new();
    for _ in 0..21 {
        let fresh = client(
            &sandbox,
            &ca,
            ServerLocation::Elsewhere,
            connect_timeout,
            None,
        );
        let started = Instant::now();
        fresh.access_token().await.expect("token");
        cold.push(started.elapsed());
    }
    let round_trip = median(&mut cold);

    // Several rounds of: fresh client on a healthy primary, primary blackholed, first call.
    let mut first_successes = Vec::new();
    let mut switch_times = Vec::new();
    let mut failing = None;
    for _ in 0..rounds {
        sandbox
            .set_host_mode(HOSTS[0], HostMode::Up)
            .await
            .expect("primary up");
        // When the failover step happened (the end of the primary's connect timeout).
        let switched: Arc<Mutex<Option<Instant>>> = Arc::default();
        let observer = {
            let switched = switched.clone();
            FailoverObserver::new(move |_| {
                switched.lock().unwrap().get_or_insert_with(Instant::now);
            })
        };
        let client = client(
            &sandbox,
            &ca,
            ServerLocation::MainlandChina,
            connect_timeout,
            Some(observer),
        );
        client.access_token().await.expect("token");
        client.list_packages().await.expect("warm-up call");
        sandbox
            .set_host_mode(HOSTS[0], HostMode::Blackhole)
            .await
            .expect("blackhole");
        let started = Instant::now();
        client
            .list_packages()
            .await
            .expect("first call after the blackhole");
        first_successes.push(started.elapsed());
        let at = switched.lock().unwrap().expect("a failover happened");
        switch_times.push(at - started);
        failing = Some(client);
    }
    let failing = failing.expect("at least one round");
    let first_success = median(&mut first_successes);
    let gave_up_primary = median(&mut switch_times);
    // Warm-up of the steady state.
    for _ in 0..20 {
        failing.list_packages().await.expect("failover call");
    }

    let mut healthy_samples = Vec::with_capacity(calls);
    let mut failover_samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        healthy.list_packages().await.expect("healthy call");
        healthy_samples.push(started.elapsed());
        let started = Instant::now();
        failing.list_packages().await.expect("failover call");
        failover_samples.push(started.elapsed());
    }
    let healthy_median = median(&mut healthy_samples);
    let failover_median = median(&mut failover_samples);
    let stats = failing.stats();
    let primary = stats.host(HOSTS[0]).expect("primary stats");
    let budget = connect_timeout + 2 * round_trip;

    println!(
        "primary blackholed, connect timeout {} ms, medians of {rounds} rounds",
        connect_timeout.as_millis()
    );
    println!(
        "first success: {:.1} ms (connect timeout + {:.2} ms; target <= {:.1} ms = timeout + 2 x {:.3} ms new-connection round trip) {}",
        ms(first_success),
        ms(first_success.saturating_sub(connect_timeout)),
        ms(budget),
        ms(round_trip),
        if first_success <= budget { "OK" } else { "OVER" }
    );
    println!(
        "  of which: primary given up after {:.2} ms, next host answered {:.2} ms later (<= 2 round trips: {})",
        ms(gave_up_primary),
        ms(first_success.saturating_sub(gave_up_primary)),
        first_success.saturating_sub(gave_up_primary) <= 2 * round_trip
    );
    println!(
        "next {calls} calls: median {:.3} ms vs healthy {:.3} ms = {:.2}x (target <= 1.2x)",
        ms(failover_median),
        ms(healthy_median),
        failover_median.as_secs_f64() / healthy_median.as_secs_f64()
    );
    println!(
        "primary: {} attempts, {} failures, {} skipped; failovers {}",
        primary.attempts, primary.failures, primary.skipped, stats.failovers
    );
}
