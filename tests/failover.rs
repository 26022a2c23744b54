//! Domain switching against a sandbox serving the spec's hosts over TLS, one listener per host:
//! the fault matrix (failure class × call kind × plan position), host health, deadline, back-off,
//! `Retry-After`, the purchase opt-in, counters.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora_link::{
    AgoraRegion, CallOptions, Client, ClientConfig, FailoverEvent, FailoverObserver,
    FailoverPolicy, FailureClass, HostState, OpenPackageRequest, Region, RegionalFallback,
};
use agora_link_sandbox::{
    Fault, FaultAction, HostMode, Sandbox, TlsIdentity, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD, DEFAULT_USERNAME,
};

const PRIMARY: &str = "api.sd-rtn.com";
const OTHER: &str = "api.agora.io";
/// The primary resolves to cn-north-1 (by the address map); the adjacent region is cn-east-1.
const REGIONAL: [&str; 2] = ["api-cn-east-1.sd-rtn.com", "api-cn-east-1.agora.io"];
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);
const DEADLINE: Duration = Duration::from_secs(10);

struct World {
    sandbox: Sandbox,
    ca: String,
    events: Arc<Mutex<Vec<FailoverEvent>>>,
}

impl World {
    async fn start() -> World {
        let names = [PRIMARY, OTHER, REGIONAL[0], REGIONAL[1]];
        let (identity, ca) = TlsIdentity::generate_for(&names).unwrap();
        let mut builder = Sandbox::builder().tls(identity);
        for name in names {
            builder = builder.host(name);
        }
        World {
            sandbox: builder.start().await.unwrap(),
            ca,
            events: Arc::default(),
        }
    }

    /// The spec's default plan, with a short back-off; `cooldown` zero turns host memory off.
    fn policy(&self, cooldown: Duration) -> FailoverPolicy {
        let events = self.events.clone();
        FailoverPolicy {
            backoff: vec![Duration::from_millis(30)],
            call_deadline: DEADLINE,
            cooldown,
            regional: RegionalFallback::Adjacent {
                region: Some(AgoraRegion::CnNorth1),
                address_map: vec![("127.0.0.0/8".parse().unwrap(), AgoraRegion::CnNorth1)],
            },
            observer: Some(FailoverObserver::new(move |event| {
                events.lock().unwrap().push(event.clone())
            })),
            ..FailoverPolicy::default()
        }
    }

    /// A client that reaches every virtual host but those in `unresolvable` (DNS failures).
    fn client(&self, policy: FailoverPolicy, unresolvable: &[&str]) -> Client {
        let mut builder =
            ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
                .password_grant(DEFAULT_USERNAME, DEFAULT_PASSWORD)
                .add_root_certificates_pem(self.ca.clone())
                .use_bundled_roots(false)
                .connect_timeout(CONNECT_TIMEOUT)
                .request_timeout(REQUEST_TIMEOUT)
                .resolve_overrides_only(true)
                .failover(policy);
        for host in self.sandbox.hosts() {
            if !unresolvable.contains(&host.as_str()) {
                let address = self.sandbox.host_address(&host).unwrap();
                builder = builder.resolve(host, address);
            }
        }
        Client::new(builder.build().unwrap()).unwrap()
    }

    /// The hosts the last calls tried, in order, from the failover events.
    fn take_hosts_tried(&self) -> Vec<String> {
        let events = std::mem::take(&mut *self.events.lock().unwrap());
        let mut hosts: Vec<String> = Vec::new();
        for event in events {
            if hosts.is_empty() {
                hosts.push(event.from.clone());
            }
            hosts.push(event.to.clone());
        }
        hosts
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Dns,
    Refused,
    ConnectTimeout,
    Tls,
    ResetAfterSend,
    ReadTimeout,
    Http5xx,
    Http429,
    Malformed,
}

impl Class {
    fn before_sending(self) -> bool {
        matches!(
            self,
            Class::Dns | Class::Refused | Class::ConnectTimeout | Class::Tls
        )
    }

    fn is_network(self) -> bool {
        matches!(
            self,
            Class::Refused
                | Class::ConnectTimeout
                | Class::Tls
                | Class::ResetAfterSend
                | Class::ReadTimeout
        )
    }

    fn failure(self) -> FailureClass {
        match self {
            Class::Dns => FailureClass::Dns,
            Class::Refused => FailureClass::Refused,
            Class::ConnectTimeout => FailureClass::ConnectTimeout,
            Class::Tls => FailureClass::Tls,
            Class::ResetAfterSend => FailureClass::ResetAfterSend,
            Class::ReadTimeout => FailureClass::ReadTimeout,
            Class::Http5xx => FailureClass::ServerError(503),
            Class::Http429 => FailureClass::RateLimited,
            Class::Malformed => FailureClass::Malformed,
        }
    }

    /// Breaks `host` this way (DNS failures are made when the client is built).
    async fn apply(self, sandbox: &Sandbox, host: &str) {
        let fault = |action| {
            assert!(sandbox.inject(Fault::always("*", action).on_host(host)));
        };
        match self {
            Class::Dns => {}
            Class::Refused => sandbox.set_host_mode(host, HostMode::Down).await.unwrap(),
            Class::ConnectTimeout => sandbox
                .set_host_mode(host, HostMode::Blackhole)
                .await
                .unwrap(),
            Class::Tls => sandbox
                .set_host_mode(host, HostMode::UntrustedCertificate)
                .await
                .unwrap(),
            Class::ResetAfterSend => fault(FaultAction::DropConnection),
            Class::ReadTimeout => fault(FaultAction::delay(Duration::from_secs(5))),
            Class::Http5xx => fault(FaultAction::Respond {
                status: 503,
                body: "<html>Service Unavailable</html>".into(),
                content_type: Some("text/html".into()),
                headers: Vec::new(),
            }),
            Class::Http429 => fault(
                FaultAction::respond(429, r#"{"code":429,"msg":"Too Many Requests"}"#)
                    .with_header("Retry-After", "1"),
            ),
            Class::Malformed => fault(FaultAction::Respond {
                status: 200,
                body: "<html>captive portal</html>".into(),
                content_type: Some("text/html".into()),
                headers: Vec::new(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `getAll`: idempotent.
    Idempotent,
    /// `open`: a purchase.
    Purchase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Primary,
    OtherPrimary,
    Regional,
}

/// The hosts the spec's plan (with the safety rules) tries, and whether the call succeeds.
fn expected(class: Class, kind: Kind, position: Position) -> (Vec<&'static str>, bool) {
    let may_move = class.before_sending() || kind == Kind::Idempotent;
    let mut hosts = Vec::new();
    let target = match position {
        Position::Primary => PRIMARY,
        Position::OtherPrimary => {
            // The primary fails with DNS, so the plan does go to the other primary.
            hosts.extend([PRIMARY, PRIMARY]);
            OTHER
        }
        Position::Regional => {
            // The primary fails with DNS, the other primary refuses connections.
            hosts.extend([PRIMARY, PRIMARY, OTHER]);
            REGIONAL[0]
        }
    };
    hosts.push(target);
    if !may_move {
        return (hosts, false);
    }
    match position {
        Position::Primary => {
            if !matches!(class, Class::ConnectTimeout | Class::Tls) {
                hosts.push(PRIMARY);
            }
            hosts.push(if class.is_network() {
                REGIONAL[0]
            } else {
                OTHER
            });
        }
        Position::OtherPrimary | Position::Regional => {
            if class == Class::Http429 {
                hosts.push(target); // asked once more after Retry-After
            }
            hosts.push(if position == Position::OtherPrimary {
                REGIONAL[0]
            } else {
                REGIONAL[1]
            });
        }
    }
    (hosts, true)
}

fn open_request() -> OpenPackageRequest {
    OpenPackageRequest {
        app_id: "d0app".into(),
        user_id: "user-1".into(),
        device_id: "device-1".into(),
        payment_order_id: "pay-1".into(),
        cloud_record_package_id: 5,
        order_number: 1,
    }
}

async fn run_case(class: Class, kind: Kind, position: Position) {
    let world = World::start().await;
    let sandbox = &world.sandbox;
    let target = match position {
        Position::Primary => PRIMARY,
        Position::OtherPrimary => OTHER,
        Position::Regional => REGIONAL[0],
    };
    let mut unresolvable = Vec::new();
    if position != Position::Primary {
        unresolvable.push(PRIMARY);
    }
    if position == Position::Regional {
        sandbox.set_host_mode(OTHER, HostMode::Down).await.unwrap();
    }
    if class == Class::Dns {
        unresolvable.push(target);
    }
    // Host memory off: every call follows the whole plan (the breaker has its own tests).
    let client = world.client(world.policy(Duration::ZERO), &unresolvable);
    client.access_token().await.expect("token");
    class.apply(sandbox, target).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    world.take_hosts_tried();
    let orders_before = sandbox.stats().requests_to("/open");

    let started = Instant::now();
    let result = match kind {
        Kind::Idempotent => client.list_packages().await.map(|p| p.len().to_string()),
        Kind::Purchase => client.open_package(&open_request()).await,
    };
    let elapsed = started.elapsed();
    let (hosts, succeeds) = expected(class, kind, position);
    let context = format!("{class:?} × {kind:?} × {position:?}: {result:?}");

    assert!(elapsed <= DEADLINE, "{context}: took {elapsed:?}");
    assert_eq!(result.is_ok(), succeeds, "{context}");
    let tried = match &result {
        Ok(_) => world.take_hosts_tried(),
        Err(error) => {
            let attempts = error.attempts();
            assert_eq!(
                attempts.last().map(|a| a.failure),
                Some(class.failure()),
                "{context}"
            );
            attempts.iter().map(|a| a.host.clone()).collect()
        }
    };
    assert_eq!(tried, hosts, "{context}");
    if kind == Kind::Purchase {
        // Sent once, to one server, whatever happened: pre-send failures never reached one.
        let sent = sandbox.stats().requests_to("/open") - orders_before;
        assert_eq!(sent, 1, "{context}: open requests received");
        let orders = sandbox.orders().len();
        if succeeds {
            assert_eq!(orders, 1, "{context}");
        } else {
            assert!(orders <= 1, "{context}");
        }
    }
}

macro_rules! matrix {
    ($($name:ident: $class:ident, $kind:ident, $position:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                run_case(Class::$class, Kind::$kind, Position::$position).await;
            }
        )*
    };
}

matrix! {
    dns_idempotent_primary: Dns, Idempotent, Primary;
    dns_idempotent_other: Dns, Idempotent, OtherPrimary;
    dns_idempotent_regional: Dns, Idempotent, Regional;
    dns_purchase_primary: Dns, Purchase, Primary;
    dns_purchase_other: Dns, Purchase, OtherPrimary;
    dns_purchase_regional: Dns, Purchase, Regional;
    refused_idempotent_primary: Refused, Idempotent, Primary;
    refused_idempotent_other: Refused, Idempotent, OtherPrimary;
    refused_idempotent_regional: Refused, Idempotent, Regional;
    refused_purchase_primary: Refused, Purchase, Primary;
    refused_purchase_other: Refused, Purchase, OtherPrimary;
    refused_purchase_regional: Refused, Purchase, Regional;
    connect_timeout_idempotent_primary: ConnectTimeout, Idempotent, Primary;
    connect_timeout_idempotent_other: ConnectTimeout, Idempotent, OtherPrimary;
    connect_timeout_idempotent_regional: ConnectTimeout, Idempotent, Regional;
    connect_timeout_purchase_primary: ConnectTimeout, Purchase, Primary;
    connect_timeout_purchase_other: ConnectTimeout, Purchase, OtherPrimary;
    connect_timeout_purchase_regional: ConnectTimeout, Purchase, Regional;
    tls_idempotent_primary: Tls, Idempotent, Primary;
    tls_idempotent_other: Tls, Idempotent, OtherPrimary;
    tls_idempotent_regional: Tls, Idempotent, Regional;
    tls_purchase_primary: Tls, Purchase, Primary;
    tls_purchase_other: Tls, Purchase, OtherPrimary;
    tls_purchase_regional: Tls, Purchase, Regional;
    reset_idempotent_primary: ResetAfterSend, Idempotent, Primary;
    reset_idempotent_other: ResetAfterSend, Idempotent, OtherPrimary;
    reset_idempotent_regional: ResetAfterSend, Idempotent, Regional;
    reset_purchase_primary: ResetAfterSend, Purchase, Primary;
    reset_purchase_other: ResetAfterSend, Purchase, OtherPrimary;
    reset_purchase_regional: ResetAfterSend, Purchase, Regional;
    read_timeout_idempotent_primary: ReadTimeout, Idempotent, Primary;
    read_timeout_idempotent_other: ReadTimeout, Idempotent, OtherPrimary;
    read_timeout_idempotent_regional: ReadTimeout, Idempotent, Regional;
    read_timeout_purchase_primary: ReadTimeout, Purchase, Primary;
    read_timeout_purchase_other: ReadTimeout, Purchase, OtherPrimary;
    read_timeout_purchase_regional: ReadTimeout, Purchase, Regional;
    http5xx_idempotent_primary: Http5xx, Idempotent, Primary;
    http5xx_idempotent_other: Http5xx, Idempotent, OtherPrimary;
    http5xx_idempotent_regional: Http5xx, Idempotent, Regional;
    http5xx_purchase_primary: Http5xx, Purchase, Primary;
    http5xx_purchase_other: Http5xx, Purchase, OtherPrimary;
    http5xx_purchase_regional: Http5xx, Purchase, Regional;
    http429_idempotent_primary: Http429, Idempotent, Primary;
    http429_idempotent_other: Http429, Idempotent, OtherPrimary;
    http429_idempotent_regional: Http429, Idempotent, Regional;
    http429_purchase_primary: Http429, Purchase, Primary;
    http429_purchase_other: Http429, Purchase, OtherPrimary;
    http429_purchase_regional: Http429, Purchase, Regional;
    malformed_idempotent_primary: Malformed, Idempotent, Primary;
    malformed_idempotent_other: Malformed, Idempotent, OtherPrimary;
    malformed_idempotent_regional: Malformed, Idempotent, Regional;
    malformed_purchase_primary: Malformed, Purchase, Primary;
    malformed_purchase_other: Malformed, Purchase, OtherPrimary;
    malformed_purchase_regional: Malformed, Purchase, Regional;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_primary_costs_one_connect_timeout_in_100_calls() {
    let world = World::start().await;
    let client = world.client(world.policy(Duration::from_secs(60)), &[]);
    client.access_token().await.unwrap();
    world
        .sandbox
        .set_host_mode(PRIMARY, HostMode::Blackhole)
        .await
        .unwrap();
    for call in 0..100 {
        let packages = client.list_packages().await;
        assert_eq!(packages.map(|p| p.len()).ok(), Some(5), "call {call}");
    }
    let stats = client.stats();
    let primary = stats.host(PRIMARY).unwrap();
    // The token request and the first call met the healthy primary and the blackhole once each.
    assert_eq!(primary.attempts, 2, "{stats:#?}");
    assert_eq!(primary.failures, 1, "{stats:#?}");
    assert_eq!(primary.skipped, 99, "{stats:#?}");
    assert_eq!(primary.state, HostState::CoolingDown);
    assert_eq!(primary.last_failure, Some(FailureClass::ConnectTimeout));
    // Connect timeout: no same-host retry; a network failure skips the other primary.
    assert_eq!(stats.host(REGIONAL[0]).unwrap().successes, 100);
    assert_eq!(stats.requests, 101);
    assert_eq!(stats.failovers, 1);
    assert_eq!(stats.retries, 0);
    assert_eq!(stats.failed_requests, 0);
    assert_eq!(world.sandbox.stats().requests_on(REGIONAL[0]), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooled_down_host_is_probed_by_one_call_and_used_again() {
    let world = World::start().await;
    let client = world.client(world.policy(Duration::from_millis(300)), &[]);
    client.access_token().await.unwrap();
    world
        .sandbox
        .set_host_mode(PRIMARY, HostMode::Down)
        .await
        .unwrap();
    client.list_packages().await.unwrap();
    assert_eq!(
        client.stats().host(PRIMARY).unwrap().state,
        HostState::CoolingDown
    );
    client.list_packages().await.unwrap();
    assert_eq!(client.stats().host(PRIMARY).unwrap().skipped, 1);
    world
        .sandbox
        .set_host_mode(PRIMARY, HostMode::Up)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let served_before = world.sandbox.stats().requests_on(PRIMARY);
    client.list_packages().await.unwrap();
    let primary = client.stats().host(PRIMARY).unwrap().clone();
    assert_eq!(primary.state, HostState::Healthy, "{primary:?}");
    assert_eq!(primary.last_failure, None);
    assert_eq!(
        world.sandbox.stats().requests_on(PRIMARY),
        served_before + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_deadline_bounds_back_off_and_attempts() {
    let world = World::start().await;
    let deadline = Duration::from_millis(1200);
    let policy = FailoverPolicy {
        backoff: vec![Duration::from_secs(5)],
        call_deadline: deadline,
        ..world.policy(Duration::ZERO)
    };
    let client = world.client(policy, &[]);
    client.access_token().await.unwrap();
    Class::Http5xx.apply(&world.sandbox, PRIMARY).await;
    let started = Instant::now();
    let err = client.list_packages().await.unwrap_err();
    let elapsed = started.elapsed();
    // The 5 s back-off before the same-host retry does not fit: the call ends at once.
    assert!(elapsed < deadline, "{elapsed:?}");
    assert_eq!(err.attempts().len(), 1, "{err}");
    assert_eq!(err.http_status(), Some(503));

    // A slow host: the last attempt is cut at the deadline, not at the request timeout.
    world.sandbox.clear_faults();
    Class::ReadTimeout.apply(&world.sandbox, PRIMARY).await;
    let policy = FailoverPolicy {
        call_deadline: Duration::from_millis(900),
        ..world.policy(Duration::ZERO)
    };
    let client = world.client(policy, &[]);
    let started = Instant::now();
    let err = client.access_token().await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(900) + Duration::from_millis(300),
        "{elapsed:?}"
    );
    assert_eq!(err.kind(), agora_link::ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("call deadline"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_on_the_same_host() {
    let world = World::start().await;
    let client = world.client(world.policy(Duration::ZERO), &[]);
    client.access_token().await.unwrap();
    world.take_hosts_tried();
    world.sandbox.inject(
        Fault::new(
            "/getAll",
            FaultAction::respond(429, r#"{"code":429,"msg":"slow down"}"#)
                .with_header("Retry-After", "2"),
            1,
        )
        .on_host(PRIMARY),
    );
    assert_eq!(client.list_packages().await.unwrap().len(), 5);
    let events = world.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].failure, FailureClass::RateLimited);
    assert_eq!(events[0].to, PRIMARY);
    assert!(events[0].delay >= Duration::from_secs(2), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_is_resent_only_when_the_caller_opts_in() {
    let world = World::start().await;
    let client = world.client(world.policy(Duration::ZERO), &[]);
    client.access_token().await.unwrap();
    world.sandbox.inject(
        Fault::new("/open", FaultAction::delay(Duration::from_secs(3)), 1).on_host(PRIMARY),
    );
    let err = client.open_package(&open_request()).await.unwrap_err();
    assert_eq!(err.attempts().len(), 1, "{err}");
    assert_eq!(world.sandbox.stats().requests_to("/open"), 1);

    world
        .sandbox
        .inject(Fault::new("/open", FaultAction::DropConnection, 1).on_host(PRIMARY));
    let opted_in = client.with_call_options(CallOptions::default().allow_resend(true));
    let order = opted_in.open_package(&open_request()).await.unwrap();
    assert!(!order.is_empty());
    assert_eq!(world.sandbox.stats().requests_to("/open"), 3);
    // The handle keeps sharing the client's health and counters.
    assert_eq!(opted_in.stats(), client.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_can_be_turned_off() {
    let world = World::start().await;
    let client = world.client(FailoverPolicy::disabled(), &[]);
    client.access_token().await.unwrap();
    Class::Http5xx.apply(&world.sandbox, PRIMARY).await;
    let err = client.list_packages().await.unwrap_err();
    assert_eq!(err.attempts().len(), 1, "{err}");
    assert_eq!(client.stats().attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolved_address_decides_the_regional_hosts_before_the_configured_region() {
    let world = World::start().await;
    // Configured region eu-central-1 (adjacent eu-west-1, not served here), but the primary
    // resolves into 127.0.0.0/8, mapped to cn-north-1: the plan goes to cn-east-1.
    let policy = FailoverPolicy {
        regional: RegionalFallback::Adjacent {
            region: Some(AgoraRegion::EuCentral1),
            address_map: vec![("127.0.0.0/8".parse().unwrap(), AgoraRegion::CnNorth1)],
        },
        ..world.policy(Duration::ZERO)
    };
    let client = world.client(policy, &[]);
    world
        .sandbox
        .set_host_mode(PRIMARY, HostMode::Down)
        .await
        .unwrap();
    client.access_token().await.unwrap();
    assert_eq!(world.take_hosts_tried(), [PRIMARY, PRIMARY, REGIONAL[0]]);

    // Without a resolved address (DNS failure) the configured region decides: eu-west-1 hosts
    // do not resolve here, so the call fails after trying them.
    let client = world.client(
        FailoverPolicy {
            regional: RegionalFallback::Adjacent {
                region: Some(AgoraRegion::EuCentral1),
                address_map: Vec::new(),
            },
            ..world.policy(Duration::ZERO)
        },
        &[PRIMARY],
    );
    world
        .sandbox
        .set_host_mode(OTHER, HostMode::Down)
        .await
        .unwrap();
    let err = client.access_token().await.unwrap_err();
    let hosts: Vec<&str> = err.attempts().iter().map(|a| a.host.as_str()).collect();
    assert_eq!(
        hosts,
        [
            PRIMARY,
            PRIMARY,
            OTHER,
            "api-eu-west-1.sd-rtn.com",
            "api-eu-west-1.agora.io"
        ]
    );

    // An explicit host list replaces the adjacent hosts.
    let client = world.client(
        FailoverPolicy {
            regional: RegionalFallback::Hosts(vec![REGIONAL[1].into()]),
            ..world.policy(Duration::ZERO)
        },
        &[],
    );
    world.take_hosts_tried();
    client.access_token().await.unwrap();
    assert_eq!(world.take_hosts_tried(), [PRIMARY, PRIMARY, REGIONAL[1]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_list_every_host_tried_in_their_message() {
    let world = World::start().await;
    let client = world.client(world.policy(Duration::ZERO), &[]);
    for host in world.sandbox.hosts() {
        world
            .sandbox
            .set_host_mode(&host, HostMode::Down)
            .await
            .unwrap();
    }
    let err = client.access_token().await.unwrap_err();
    let text = err.to_string();
    for host in [PRIMARY, REGIONAL[0], REGIONAL[1]] {
        assert!(text.contains(host), "{text}");
    }
    assert!(text.contains("connection refused"), "{text}");
    assert_eq!(client.stats().failed_requests, 1);
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failover_step_is_a_tracing_event() {
    let capture = Capture::default();
    let writer = capture.clone();
    // This test binary's global subscriber (other tests' events land here too; harmless).
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let world = World::start().await;
    let client = world.client(world.policy(Duration::ZERO), &[]);
    world
        .sandbox
        .set_host_mode(PRIMARY, HostMode::Down)
        .await
        .unwrap();
    client.access_token().await.unwrap();
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let steps: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("agora link failover") && line.contains("rest-token"))
        .collect();
    assert!(
        steps.iter().any(|l| l.contains("from=\"api.sd-rtn.com\"")
            && l.contains("to=\"api.sd-rtn.com\"")
            && l.contains("failure=connection refused")),
        "{logs}"
    );
    assert!(
        steps
            .iter()
            .any(|l| l.contains("to=\"api-cn-east-1.sd-rtn.com\"")),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_regional_hosts_a_network_failure_still_tries_the_other_primary() {
    let world = World::start().await;
    // The default regional step: no configured region, no address map, so no regional host.
    let policy = FailoverPolicy {
        regional: RegionalFallback::default(),
        ..world.policy(Duration::ZERO)
    };
    let client = world.client(policy, &[]);
    world
        .sandbox
        .set_host_mode(PRIMARY, HostMode::Down)
        .await
        .unwrap();
    client.access_token().await.unwrap();
    assert_eq!(world.take_hosts_tried(), [PRIMARY, PRIMARY, OTHER]);
}

/// A connection still being set up when the call deadline (shorter than the connect timeout)
/// expires is classified as before sending — nothing was sent — and not as a read timeout that
/// "may have been sent".
#[tokio::test]
async fn a_deadline_that_expires_while_connecting_means_nothing_was_sent() {
    let world = World::start().await;
    world
        .sandbox
        .set_host_mode(PRIMARY, HostMode::Blackhole)
        .await
        .unwrap();
    let policy = FailoverPolicy {
        enabled: false,
        call_deadline: Duration::from_millis(600),
        ..world.policy(Duration::ZERO)
    };
    let client = Client::new(
        ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .add_root_certificates_pem(world.ca.clone())
            .use_bundled_roots(false)
            .connect_timeout(Duration::from_secs(10))
            .request_timeout(Duration::from_secs(10))
            .resolve_overrides_only(true)
            .resolve(PRIMARY, world.sandbox.host_address(PRIMARY).unwrap())
            .failover(policy)
            .build()
            .unwrap(),
    )
    .unwrap();
    let error = client.open_package(&open_request()).await.unwrap_err();
    assert!(
        matches!(&error, agora_link::Error::Transport { kind, message, .. }
            if kind.before_request_sent() && message.contains("nothing was sent")),
        "{error:?}"
    );
    assert_eq!(
        error.attempts().last().map(|a| a.failure),
        Some(FailureClass::ConnectTimeout),
        "{error}"
    );
}
