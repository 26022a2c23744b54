//! Field hardening, kind 5: a purchase is not lost to a connection the server already closed.
//!
//! The sandbox closes, unanswered, every request that arrives on a connection that already
//! carried one — what a client meets when it reuses a pooled connection just as the server
//! closes it for being idle, made deterministic. A purchase (`open`) never reuses a pooled
//! connection, so none is lost and none is sent twice; an idempotent listing that meets a closed
//! pooled connection is retried at once on a fresh one, without the spec's one-second back-off.
//! (`scripts/test-keepalive` runs the same traffic through a real nginx with
//! `keepalive_timeout 1s`.)

mod common;

use std::time::{Duration, Instant};

use agora_link::{FailoverPolicy, OpenPackageRequest};

fn purchase(i: usize) -> OpenPackageRequest {
    OpenPackageRequest {
        app_id: "keepalive-app".into(),
        user_id: "keepalive-user".into(),
        device_id: format!("device-{i}"),
        payment_order_id: format!("keepalive-pay-{i}"),
        cloud_record_package_id: 5,
        order_number: 1,
    }
}

#[tokio::test]
async fn no_purchase_is_lost_or_repeated_and_no_listing_waits_for_back_off() {
    let sandbox = common::sandbox().await;
    // The spec's real back-off (1 s, 3 s, 6 s): a listing that had to back off would show.
    let client = common::build(common::config_for(&sandbox).failover(FailoverPolicy::default()));
    client.list_packages().await.unwrap();
    sandbox.set_close_reused_connections(true);
    let orders_before = sandbox.orders().len();
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        let packages = client
            .list_packages()
            .await
            .expect("a listing recovers at once");
        assert_eq!(packages.len(), 5);
        slowest = slowest.max(started.elapsed());
        client
            .open_package(&purchase(i))
            .await
            .unwrap_or_else(|e| panic!("purchase {i} lost to a closed connection: {e}"));
    }
    let orders: Vec<_> = sandbox.orders().into_iter().skip(orders_before).collect();
    assert_eq!(
        orders.len(),
        20,
        "every purchase reached the server exactly once"
    );
    for i in 0..20 {
        let id = format!("keepalive-pay-{i}");
        assert_eq!(
            orders.iter().filter(|o| o.payment_order_id == id).count(),
            1,
            "{id}"
        );
    }
    let closed = sandbox.stats().reused_connections_closed;
    assert!(
        closed >= 5,
        "the listings met closed pooled connections ({closed})"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a listing waited {slowest:?}: it backed off instead of retrying on a fresh connection"
    );
}

#[tokio::test]
async fn the_pool_idle_timeout_is_configurable() {
    let sandbox = common::sandbox().await;
    let client =
        common::build(common::config_for(&sandbox).pool_idle_timeout(Duration::from_millis(200)));
    client.list_packages().await.unwrap();
    sandbox.set_close_reused_connections(true);
    // Idle longer than the pool keeps connections: the next listing opens a fresh one and is
    // never refused.
    tokio::time::sleep(Duration::from_millis(600)).await;
    client.list_packages().await.unwrap();
    assert_eq!(sandbox.stats().reused_connections_closed, 0);
}

/// The same traffic through a real nginx (Debian's) in front of the sandbox, closing idle
/// client connections after 300 ms, with calls about 300 ms apart: listings and purchases
/// interleaved, each purchase counted at the sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_closing_idle_connections_no_purchase_is_lost_or_repeated() {
    let sandbox = common::sandbox().await;
    let nginx = agora_link_sandbox::Nginx::start(sandbox.address(), Duration::from_millis(300))
        .await
        .expect("nginx (.ci/run installs it)");
    let client = common::build(
        common::config_for(&sandbox)
            .base_url(nginx.base_url())
            .add_root_certificates_pem(nginx.ca_pem().as_bytes().to_vec())
            .failover(FailoverPolicy::default()),
    );
    client.list_packages().await.unwrap();
    let orders_before = sandbox.orders().len();
    let rounds = 24;
    let mut slowest = Duration::ZERO;
    let mut failures = Vec::new();
    for i in 0..rounds {
        // About 300 ms apart, scanning across nginx's timeout in 5 ms steps: 270 to 330 ms.
        let gap = Duration::from_millis(270 + (i as u64 * 5) % 65);
        tokio::time::sleep(gap).await;
        let started = Instant::now();
        if let Err(e) = client.list_packages().await {
            failures.push(format!("listing {i}: {e}"));
        }
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(gap).await;
        if let Err(e) = client.open_package(&purchase(1000 + i)).await {
            failures.push(format!("purchase {i}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let orders: Vec<_> = sandbox.orders().into_iter().skip(orders_before).collect();
    assert_eq!(
        orders.len(),
        rounds,
        "every purchase reached the server exactly once"
    );
    for i in 0..rounds {
        let id = format!("keepalive-pay-{}", 1000 + i);
        assert_eq!(
            orders.iter().filter(|o| o.payment_order_id == id).count(),
            1,
            "{id}"
        );
    }
    assert!(
        slowest < Duration::from_millis(500),
        "a listing took {slowest:?}"
    );
}
