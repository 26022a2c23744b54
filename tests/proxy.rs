//! Field hardening, kind 4: proxies as curl users expect them, and never a secret in clear.
//! Against Debian's squid on loopback (one that allows `CONNECT`, one that refuses everything
//! with 403, and a proxy that is down), with the sandbox serving HTTPS as `api.sd-rtn.com`
//! (squid resolves that name from its own hosts file; nothing here asks a DNS server).
//!
//! The environment is the process's: the tests that set proxy variables hold `ENV` so that they
//! do not see each other's.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use agora_link::{Client, ClientConfig, ErrorKind, FailoverPolicy, Region, TransportErrorKind};
use agora_link_sandbox::{Sandbox, Squid, SquidPolicy, TlsIdentity};

static ENV: Mutex<()> = Mutex::new(());

const HOST: &str = "api.sd-rtn.com";
const PROXY_VARS: &[&str] = &[
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Sets the proxy variables (clearing the others) while held.
struct Env<'a>(#[allow(dead_code)] std::sync::MutexGuard<'a, ()>);

fn env(vars: &[(&str, &str)]) -> Env<'static> {
    let guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    for name in PROXY_VARS {
        std::env::remove_var(name);
    }
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
    Env(guard)
}

impl Drop for Env<'_> {
    fn drop(&mut self) {
        for name in PROXY_VARS {
            std::env::remove_var(name);
        }
    }
}

struct World {
    sandbox: Sandbox,
    ca: String,
    /// `https://api.sd-rtn.com:<port>`
    base_url: String,
}

async fn world() -> World {
    let (identity, ca) = TlsIdentity::generate_for(&[HOST]).unwrap();
    let sandbox = Sandbox::builder().tls(identity).start().await.unwrap();
    let base_url = format!("https://{HOST}:{}", sandbox.address().port());
    World {
        sandbox,
        ca,
        base_url,
    }
}

/// A client for `api.sd-rtn.com` through whatever proxy `configure` sets: one attempt, no
/// other hosts (nothing may reach for a real Agora host).
fn client(
    world: &World,
    configure: impl FnOnce(agora_link::ClientConfigBuilder) -> agora_link::ClientConfigBuilder,
) -> agora_link::Result<Client> {
    let builder = ClientConfig::builder(
        Region::China,
        agora_link_sandbox::DEFAULT_CLIENT_ID,
        agora_link_sandbox::DEFAULT_CLIENT_SECRET,
    )
    .password_grant(
        agora_link_sandbox::DEFAULT_USERNAME,
        agora_link_sandbox::DEFAULT_PASSWORD,
    )
    .base_url(world.base_url.clone())
    .add_root_certificates_pem(world.ca.as_bytes().to_vec())
    .connect_timeout(Duration::from_secs(3))
    .request_timeout(Duration::from_secs(5))
    .failover(FailoverPolicy::disabled());
    Client::new(configure(builder).build()?)
}

async fn squid(policy: SquidPolicy) -> Squid {
    Squid::start(policy, &[(HOST, "127.0.0.1")])
        .await
        .expect("squid (.ci/run installs it)")
}

/// Waits up to 5 s for squid's access log to name `what` (a tunnel is logged when it closes).
async fn logged(squid: &Squid, what: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if squid.access_log().iter().any(|line| line.contains(what)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// squid's log lines of real requests (not the readiness probe's bare connection).
fn requests(squid: &Squid) -> Vec<String> {
    squid
        .access_log()
        .into_iter()
        .filter(|line| !line.contains("transaction-end-before-headers"))
        .collect()
}

/// The number of squid's request lines once no more arrive for 300 ms (earlier cases' tunnels
/// are logged when their connections close).
async fn settled_count(squid: &Squid) -> usize {
    let mut count = requests(squid).len();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = requests(squid).len();
        if now == count {
            break;
        }
        count = now;
    }
    count
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_goes_through_the_configured_proxy_with_connect() {
    let world = world().await;
    let squid = squid(SquidPolicy::AllowAll).await;
    let _env = env(&[]);
    {
        let client = client(&world, |b| b.proxy(squid.url())).unwrap();
        assert_eq!(client.list_packages().await.unwrap().len(), 5);
    }
    assert!(
        logged(
            &squid,
            &format!("CONNECT {HOST}:{}", world.sandbox.address().port())
        )
        .await,
        "{:?}",
        squid.access_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_is_read_as_curl_reads_it() {
    let world = world().await;
    let squid = squid(SquidPolicy::AllowAll).await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let connect = format!("CONNECT {HOST}:{}", world.sandbox.address().port());
    for (vars, through_squid) in [
        (vec![("HTTPS_PROXY", squid.url())], true),
        (
            vec![("https_proxy", squid.url()), ("HTTPS_PROXY", dead.clone())],
            true,
        ),
        (vec![("ALL_PROXY", squid.url())], true),
        (
            vec![("all_proxy", squid.url().replace("http://", ""))],
            true,
        ),
        // HTTP_PROXY is not for https URLs (and upper-case HTTP_PROXY is not read at all).
        (
            vec![("HTTP_PROXY", dead.clone()), ("http_proxy", dead.clone())],
            false,
        ),
        (
            vec![
                ("HTTPS_PROXY", dead.clone()),
                ("NO_PROXY", "sd-rtn.com".into()),
            ],
            false,
        ),
        (
            vec![
                ("HTTPS_PROXY", dead.clone()),
                ("no_proxy", ".sd-rtn.com".into()),
            ],
            false,
        ),
        (
            vec![("HTTPS_PROXY", dead.clone()), ("NO_PROXY", "*".into())],
            false,
        ),
    ] {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let before = settled_count(&squid).await;
        let result = {
            let _env = env(&pairs);
            // Direct requests need the name: pinned to the sandbox (without a proxy in play,
            // a resolve override changes nothing else).
            let client = client(&world, |b| {
                if through_squid {
                    b
                } else {
                    b.resolve(HOST, world.sandbox.address())
                }
            })
            .unwrap();
            client.list_packages().await.map(|p| p.len())
        };
        assert_eq!(
            result.unwrap_or_else(|e| panic!("{vars:?}: {e}")),
            5,
            "{vars:?}"
        );
        if through_squid {
            // Wait for this case's tunnel to be logged (when its connection closes), so that
            // the next case counts from after it.
            let started = Instant::now();
            while requests(&squid).len() <= before && started.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(logged(&squid, &connect).await, "{vars:?}");
            assert!(requests(&squid).len() > before, "{vars:?}");
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(
                requests(&squid).len(),
                before,
                "{vars:?} went through squid"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_plain_http_and_pinned_hosts_never_use_a_proxy() {
    let sandbox = common::sandbox().await;
    let squid = squid(SquidPolicy::AllowAll).await;
    let url = squid.url();
    // A plain-HTTP loopback endpoint (carrying the password and client secret in clear) with
    // every proxy variable pointing at squid: nothing reaches squid.
    {
        let _env = env(&[
            ("HTTP_PROXY", &url),
            ("http_proxy", &url),
            ("HTTPS_PROXY", &url),
            ("ALL_PROXY", &url),
        ]);
        let client = common::client_for(&sandbox);
        client.list_packages().await.unwrap();
        let explicit = common::build(common::config_for(&sandbox).proxy(url.clone()));
        explicit.list_packages().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(requests(&squid).is_empty(), "{:?}", squid.access_log());

    // Pinned hosts: a resolve override goes direct even with a proxy in the environment, and
    // resolve_overrides_only ignores the environment's proxy and refuses an explicit one.
    let world = world().await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let _env = env(&[("HTTPS_PROXY", &dead)]);
    let pinned = client(&world, |b| b.resolve(HOST, world.sandbox.address())).unwrap();
    assert_eq!(pinned.list_packages().await.unwrap().len(), 5);
    let only = client(&world, |b| {
        b.resolve(HOST, world.sandbox.address())
            .resolve_overrides_only(true)
    })
    .unwrap();
    assert_eq!(only.list_packages().await.unwrap().len(), 5);
    let refused = client(&world, |b| {
        b.resolve_overrides_only(true).proxy(dead.clone())
    });
    assert!(
        matches!(refused, Err(agora_link::Error::Config(_))),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_refuses_or_is_down_is_named_and_the_host_is_not_blamed() {
    let world = world().await;
    let squid = squid(SquidPolicy::DenyAll).await;
    let _env = env(&[]);
    let refusing = client(&world, |b| b.proxy(squid.url())).unwrap();
    let error = refusing.list_packages().await.unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(
            &error,
            agora_link::Error::Transport {
                kind: TransportErrorKind::Proxy,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.kind(), ErrorKind::Network);
    assert!(
        text.contains(&squid.url()) && text.contains("403"),
        "{text}"
    );
    assert!(!text.contains("connection refused"), "{text}");
    for host in refusing.stats().hosts {
        assert_eq!(host.state, agora_link::HostState::Healthy, "{host:?}");
        assert_eq!(host.failures, 0, "{host:?}: blamed for the proxy's refusal");
    }

    // Down, with credentials in its URL: named without them.
    let port = closed_port();
    let down = client(&world, |b| {
        b.proxy(format!("http://alice:Pr0xy-Pa55@127.0.0.1:{port}"))
    })
    .unwrap();
    let error = down.list_packages().await.unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(
            &error,
            agora_link::Error::Transport {
                kind: TransportErrorKind::Proxy,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        text.contains(&format!("http://***@127.0.0.1:{port}")),
        "{text}"
    );
    for shown in [text, format!("{error:?}"), format!("{:?}", down.config())] {
        assert!(!shown.contains("Pr0xy-Pa55"), "{shown}");
    }
    // An unusable proxy is a configuration error that does not echo it.
    let bad = client(&world, |b| b.proxy("socks5://bob:S3cret@127.0.0.1:1080"));
    match bad {
        Err(agora_link::Error::Config(message)) => {
            assert!(!message.contains("S3cret"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}
