//! The HTTP server: every endpoint of both editions of the spec, authenticated, validated,
//! answered in the spec's shape (`{"status","statusReason"[,"data"]}`) with ordinary statuses.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, Response, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use agora_link_server_guard::{BodyTimeout, Tally};

use crate::signature::{AuthError, V2Headers, Verifier};
use crate::store::{License, NewCustomer, Store, StoreError};

/// The largest request body accepted (413 above).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the server needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The accepted API keys and the signature scheme.
    pub verifier: Verifier,
    /// The public base URL of this service, for `licenseUrl` (e.g. `https://ext.example.com`).
    pub public_url: String,
}

struct AppState {
    config: ServerConfig,
    store: Store,
    /// Requests refused before authentication, logged in full [`REFUSALS_IN_FULL`] times per
    /// [`REFUSAL_REPORT_INTERVAL`] and otherwise counted by status.
    refusals: Tally,
}

/// Refused requests logged in full per interval; the rest go into one summary line.
pub const REFUSALS_IN_FULL: u64 = 3;
/// The interval of the refused-requests summary.
pub const REFUSAL_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// The router of the service. Called within a tokio runtime, it also starts the task that logs
/// the refused-requests summary (it ends with the router).
pub fn router(config: ServerConfig, store: Store) -> Router {
    let state = Arc::new(AppState {
        config,
        store,
        refusals: Tally::new(REFUSALS_IN_FULL),
    });
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let weak = Arc::downgrade(&state);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(REFUSAL_REPORT_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(state) = weak.upgrade() else { return };
                report_refusals(&state.refusals);
            }
        });
    }
    Router::new().fallback(move |request: Request<Body>| {
        let state = state.clone();
        async move { handle(state, request).await }
    })
}

fn report_refusals(refusals: &Tally) {
    if let Some((by_status, not_logged)) = refusals.take() {
        let by_status: String = by_status
            .iter()
            .map(|(status, count)| format!("{status}:{count}"))
            .collect::<Vec<_>>()
            .join(" ");
        tracing::warn!(
            by_status,
            not_logged,
            interval_s = REFUSAL_REPORT_INTERVAL.as_secs(),
            "refused requests in the last interval (only the first few were logged in full)"
        );
    }
}

pub use agora_link_server_guard::{GuardStats, Limits};

/// Serves `router` on `listener` until `shutdown` completes; requests in flight finish first
/// (at most 10 s). Every connection is held to `limits` (see [`Limits`] for the defaults):
/// request-head and body deadlines, an idle keep-alive timeout, and a connection cap that sheds
/// the oldest idle or slow connection rather than stop accepting. HTTP/1.1 only (cleartext
/// HTTP/2 is not served). Raise the descriptor limit first
/// ([`agora_link_server_guard::raise_nofile_limit`]), as the binary does.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::ServiceExt as _;
    let tracker = agora_link_server_guard::Tracker::new(limits);
    tracing::info!(
        max_connections = tracker.stats().max_connections,
        header_read_timeout_ms = limits.header_read_timeout.as_millis() as u64,
        body_read_timeout_ms = limits.body_read_timeout.as_millis() as u64,
        idle_timeout_ms = limits.idle_timeout.as_millis() as u64,
        "connection limits"
    );
    agora_link_server_guard::serve(
        listener,
        tracker,
        agora_link_server_guard::Transport::Plain,
        move |_connection| {
            let router = router.clone();
            hyper::service::service_fn(
                move |request: Request<agora_link_server_guard::GuardedBody>| {
                    router.clone().oneshot(request.map(Body::new))
                },
            )
        },
        shutdown,
    )
    .await;
    Ok(())
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn failed(status: StatusCode, reason: impl Into<String>) -> Response<Body> {
    reply(
        status,
        json!({"status": "failed", "statusReason": reason.into()}),
    )
}

fn success(data: Option<Value>) -> Response<Body> {
    let mut body = json!({"status": "success", "statusReason": ""});
    if let Some(data) = data {
        body["data"] = data;
    }
    reply(StatusCode::OK, body)
}

fn store_failure(error: StoreError) -> Response<Body> {
    match error {
        StoreError::NotFound(reason) => failed(StatusCode::NOT_FOUND, reason),
        StoreError::Conflict(reason) => failed(StatusCode::CONFLICT, reason),
        StoreError::Storage(reason) => {
            tracing::error!(%reason, "storage failure");
            failed(StatusCode::INTERNAL_SERVER_ERROR, "storage failure")
        }
        StoreError::KeyMismatch => {
            tracing::error!("{}", crate::secrets::KEY_MISMATCH);
            failed(StatusCode::INTERNAL_SERVER_ERROR, "storage failure")
        }
        StoreError::Unavailable(reason) => {
            // The request's own line says 503; the reason only at debug level (an outage would
            // otherwise cost a second line per request).
            tracing::debug!(%reason, "database unavailable");
            unavailable()
        }
    }
}

/// The seconds a `503` asks the client to wait before trying again (`Retry-After`).
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// `503` with `Retry-After`: the database cannot serve now; the outcome of a change that got this
/// answer is unknown (a repeat gets the answer it would have had).
fn unavailable() -> Response<Body> {
    let mut response = failed(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is unavailable; try again",
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(RETRY_AFTER_SECONDS),
    );
    response
}

/// The routes, matched on the canonical path: runs of `/` collapsed, every segment
/// percent-decoded, identifiers in NFC ([`crate::text::identifier`]).
pub(crate) enum Route {
    ConfigureLicense(String),
    Activate(String),
    DeactivateProject(String, i64),
    CreateCustomer,
    DeactivateCustomer(String),
    License(String),
    Health,
}

/// A refusal before any work: status and reason.
pub(crate) type Refusal = (StatusCode, String);

/// The largest project id the stores hold (`INTEGER` in SQLite, `BIGINT` in PostgreSQL).
pub const MAX_PROJECT_ID: i64 = i64::MAX;

/// A `projectId` from a path segment: ASCII digits only, 1 to [`MAX_PROJECT_ID`].
fn project_from_segment(text: &str) -> Result<i64, Refusal> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(project_refusal()),
    }
}

fn project_refusal() -> Refusal {
    (
        StatusCode::BAD_REQUEST,
        format!("projectId must be a positive integer (1 to {MAX_PROJECT_ID})"),
    )
}

/// A `projectId` from a body: a JSON integer, 1 to [`MAX_PROJECT_ID`] (not `0`, `-0`, `1e3`,
/// `430892.0` or a string).
pub(crate) fn project_from_field(fields: &BTreeMap<String, Value>) -> Result<i64, Refusal> {
    match fields.get("projectId") {
        None | Some(Value::Null) => Err((
            StatusCode::BAD_REQUEST,
            "projectId (Int) is required".to_owned(),
        )),
        Some(Value::Number(number)) => match number.as_i64() {
            Some(id) if id > 0 && !number.is_f64() => Ok(id),
            _ => Err(project_refusal()),
        },
        Some(_) => Err(project_refusal()),
    }
}

pub(crate) fn route(method: &Method, path: &str) -> Result<Route, Refusal> {
    let normalised = crate::signature::normalise(path);
    let mut segments = Vec::new();
    for raw in normalised.trim_matches('/').split('/') {
        let Some(decoded) = crate::text::percent_decode(raw) else {
            return Err((
                StatusCode::BAD_REQUEST,
                "the path has an invalid percent-encoding (or is not UTF-8)".to_owned(),
            ));
        };
        segments.push(decoded);
    }
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let shown: String = path.chars().take(200).collect();
    let not_found = || (StatusCode::NOT_FOUND, format!("no route {method} {shown}"));
    let customer = |id: &str| -> Result<String, Refusal> {
        crate::text::identifier("customerId", id)
            .map_err(|reason| (StatusCode::BAD_REQUEST, reason))
    };
    match (method.as_str(), segments.as_slice()) {
        ("PUT", ["license", "customers", id, "activate"]) => {
            Ok(Route::ConfigureLicense(customer(id)?))
        }
        ("POST", ["customers", id, "projects", "new"]) => Ok(Route::Activate(customer(id)?)),
        ("PUT", ["customers", id, "projects", project, "deactivate"]) => {
            let customer = customer(id)?;
            Ok(Route::DeactivateProject(
                customer,
                project_from_segment(project)?,
            ))
        }
        ("POST", ["customers", "new"]) => Ok(Route::CreateCustomer),
        ("PUT", ["customers", id, "deactivate"]) => Ok(Route::DeactivateCustomer(customer(id)?)),
        ("GET", ["licenses", app_key]) => Ok(Route::License((*app_key).to_owned())),
        ("GET", ["health"]) => Ok(Route::Health),
        (_, ["license", "customers", _, "activate"])
        | (_, ["customers", _, "projects", "new"])
        | (_, ["customers", _, "projects", _, "deactivate"])
        | (_, ["customers", "new"])
        | (_, ["customers", _, "deactivate"]) => Err((
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {shown}"),
        )),
        _ => Err(not_found()),
    }
}

/// How a response is logged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Logged {
    /// An authenticated request (Agora's, or a license holder's): one line each.
    Request,
    /// Refused before authentication: counted, a few logged in full per interval.
    Refused,
    /// A health check: debug only.
    Health,
}

async fn handle(state: Arc<AppState>, request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (response, logged) = dispatch(&state, request).await;
    let status = response.status().as_u16();
    let elapsed_us = started.elapsed().as_micros() as u64;
    // Paths come from anyone: at most 200 characters of one reach the log.
    let path: String = path.chars().take(200).collect();
    match logged {
        Logged::Request => tracing::info!(%method, path, status, elapsed_us, "request"),
        Logged::Health => tracing::debug!(%method, path, status, elapsed_us, "health"),
        Logged::Refused => {
            if state.refusals.record(response.status().as_str()) {
                let reason = response
                    .extensions()
                    .get::<Reason>()
                    .map(|r| r.0.as_str())
                    .unwrap_or_default();
                tracing::warn!(%method, path, status, reason, elapsed_us, "refused request");
            }
        }
    }
    response
}

/// The reason of a refusal, for its log line.
#[derive(Clone)]
struct Reason(String);

/// What an authenticated request asks for, validated before the signature is checked.
enum Action {
    ConfigureLicense(String, License),
    Activate(String, i64),
    DeactivateProject(String, i64),
    CreateCustomer(NewCustomer),
    DeactivateCustomer(String),
}

fn refused(status: StatusCode, reason: impl Into<String>) -> (Response<Body>, Logged) {
    let reason = reason.into();
    let mut response = failed(status, reason.clone());
    if status == StatusCode::REQUEST_TIMEOUT {
        // The rest of the body is not read: the connection cannot carry another request.
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response.extensions_mut().insert(Reason(reason));
    (response, Logged::Refused)
}

async fn dispatch(state: &AppState, request: Request<Body>) -> (Response<Body>, Logged) {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = match route(&method, &path) {
        Ok(route) => route,
        Err((status, reason)) => return refused(status, reason),
    };
    match route {
        // Healthy only when the database answers (bounded, briefly cached): a load balancer then
        // sends requests only to nodes that can serve them.
        Route::Health => {
            return match state.store.health().await {
                Ok(()) => (success(None), Logged::Health),
                Err(error) => {
                    tracing::debug!(%error, "health check failed");
                    (unavailable(), Logged::Health)
                }
            }
        }
        Route::License(app_key) => return license(state, &app_key, request.headers()).await,
        _ => {}
    }
    let headers = request.headers().clone();
    let (raw, fields) = match read_json(request).await {
        Ok(body) => body,
        Err((status, reason)) => return refused(status, reason),
    };
    // Inputs are checked before the signature, so that a request that makes no sense gets a 400
    // naming the field rather than a signature mismatch.
    let action = match validate(route, &fields) {
        Ok(action) => action,
        Err((status, reason)) => return refused(status, reason),
    };
    if let Err(error) = authenticate(
        &state.config.verifier,
        &method,
        &path,
        &headers,
        &raw,
        &fields,
    ) {
        return refused(StatusCode::UNAUTHORIZED, error.to_string());
    }
    let response = match action {
        Action::ConfigureLicense(customer_id, license) => {
            match state.store.configure_license(&customer_id, license).await {
                Ok(()) => success(None),
                Err(error) => store_failure(error),
            }
        }
        Action::Activate(customer_id, project_id) => {
            match state.store.activate(&customer_id, project_id).await {
                Ok(grant) => success(Some(json!({
                    "appKey": grant.app_key,
                    "appSecret": grant.app_secret,
                    "licenseUrl": format!("{}/licenses/{}", state.config.public_url.trim_end_matches('/'), grant.app_key),
                }))),
                Err(error) => store_failure(error),
            }
        }
        Action::DeactivateProject(customer_id, project_id) => {
            match state
                .store
                .deactivate_project(&customer_id, project_id)
                .await
            {
                Ok(()) => success(None),
                Err(error) => store_failure(error),
            }
        }
        Action::CreateCustomer(customer) => match state.store.create_customer(customer).await {
            Ok(()) => success(None),
            Err(error) => store_failure(error),
        },
        Action::DeactivateCustomer(customer_id) => {
            match state.store.deactivate_customer(&customer_id).await {
                Ok(()) => success(None),
                Err(error) => store_failure(error),
            }
        }
    };
    (response, Logged::Request)
}

/// The checked inputs of `route`'s request.
fn validate(route: Route, fields: &BTreeMap<String, Value>) -> Result<Action, Refusal> {
    let bad = |reason: String| (StatusCode::BAD_REQUEST, reason);
    Ok(match route {
        Route::ConfigureLicense(customer_id) => {
            Action::ConfigureLicense(customer_id, parse_license(fields).map_err(bad)?)
        }
        Route::Activate(customer_id) => Action::Activate(customer_id, project_from_field(fields)?),
        Route::DeactivateProject(customer_id, project_id) => {
            Action::DeactivateProject(customer_id, project_id)
        }
        Route::CreateCustomer => {
            let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
            let (Some(customer_id), Some(plan_id)) = (text("customerId"), plan_id(fields)) else {
                return Err(bad("customerId (String) and planId are required".to_owned()));
            };
            Action::CreateCustomer(NewCustomer {
                customer_id: crate::text::identifier("customerId", &customer_id).map_err(bad)?,
                plan_id: crate::text::identifier("planId", &plan_id).map_err(bad)?,
                name: text("customerName"),
                email: text("customerEmail"),
                phone: text("customerPhone"),
            })
        }
        Route::DeactivateCustomer(customer_id) => Action::DeactivateCustomer(customer_id),
        Route::License(_) | Route::Health => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "answered before validation".to_owned(),
            ))
        }
    })
}

/// `planId`: a non-empty string, or an integer (kept in its decimal form; a number that is not
/// an exact integer, such as `1e3` or `12345678901234567890123`, would be stored rounded, so it
/// is refused).
pub(crate) fn plan_id(fields: &BTreeMap<String, Value>) -> Option<String> {
    match fields.get("planId")? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) if number.is_i64() || number.is_u64() => Some(number.to_string()),
        _ => None,
    }
}

/// Reads the body (at most [`MAX_BODY_BYTES`], JSON, an object of fields). A body still arriving
/// at the server's body deadline is a `408`.
async fn read_json(request: Request<Body>) -> Result<(Bytes, BTreeMap<String, Value>), Refusal> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.starts_with("application/json") {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json".to_owned(),
        ));
    }
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is too large".to_owned(),
        )
    };
    if request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES)
    {
        return Err(too_large());
    }
    let raw = to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|error| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(error) = source {
                if error.is::<BodyTimeout>() {
                    return (
                        StatusCode::REQUEST_TIMEOUT,
                        "the request body did not arrive in time".to_owned(),
                    );
                }
                if error.is::<http_body_util::LengthLimitError>() {
                    return too_large();
                }
                source = error.source();
            }
            (
                StatusCode::BAD_REQUEST,
                "the request body ended before its Content-Length (or was malformed)".to_owned(),
            )
        })?;
    let fields = parse_fields(&raw)?;
    Ok((raw, fields))
}

/// The fields of a request body: a JSON object whose `apiKey` and `signature`, when present, are
/// strings.
pub(crate) fn parse_fields(raw: &[u8]) -> Result<BTreeMap<String, Value>, Refusal> {
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err((
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object".to_owned(),
        ));
    };
    let fields: BTreeMap<String, Value> = Map::into_iter(map).collect();
    for name in ["apiKey", "signature"] {
        if let Some(value) = fields.get(name) {
            if !value.is_string() {
                return Err((StatusCode::BAD_REQUEST, format!("{name} must be a string")));
            }
        }
    }
    Ok(fields)
}

pub(crate) fn authenticate(
    verifier: &Verifier,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    raw: &[u8],
    fields: &BTreeMap<String, Value>,
) -> Result<String, AuthError> {
    let header_value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header_value("x-agora-signature").is_some() || verifier.requires_v2() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        return verifier.verify_v2(
            method.as_str(),
            path,
            raw,
            V2Headers {
                timestamp: header_value("x-agora-timestamp"),
                signature: header_value("x-agora-signature"),
                api_key: header_value("x-agora-key"),
            },
            now,
        );
    }
    verifier.verify_v1(method.as_str(), path, fields)
}

/// `platform` (required, `|`-separated), `expire` (`"<start>-<end>"`, unix seconds), `type`.
pub(crate) fn parse_license(fields: &BTreeMap<String, Value>) -> Result<License, String> {
    let platform = fields
        .get("platform")
        .and_then(Value::as_str)
        .ok_or("platform (String) is required")?;
    let platforms: Vec<String> = platform
        .split('|')
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if platforms.is_empty() {
        return Err("platform names no platform".into());
    }
    let expire = fields
        .get("expire")
        .and_then(Value::as_str)
        .ok_or("expire (String, \"<start>-<end>\") is required")?;
    let (start, end) = expire
        .split_once('-')
        .ok_or("expire must be \"<start>-<end>\" (unix seconds)")?;
    let (Ok(valid_from), Ok(valid_to)) = (start.trim().parse::<i64>(), end.trim().parse::<i64>())
    else {
        return Err("expire must be \"<start>-<end>\" (unix seconds)".into());
    };
    if valid_from < 0 || valid_to <= valid_from {
        return Err("expire must end after it starts".into());
    }
    let license_type = match fields.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.len() <= 32 => Some(text.clone()),
        Some(_) => return Err("type must be a string of at most 32 characters".into()),
    };
    Ok(License {
        platforms,
        valid_from,
        valid_to,
        license_type,
    })
}

/// `appKey` and `appSecret` of an `Authorization: Basic base64(appKey:appSecret)` value.
pub(crate) fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let decoded = STANDARD
        .decode(authorization.strip_prefix("Basic ")?.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (key, secret) = text.split_once(':')?;
    Some((key.to_owned(), secret.to_owned()))
}

/// `GET /licenses/{appKey}` with `Authorization: Basic base64(appKey:appSecret)`.
async fn license(state: &AppState, app_key: &str, headers: &HeaderMap) -> (Response<Body>, Logged) {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials);
    let Some((key, secret)) = presented.as_ref().map(|(k, s)| (k.as_str(), s.as_str())) else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "Basic authentication with appKey:appSecret is required",
        );
    };
    let grant = match state.store.grant_license(app_key).await {
        Ok(grant) => grant,
        Err(StoreError::NotFound(_)) => {
            return refused(
                StatusCode::UNAUTHORIZED,
                "unknown appKey or wrong appSecret",
            )
        }
        Err(error) => return (store_failure(error), Logged::Request),
    };
    let matches = crate::signature::constant_time_eq(key.as_bytes(), app_key.as_bytes())
        && crate::signature::constant_time_eq(secret.as_bytes(), grant.grant.app_secret.as_bytes());
    if !matches {
        return refused(
            StatusCode::UNAUTHORIZED,
            "unknown appKey or wrong appSecret",
        );
    }
    if !grant.grant.active {
        return (
            failed(
                StatusCode::FORBIDDEN,
                "the extension is deactivated for this project",
            ),
            Logged::Request,
        );
    }
    let response = success(Some(json!({
        "appKey": grant.grant.app_key,
        "customerId": grant.grant.customer_id,
        "projectId": grant.grant.project_id,
        "license": grant.license.map(|l| json!({
            "platforms": l.platforms,
            "validFrom": l.valid_from,
            "validTo": l.valid_to,
            "type": l.license_type,
        })),
    })));
    (response, Logged::Request)
}
