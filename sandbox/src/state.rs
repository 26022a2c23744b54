//! The sandbox's state ([`Db`]): clients (and the default credentials), tokens, accounts, the
//! package catalogue, orders, counters, the AWS sessions it issues and Cognito's answers.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};

use crate::aws::{cognito_failure, AwsSession, CognitoFailure, IotRegistry};

/// A client (client id and secret) the sandbox accepts, with the users of its password grant.
#[derive(Debug, Clone)]
pub struct SandboxClient {
    /// The `client_id`.
    pub client_id: String,
    /// The `client_secret`.
    pub client_secret: String,
    /// `(username, password)` pairs accepted by the password grant.
    pub users: Vec<(String, String)>,
}

/// The client id the sandbox accepts by default.
pub const DEFAULT_CLIENT_ID: &str = "sandbox-client-id";
/// The client secret the sandbox accepts by default.
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-client-secret";
/// The password-grant user name the sandbox accepts by default.
pub const DEFAULT_USERNAME: &str = "sandbox-user";
/// The password-grant password the sandbox accepts by default.
pub const DEFAULT_PASSWORD: &str = "sandbox-password";

/// Lifetimes the sandbox gives what it issues.
#[derive(Debug, Clone)]
pub struct Lifetimes {
    /// REST tokens (`expires_in` of `rest-token`).
    pub rest_token: Duration,
    /// Refresh tokens.
    pub refresh_token: Duration,
    /// The `lsToken` of a login.
    pub account_token: Duration,
    /// `gyToken.expiration` (the `granwin_token`).
    pub granwin_token: Duration,
    /// `gyToken.proof` and Cognito credentials (temporary AWS credentials).
    pub aws_session: Duration,
    /// `gyToken.pool.token` (the Cognito OpenID token).
    pub open_id_token: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            rest_token: Duration::from_secs(31969),
            refresh_token: Duration::from_secs(30 * 24 * 3600),
            account_token: Duration::from_secs(43199),
            granwin_token: Duration::from_secs(7200),
            aws_session: Duration::from_secs(3600),
            open_id_token: Duration::from_secs(7200),
        }
    }
}

#[derive(Debug)]
struct IssuedToken {
    client_id: String,
    expires_at: Instant,
    /// When it was issued or last presented: when the table is full, the tokens used least
    /// recently are forgotten first, so that a token in use is not.
    last_used: Instant,
}

#[derive(Debug, Clone)]
struct Account {
    user_id: String,
    token: String,
    account_name: String,
}

/// One opened package.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The id returned by `open`.
    pub order_id: String,
    /// `appId`.
    pub app_id: String,
    /// `userId`.
    pub user_id: String,
    /// `deviceId`.
    pub device_id: String,
    /// `paymentOrderId`.
    pub payment_order_id: String,
    /// `cloudRecordPackageId`.
    pub cloud_record_package_id: i64,
    /// `orderNumber`.
    pub order_number: i64,
}

/// Counters of what the sandbox served, for assertions in tests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Requests received, by path (faulted ones included); paths that are not the API's are
    /// counted together under [`OTHER_PATHS`].
    pub requests_by_path: HashMap<String, u64>,
    /// Requests whose body arrived whole, by path (keys as in [`Stats::requests_by_path`]):
    /// the requests the sandbox had in full and acted on, unless an injected fault answered
    /// first. A request cut before its last byte is counted in `requests_by_path` only.
    pub delivered_by_path: HashMap<String, u64>,
    /// Requests received, by virtual host (the main listener counts as `""`).
    pub requests_by_host: HashMap<String, u64>,
    /// Token requests handled, by `grant_type` (`client_credentials`, `password`,
    /// `refresh_token`, `<none>`, and [`OTHER_GRANTS`] for anything else).
    pub token_requests_by_grant: HashMap<String, u64>,
    /// Responses with HTTP 401 sent by the Bearer check.
    pub unauthorized_responses: u64,
    /// Faults injected.
    pub faults_injected: u64,
    /// Requests on a reused connection closed unanswered
    /// ([`crate::Sandbox::set_close_reused_connections`]); not counted anywhere else.
    pub reused_connections_closed: u64,
    /// Orders opened.
    pub orders_opened: u64,
    /// Trace ids of the cloud-storage requests, in arrival order (the last 10,000, each cut to
    /// [`MAX_TRACE_ID_CHARS`]).
    pub trace_ids: Vec<String>,
    /// Cognito `GetCredentialsForIdentity` requests.
    pub cognito_requests: u64,
    /// WebSocket upgrades the IoT gateway accepted.
    pub gateway_accepted: u64,
    /// WebSocket upgrades the IoT gateway refused (HTTP 403).
    pub gateway_refused: u64,
    /// Why, in order (the latest [`MAX_GATEWAY_REFUSALS`]).
    pub gateway_refusals: Vec<String>,
}

/// The key of [`Stats::requests_by_path`] under which every path that is not one of the API's
/// endpoints is counted.
pub const OTHER_PATHS: &str = "(other)";

/// The key of [`Stats::token_requests_by_grant`] for a `grant_type` that is none of the spec's.
pub const OTHER_GRANTS: &str = "(other)";

/// The most characters of a trace id kept in [`Stats::trace_ids`].
pub const MAX_TRACE_ID_CHARS: usize = 128;

/// The most access tokens (and, separately, refresh tokens) the sandbox remembers; issuing one
/// more first forgets the expired ones, then the tenth used least recently (an access token is
/// used when presented as a bearer token, a refresh token by the refresh grant).
pub const MAX_TOKENS: usize = 50_000;

/// The most [`Stats::gateway_refusals`] kept (the latest).
pub const MAX_GATEWAY_REFUSALS: usize = 1_000;

/// The most orders the sandbox keeps ([`crate::Sandbox::orders`], `GET /_sandbox/orders`): the
/// latest; [`Stats::orders_opened`] still counts every one.
pub const MAX_ORDERS: usize = 10_000;

/// The most third-party accounts the sandbox holds; `register` beyond that is refused (HTTP
/// 507, code 507) until accounts are removed.
pub const MAX_ACCOUNTS: usize = 100_000;

/// `now` plus `lifetime`, or (for lifetimes too long to represent) about a century from now.
pub(crate) fn instant_after(lifetime: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(lifetime)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// Now plus `lifetime`, in ms since the epoch, saturating.
pub(crate) fn ms_after_now(lifetime: Duration) -> i64 {
    now_ms().saturating_add(i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX))
}

/// The API's endpoints, after `/agoralink/{cn|na}/api/`.
pub(crate) const API_ENDPOINTS: &[&str] = &[
    "oauth/rest-token",
    "cloud-recorder/cloud-record-package/v1/getAll",
    "cloud-recorder/cloud-record-package/v1/getById",
    "cloud-recorder/cloud-record-order/v1/open",
    "oauth/third-party/register",
    "oauth/third-party/login",
    "oauth/third-party/removeAccount",
];

fn is_api_path(path: &str) -> bool {
    if path == "/" {
        return true; // Cognito
    }
    ["/agoralink/cn/api/", "/agoralink/na/api/"]
        .iter()
        .any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|endpoint| API_ENDPOINTS.contains(&endpoint))
        })
}

fn bound_tokens(tokens: &mut HashMap<String, IssuedToken>) {
    if tokens.len() < MAX_TOKENS {
        return;
    }
    let now = Instant::now();
    tokens.retain(|_, token| token.expires_at > now);
    // Still full of live tokens: forget a tenth at once, so that the scan above runs once per
    // 5,000 tokens issued rather than on each; the tenth used least recently (a load test's
    // REST token, presented on every call, stays while the login tokens it mints go).
    let keep = MAX_TOKENS - MAX_TOKENS / 10;
    if tokens.len() > keep {
        let excess = tokens.len() - keep;
        let mut by_use: Vec<(Instant, &String)> = tokens
            .iter()
            .map(|(key, token)| (token.last_used, key))
            .collect();
        by_use.select_nth_unstable_by_key(excess - 1, |(last_used, _)| *last_used);
        let forgotten: Vec<String> = by_use[..excess]
            .iter()
            .map(|(_, key)| (*key).clone())
            .collect();
        for key in forgotten {
            tokens.remove(&key);
        }
    }
}

impl Stats {
    /// Records why the IoT gateway refused an upgrade, keeping the latest
    /// [`MAX_GATEWAY_REFUSALS`].
    pub(crate) fn record_gateway_refusal(&mut self, reason: &str) {
        if self.gateway_refusals.len() >= MAX_GATEWAY_REFUSALS {
            let excess = self.gateway_refusals.len() + 1 - MAX_GATEWAY_REFUSALS;
            self.gateway_refusals.drain(..excess);
        }
        self.gateway_refusals.push(reason.to_owned());
    }

    /// Requests received on the virtual host `host`.
    pub fn requests_on(&self, host: &str) -> u64 {
        self.requests_by_host.get(host).copied().unwrap_or_default()
    }

    /// Requests received on paths ending with `suffix` (e.g. `"/oauth/rest-token"`).
    pub fn requests_to(&self, suffix: &str) -> u64 {
        self.requests_by_path
            .iter()
            .filter(|(path, _)| path.ends_with(suffix))
            .map(|(_, count)| count)
            .sum()
    }

    /// Requests delivered whole on paths ending with `suffix` (see
    /// [`Stats::delivered_by_path`]).
    pub fn delivered_to(&self, suffix: &str) -> u64 {
        self.delivered_by_path
            .iter()
            .filter(|(path, _)| path.ends_with(suffix))
            .map(|(_, count)| count)
            .sum()
    }

    /// Token requests handled, every grant.
    pub fn token_requests(&self) -> u64 {
        self.token_requests_by_grant.values().sum()
    }
}

/// A failure body and status, as the handlers return them.
pub(crate) struct Failure {
    pub status: u16,
    pub code: i64,
    pub msg: String,
}

impl Failure {
    pub(crate) fn new(status: u16, code: i64, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
        }
    }
}

pub(crate) type Outcome = Result<Value, Failure>;

/// The whole mutable state, behind one mutex (no lock is held across an await).
pub(crate) struct Db {
    pub clients: Vec<SandboxClient>,
    pub lifetimes: Lifetimes,
    pub iot_region: String,
    tokens: HashMap<String, IssuedToken>,
    refresh_tokens: HashMap<String, IssuedToken>,
    accounts: HashMap<(String, String), Account>,
    packages: Vec<Value>,
    orders: VecDeque<Order>,
    pub stats: Stats,
    trace_ids: VecDeque<String>,
    next_user: u64,
    pub iot: IotRegistry,
    /// The IoT endpoint `login` returns instead of a made-up AWS host (the gateway's address).
    pub iot_endpoint: Option<String>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

thread_local! {
    /// A per-thread SplitMix64 generator seeded from the OS (through UUID v4). Sandbox tokens
    /// only need to be unique and unguessable by accident, not cryptographically strong; one
    /// system call per thread keeps the emulator fast under benchmark load.
    static RANDOM: std::cell::Cell<u64> = std::cell::Cell::new(uuid::Uuid::new_v4().as_u64_pair().0 | 1);
}

fn next_random() -> u64 {
    RANDOM.with(|state| {
        let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// A random lowercase hex string of `len` characters.
pub(crate) fn random_hex(len: usize) -> String {
    random_from(b"0123456789abcdef", len)
}

/// A random string of `len` characters from `alphabet`.
fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in next_random().to_le_bytes() {
            if out.len() == len {
                break;
            }
            out.push(alphabet[byte as usize % alphabet.len()] as char);
        }
    }
    out
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The spec's two catalogue examples, and three more of the same shape.
fn seed_packages() -> Vec<Value> {
    let rows = [
        (1, "包年365-1天", "YEAR", "ONE", "iot-one", 1662111196000i64),
        (
            2,
            "包年365-3天",
            "YEAR",
            "THREE",
            "iot-three",
            1662111198000,
        ),
        (
            3,
            "包年365-7天",
            "YEAR",
            "SEVEN",
            "iot-seven",
            1662111199000,
        ),
        (4, "包月30-1天", "MONTH", "ONE", "iot-one", 1662111200000),
        (
            5,
            "包月30-3天",
            "MONTH",
            "THREE",
            "iot-three",
            1662111201000,
        ),
    ];
    rows.iter()
        .map(|(id, name, kind, life, dir, changed)| {
            json!({
                "cloudRecordPackageId": id,
                "packageName": name,
                "packageType": kind,
                "lifeCycle": life,
                "bucket": "agora-link-sandbox",
                "preDir": dir,
                "deleted": false,
                "createdBy": 1,
                "createdTime": 1659597359000i64,
                "changedTime": changed,
            })
        })
        .collect()
}

impl Db {
    pub(crate) fn new(
        clients: Vec<SandboxClient>,
        lifetimes: Lifetimes,
        iot_region: String,
    ) -> Self {
        Self {
            clients,
            lifetimes,
            iot_region,
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            iot: Default::default(),
            iot_endpoint: None,
            accounts: HashMap::new(),
            packages: seed_packages(),
            orders: VecDeque::new(),
            stats: Stats::default(),
            trace_ids: VecDeque::new(),
            next_user: 712573185701490688,
        }
    }

    pub(crate) fn count_request(&mut self, path: &str, host: Option<&str>) {
        // Paths come from anyone: only the API's own are counted by name, so that the counters
        // stay bounded however many distinct paths arrive.
        let key = if is_api_path(path) { path } else { OTHER_PATHS };
        match self.stats.requests_by_path.get_mut(key) {
            Some(count) => *count += 1,
            None => {
                self.stats.requests_by_path.insert(key.to_owned(), 1);
            }
        }
        *self
            .stats
            .requests_by_host
            .entry(host.unwrap_or_default().to_owned())
            .or_default() += 1;
    }

    /// Counts a request whose body arrived whole (see [`Stats::delivered_by_path`]).
    pub(crate) fn count_delivered(&mut self, path: &str) {
        let key = if is_api_path(path) { path } else { OTHER_PATHS };
        match self.stats.delivered_by_path.get_mut(key) {
            Some(count) => *count += 1,
            None => {
                self.stats.delivered_by_path.insert(key.to_owned(), 1);
            }
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        stats.trace_ids = self.trace_ids.iter().cloned().collect();
        stats
    }

    pub(crate) fn orders(&self) -> Vec<Order> {
        self.orders.iter().cloned().collect()
    }

    /// Makes every issued access token unknown (as if the server had restarted its token store).
    pub(crate) fn revoke_access_tokens(&mut self) {
        self.tokens.clear();
    }

    fn client(&self, id: &str, secret: &str) -> Option<&SandboxClient> {
        self.clients
            .iter()
            .find(|c| c.client_id == id && c.client_secret == secret)
    }

    fn issue_access_token(&mut self, client_id: &str, lifetime: Duration) -> String {
        let token = random_from(ALNUM, 40);
        bound_tokens(&mut self.tokens);
        self.tokens.insert(
            token.clone(),
            IssuedToken {
                client_id: client_id.to_owned(),
                expires_at: instant_after(lifetime),
                last_used: Instant::now(),
            },
        );
        token
    }

    /// Checks `Authorization: Bearer <token>`; the failure message says why (never the token).
    pub(crate) fn check_bearer(&mut self, header: Option<&str>) -> Result<(), Failure> {
        // RFC 7235 §2.1: the scheme is case-insensitive, then one or more spaces.
        let token = header.and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("Bearer").then_some(rest)
        });
        let result = match token {
            None => Err("unauthorized: a Bearer token is required"),
            Some(token) => match self.tokens.get_mut(token.trim()) {
                None => Err("invalid_token: the token is unknown"),
                Some(issued) if issued.expires_at <= Instant::now() => {
                    Err("invalid_token: the token has expired")
                }
                Some(issued) => {
                    issued.last_used = Instant::now();
                    Ok(())
                }
            },
        };
        result.map_err(|msg| {
            self.stats.unauthorized_responses += 1;
            Failure::new(401, 401, msg)
        })
    }

    pub(crate) fn rest_token(&mut self, body: &Value) -> Outcome {
        let field = |name: &str| body.get(name).and_then(Value::as_str);
        let grant_type = field("grant_type").unwrap_or_default().to_owned();
        *self
            .stats
            .token_requests_by_grant
            // Grant types come from anyone: only the spec's three are counted by name.
            .entry(match grant_type.as_str() {
                "" => "<none>".into(),
                "client_credentials" | "password" | "refresh_token" => grant_type.clone(),
                _ => OTHER_GRANTS.into(),
            })
            .or_default() += 1;
        let (Some(client_id), Some(client_secret)) = (field("client_id"), field("client_secret"))
        else {
            return Err(Failure::new(
                400,
                400,
                "invalid_request: client_id and client_secret are required",
            ));
        };
        if field("scope") != Some("read") {
            return Err(Failure::new(400, 400, "invalid_scope"));
        }
        let Some(client) = self.client(client_id, client_secret).cloned() else {
            return Err(Failure::new(401, 401, "invalid_client"));
        };
        match grant_type.as_str() {
            "password" => {
                let (Some(username), Some(password)) = (field("username"), field("password"))
                else {
                    return Err(Failure::new(
                        400,
                        400,
                        "invalid_request: username and password are required",
                    ));
                };
                if !client
                    .users
                    .iter()
                    .any(|(u, p)| u == username && p == password)
                {
                    return Err(Failure::new(400, 400, "invalid_grant"));
                }
            }
            "client_credentials" => {}
            "refresh_token" => {
                let now = Instant::now();
                let valid = field("refresh_token")
                    .and_then(|t| self.refresh_tokens.get_mut(t))
                    .filter(|r| r.client_id == client.client_id && r.expires_at > now)
                    .map(|r| r.last_used = now)
                    .is_some();
                if !valid {
                    return Err(Failure::new(400, 400, "invalid_grant"));
                }
            }
            _ => return Err(Failure::new(400, 400, "unsupported_grant_type")),
        }
        Ok(self.token_data(&client.client_id, self.lifetimes.rest_token))
    }

    fn token_data(&mut self, client_id: &str, lifetime: Duration) -> Value {
        let access_token = self.issue_access_token(client_id, lifetime);
        let refresh_token = random_from(ALNUM, 40);
        bound_tokens(&mut self.refresh_tokens);
        self.refresh_tokens.insert(
            refresh_token.clone(),
            IssuedToken {
                client_id: client_id.to_owned(),
                expires_at: instant_after(self.lifetimes.refresh_token),
                last_used: Instant::now(),
            },
        );
        json!({
            "access_token": access_token,
            "token_type": "bearer",
            "refresh_token": refresh_token,
            "expires_in": lifetime.as_secs(),
            "scope": "read",
        })
    }

    fn record_trace_id(&mut self, body: &Value) -> Result<(), Failure> {
        let header = body.get("header");
        let trace_id = header
            .and_then(|h| h.get("traceId"))
            .and_then(Value::as_str);
        let timestamp = header
            .and_then(|h| h.get("timestamp"))
            .and_then(Value::as_i64);
        match (trace_id, timestamp) {
            (Some(trace_id), Some(_)) if !trace_id.is_empty() => {
                if self.trace_ids.len() == 10_000 {
                    self.trace_ids.pop_front();
                }
                // Kept to 128 characters: a trace id is a UUID, but this one came from anyone.
                self.trace_ids
                    .push_back(trace_id.chars().take(MAX_TRACE_ID_CHARS).collect());
                Ok(())
            }
            _ => Err(Failure::new(
                200,
                400,
                "header.traceId (string) and header.timestamp (number) are required",
            )),
        }
    }

    pub(crate) fn get_all(&mut self, body: &Value) -> Outcome {
        self.record_trace_id(body)?;
        Ok(Value::Array(self.packages.clone()))
    }

    pub(crate) fn get_by_id(&mut self, body: &Value) -> Outcome {
        self.record_trace_id(body)?;
        let Some(id) = body.get("payload").and_then(Value::as_i64) else {
            return Err(Failure::new(
                200,
                400,
                "payload must be a package id (integer)",
            ));
        };
        self.package(id).cloned().ok_or_else(|| {
            Failure::new(
                200,
                999999,
                format!("The package not exists. cloudRecordPackageId={{{id}}}"),
            )
        })
    }

    fn package(&self, id: i64) -> Option<&Value> {
        self.packages
            .iter()
            .find(|p| p.get("cloudRecordPackageId").and_then(Value::as_i64) == Some(id))
    }

    pub(crate) fn open(&mut self, body: &Value) -> Outcome {
        self.record_trace_id(body)?;
        let payload = body.get("payload").cloned().unwrap_or(Value::Null);
        let text = |name: &str| {
            payload
                .get(name)
                .and_then(Value::as_str)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    Failure::new(
                        200,
                        400,
                        format!("payload.{name} (non-empty string) is required"),
                    )
                })
        };
        let number = |name: &str| {
            payload.get(name).and_then(Value::as_i64).ok_or_else(|| {
                Failure::new(200, 400, format!("payload.{name} (integer) is required"))
            })
        };
        let order = Order {
            order_id: format!("b{}", random_hex(25)),
            app_id: text("appId")?,
            user_id: text("userId")?,
            device_id: text("deviceId")?,
            payment_order_id: text("paymentOrderId")?,
            cloud_record_package_id: number("cloudRecordPackageId")?,
            order_number: number("orderNumber")?,
        };
        if order.order_number < 1 {
            return Err(Failure::new(
                200,
                400,
                "payload.orderNumber must be at least 1",
            ));
        }
        if self.package(order.cloud_record_package_id).is_none() {
            return Err(Failure::new(
                200,
                999999,
                format!(
                    "The package not exists. cloudRecordPackageId={{{}}}",
                    order.cloud_record_package_id
                ),
            ));
        }
        let id = order.order_id.clone();
        if self.orders.len() >= MAX_ORDERS {
            self.orders.pop_front();
        }
        self.orders.push_back(order);
        self.stats.orders_opened = self.stats.orders_opened.saturating_add(1);
        Ok(Value::String(id))
    }

    fn account_key(body: &Value) -> Result<(String, String), Failure> {
        let project = body
            .get("projectId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let account = body
            .get("thirdPartyAccount")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if project.trim().is_empty() || account.trim().is_empty() {
            return Err(Failure::new(201, 400, "invalid_grant"));
        }
        Ok((project.to_owned(), account.to_owned()))
    }

    fn not_exists((project, account): &(String, String)) -> Failure {
        Failure::new(
            201,
            999999,
            format!(
                "The user not exists. projectId={{{project}}}, thirdPartyAccount={{{account}}}"
            ),
        )
    }

    pub(crate) fn register(&mut self, body: &Value) -> Outcome {
        let key = Self::account_key(body)?;
        if self.accounts.contains_key(&key) {
            return Err(Failure::new(
                201,
                999999,
                format!(
                    "The user already exists. projectId={{{}}}, thirdPartyAccount={{{}}}",
                    key.0, key.1
                ),
            ));
        }
        if self.accounts.len() >= MAX_ACCOUNTS {
            return Err(Failure::new(
                507,
                507,
                format!("the sandbox holds {MAX_ACCOUNTS} accounts, its most: remove some first"),
            ));
        }
        self.next_user = self.next_user.wrapping_add(1);
        let account = Account {
            user_id: format!("100000000000000000_{}", self.next_user),
            token: random_from(ALNUM, 38),
            account_name: random_hex(32),
        };
        let data = json!({"userId": account.user_id, "token": account.token});
        self.accounts.insert(key, account);
        Ok(data)
    }

    fn checked_account(&self, body: &Value) -> Result<((String, String), Account), Failure> {
        let key = Self::account_key(body)?;
        let account = self
            .accounts
            .get(&key)
            .cloned()
            .ok_or_else(|| Self::not_exists(&key))?;
        if body.get("token").and_then(Value::as_str) != Some(account.token.as_str()) {
            return Err(Failure::new(201, 400, "invalid_grant"));
        }
        Ok((key, account))
    }

    pub(crate) fn login(&mut self, body: &Value) -> Outcome {
        let client_id = body
            .get("clientId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let client_secret = body
            .get("clientSecret")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(client) = self.client(client_id, client_secret).cloned() else {
            return Err(Failure::new(201, 400, "invalid_client"));
        };
        let (_, account) = self.checked_account(body)?;
        let ls_token = self.token_data(&client.client_id, self.lifetimes.account_token);
        let region = self.iot_region.clone();
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        let user_suffix = account
            .user_id
            .rsplit('_')
            .next()
            .unwrap_or_default()
            .to_owned();
        let hyphenated = |u: uuid::Uuid| u.hyphenated().to_string();
        let identity_id = format!("{region}:{}", hyphenated(uuid::Uuid::new_v4()));
        let open_id_token = format!(
            "eyJraWQiOiJ{}.{}.{}",
            random_from(ALNUM, 40),
            random_from(ALNUM, 120),
            random_from(ALNUM, 86)
        );
        self.iot.register_identity(
            &identity_id,
            &open_id_token,
            ms_after_now(self.lifetimes.open_id_token),
        );
        let session = self.issue_aws_session();
        let endpoint = self
            .iot_endpoint
            .clone()
            .unwrap_or_else(|| format!("a{}-ats.iot.{region}.{suffix}", random_hex(13)));
        Ok(json!({
            "lsToken": ls_token,
            "gyToken": {
                "endpoint": endpoint,
                "pool": {
                    "identifier": format!("100000000000000000_{}_{user_suffix}", account.account_name),
                    "identityId": identity_id,
                    "identityPoolId": format!("{region}:{}", hyphenated(uuid::Uuid::new_v4())),
                    "token": open_id_token,
                },
                "expiration": self.lifetimes.granwin_token.as_secs(),
                "granwin_token": format!("granwin_aws_user_info_hash:_{}_{}", self.lifetimes.granwin_token.as_secs(), random_hex(24)),
                "proof": {
                    "accessKeyId": session.access_key_id,
                    "secretKey": session.secret_key,
                    "sessionToken": session.session_token,
                    "sessionExpiration": session.expires_ms,
                },
                "region": region,
                "account": account.account_name,
            }
        }))
    }

    /// Issues temporary AWS credentials, accepted by the IoT gateway until they expire.
    pub(crate) fn issue_aws_session(&mut self) -> AwsSession {
        let session = AwsSession {
            access_key_id: format!("ASIA{}", random_from(UPPER_ALNUM, 16)),
            secret_key: random_from(BASE64, 40),
            session_token: format!("FwoDYXdzE{}", random_from(BASE64, 300)),
            expires_ms: ms_after_now(self.lifetimes.aws_session),
        };
        self.iot.register_session(session.clone());
        session
    }

    /// `GetCredentialsForIdentity`: `{"IdentityId", "Logins": {"<provider>": "<OpenID token>"}}`.
    pub(crate) fn cognito_get_credentials(
        &mut self,
        target: Option<&str>,
        body: &[u8],
    ) -> Result<Value, CognitoFailure> {
        self.stats.cognito_requests += 1;
        let (identity_id, token_expires_ms) = self.iot.cognito_identity(target, body)?;
        if token_expires_ms <= now_ms() {
            return Err(cognito_failure(
                "NotAuthorizedException",
                "Invalid login token. Token expired.",
            ));
        }
        let session = self.issue_aws_session();
        Ok(json!({
            "IdentityId": identity_id,
            "Credentials": {
                "AccessKeyId": session.access_key_id,
                "SecretKey": session.secret_key,
                "SessionToken": session.session_token,
                "Expiration": session.expires_ms as f64 / 1000.0,
            }
        }))
    }

    pub(crate) fn remove_account(&mut self, body: &Value) -> Outcome {
        let (key, _) = self.checked_account(body)?;
        self.accounts.remove(&key);
        Ok(Value::Null)
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::MAX_AWS_SESSIONS;

    #[test]
    fn remembered_tokens_and_refusals_are_bounded() {
        let mut db = Db::new(
            vec![SandboxClient {
                client_id: "c".into(),
                client_secret: "s".into(),
                users: vec![],
            }],
            Lifetimes::default(),
            "cn-north-1".into(),
        );
        // Tokens presented now and then (load tests' REST tokens among the tokens their logins
        // mint) are never the ones forgotten, wherever they sit in the table.
        // So are refresh tokens used now and then by the refresh grant (which does not rotate
        // them): a client that keeps renewing with its first one.
        let (in_use, refresh_in_use): (Vec<String>, Vec<String>) = (0..64)
            .map(|i| {
                let data = db.token_data("c", Duration::from_secs(3600));
                // The scheme is case-insensitive (RFC 7235).
                let scheme = ["Bearer", "bearer", "BEARER"][i % 3];
                (
                    format!(
                        "{scheme} {}",
                        data["access_token"].as_str().unwrap_or_default()
                    ),
                    data["refresh_token"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .unzip();
        for issued in 0..(MAX_TOKENS + 5_000) * 3 {
            db.token_data("c", Duration::from_secs(3600));
            if issued % 1_000 == 0 {
                for bearer in &in_use {
                    assert!(db.check_bearer(Some(bearer)).is_ok(), "after {issued}");
                }
            }
            if issued % 5_000 == 0 {
                for refresh in &refresh_in_use {
                    let renewed = db.rest_token(&serde_json::json!({
                        "grant_type": "refresh_token", "refresh_token": refresh,
                        "client_id": "c", "client_secret": "s", "scope": "read",
                    }));
                    assert!(renewed.is_ok(), "refresh grant after {issued}");
                }
            }
        }
        for refused in ["Bearer", "Bearer", "Bearertoken", "Basic x", "Bear x", ""] {
            assert!(db.check_bearer(Some(refused)).is_err(), "{refused:?}");
        }
        assert!(db.tokens.len() <= MAX_TOKENS, "{}", db.tokens.len());
        assert!(db.refresh_tokens.len() <= MAX_TOKENS);
        for i in 0..MAX_GATEWAY_REFUSALS * 3 {
            db.stats.record_gateway_refusal(&format!("refusal {i}"));
        }
        assert_eq!(db.stats.gateway_refusals.len(), MAX_GATEWAY_REFUSALS);
        let long = "t".repeat(100_000);
        assert!(db
            .record_trace_id(&serde_json::json!({"header": {"traceId": long, "timestamp": 1}}))
            .is_ok());
        assert_eq!(
            db.trace_ids.back().map(String::len),
            Some(MAX_TRACE_ID_CHARS)
        );
        assert_eq!(
            db.stats.gateway_refusals.last().map(String::as_str),
            Some(format!("refusal {}", MAX_GATEWAY_REFUSALS * 3 - 1).as_str())
        );
    }

    fn db() -> Db {
        Db::new(
            vec![SandboxClient {
                client_id: "c".into(),
                client_secret: "s".into(),
                users: vec![],
            }],
            Lifetimes::default(),
            "cn-north-1".into(),
        )
    }

    #[test]
    fn orders_keep_the_latest_and_accounts_are_capped() {
        let mut db = db();
        let open = |db: &mut Db, n: usize| {
            db.open(&json!({"header": {"traceId": "t", "timestamp": 1}, "payload": {
                "appId": "a", "userId": "u", "deviceId": "d",
                "paymentOrderId": format!("pay-{n}"), "cloudRecordPackageId": 1, "orderNumber": 1,
            }}))
        };
        for n in 0..MAX_ORDERS + 10 {
            assert!(open(&mut db, n).is_ok());
        }
        let orders = db.orders();
        assert_eq!(orders.len(), MAX_ORDERS);
        assert_eq!(db.stats.orders_opened, (MAX_ORDERS + 10) as u64);
        assert_eq!(orders[0].payment_order_id, "pay-10");
        assert_eq!(
            orders.last().map(|o| o.payment_order_id.as_str()),
            Some(format!("pay-{}", MAX_ORDERS + 9).as_str())
        );

        let register = |db: &mut Db, n: usize| {
            db.register(&json!({"projectId": "p", "thirdPartyAccount": format!("a{n}")}))
        };
        for n in 0..MAX_ACCOUNTS {
            assert!(register(&mut db, n).is_ok());
        }
        let refused = register(&mut db, MAX_ACCOUNTS)
            .err()
            .map(|f| (f.status, f.code));
        assert_eq!(refused, Some((507, 507)));
        assert!(db
            .remove_account(&json!({"projectId": "p", "thirdPartyAccount": "a0",
                "token": db.accounts.get(&("p".to_owned(), "a0".to_owned())).map(|a| a.token.clone())}))
            .is_ok());
        assert!(register(&mut db, MAX_ACCOUNTS).is_ok(), "room again");
    }

    #[test]
    fn aws_sessions_and_identities_forget_the_oldest() {
        let mut db = db();
        let first = db.issue_aws_session();
        for _ in 0..MAX_AWS_SESSIONS + 10 {
            db.issue_aws_session();
        }
        let last = db.issue_aws_session();
        assert_eq!(db.iot.session_count(), MAX_AWS_SESSIONS);
        assert!(db.iot.has_session(&last.access_key_id));
        assert!(!db.iot.has_session(&first.access_key_id));
        for n in 0..MAX_AWS_SESSIONS + 10 {
            db.iot
                .register_identity(&format!("id-{n}"), "token", i64::MAX);
        }
        assert_eq!(db.iot.identity_count(), MAX_AWS_SESSIONS);
    }

    #[test]
    fn lifetimes_too_long_to_represent_do_not_overflow() {
        let mut db = Db::new(
            vec![SandboxClient {
                client_id: "c".into(),
                client_secret: "s".into(),
                users: vec![],
            }],
            Lifetimes {
                rest_token: Duration::MAX,
                refresh_token: Duration::MAX,
                account_token: Duration::MAX,
                granwin_token: Duration::MAX,
                aws_session: Duration::MAX,
                open_id_token: Duration::MAX,
            },
            "cn-north-1".into(),
        );
        let data = db.token_data("c", Duration::MAX);
        let bearer = format!(
            "Bearer {}",
            data["access_token"].as_str().unwrap_or_default()
        );
        assert!(db.check_bearer(Some(&bearer)).is_ok());
        assert_eq!(db.issue_aws_session().expires_ms, i64::MAX);
    }
}
