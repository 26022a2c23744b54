//! The HTTP server: every endpoint of both editions of the spec, authenticated, validated,
//! answered in the spec's shape (`{"status","statusReason"[,"data"]}`) with ordinary statuses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, Response, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

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
}

/// The router of the service.
pub fn router(config: ServerConfig, store: Store) -> Router {
    let state = Arc::new(AppState { config, store });
    Router::new().fallback(move |request: Request<Body>| {
        let state = state.clone();
        async move { handle(state, request).await }
    })
}

/// Serves `router` on `listener` until `shutdown` completes; requests in flight finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
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
    }
}

/// The routes, matched on the path with runs of `/` collapsed.
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

pub(crate) fn route(method: &Method, path: &str) -> Result<Route, Refusal> {
    let normalised = crate::signature::normalise(path);
    let segments: Vec<&str> = normalised.trim_matches('/').split('/').collect();
    let not_found = || (StatusCode::NOT_FOUND, format!("no route {method} {path}"));
    let customer = |id: &str| -> Result<String, Refusal> {
        if id.is_empty() || id.len() > 255 {
            Err((
                StatusCode::BAD_REQUEST,
                "customerId must be 1 to 255 characters".to_owned(),
            ))
        } else {
            Ok(id.to_owned())
        }
    };
    match (method.as_str(), segments.as_slice()) {
        ("PUT", ["license", "customers", id, "activate"]) => {
            Ok(Route::ConfigureLicense(customer(id)?))
        }
        ("POST", ["customers", id, "projects", "new"]) => Ok(Route::Activate(customer(id)?)),
        ("PUT", ["customers", id, "projects", project, "deactivate"]) => {
            let project = project.parse().map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    "projectId must be an integer".to_owned(),
                )
            })?;
            Ok(Route::DeactivateProject(customer(id)?, project))
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
            format!("{method} is not allowed on {path}"),
        )),
        _ => Err(not_found()),
    }
}

async fn handle(state: Arc<AppState>, request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = dispatch(&state, request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

async fn dispatch(state: &AppState, request: Request<Body>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = match route(&method, &path) {
        Ok(route) => route,
        Err((status, reason)) => return failed(status, reason),
    };
    match route {
        Route::Health => return success(None),
        Route::License(app_key) => return license(state, &app_key, request.headers()).await,
        _ => {}
    }
    let headers = request.headers().clone();
    let body = match read_json(request).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (raw, fields) = body;
    if let Err(error) = authenticate(
        &state.config.verifier,
        &method,
        &path,
        &headers,
        &raw,
        &fields,
    ) {
        tracing::warn!(%method, path, %error, "authentication failed");
        return failed(StatusCode::UNAUTHORIZED, error.to_string());
    }
    match route {
        Route::ConfigureLicense(customer_id) => {
            let license = match parse_license(&fields) {
                Ok(license) => license,
                Err(reason) => return failed(StatusCode::BAD_REQUEST, reason),
            };
            match state.store.configure_license(&customer_id, license).await {
                Ok(()) => success(None),
                Err(error) => store_failure(error),
            }
        }
        Route::Activate(customer_id) => {
            let Some(project_id) = fields.get("projectId").and_then(Value::as_i64) else {
                return failed(StatusCode::BAD_REQUEST, "projectId (Int) is required");
            };
            match state.store.activate(&customer_id, project_id).await {
                Ok(grant) => success(Some(json!({
                    "appKey": grant.app_key,
                    "appSecret": grant.app_secret,
                    "licenseUrl": format!("{}/licenses/{}", state.config.public_url.trim_end_matches('/'), grant.app_key),
                }))),
                Err(error) => store_failure(error),
            }
        }
        Route::DeactivateProject(customer_id, project_id) => {
            match state
                .store
                .deactivate_project(&customer_id, project_id)
                .await
            {
                Ok(()) => success(None),
                Err(error) => store_failure(error),
            }
        }
        Route::CreateCustomer => {
            let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
            let (Some(customer_id), Some(plan_id)) = (text("customerId"), plan_id(&fields)) else {
                return failed(
                    StatusCode::BAD_REQUEST,
                    "customerId (String) and planId are required",
                );
            };
            if customer_id.is_empty() || customer_id.len() > 255 {
                return failed(
                    StatusCode::BAD_REQUEST,
                    "customerId must be 1 to 255 characters",
                );
            }
            let customer = NewCustomer {
                customer_id,
                plan_id,
                name: text("customerName"),
                email: text("customerEmail"),
                phone: text("customerPhone"),
            };
            match state.store.create_customer(customer).await {
                Ok(()) => success(None),
                Err(error) => store_failure(error),
            }
        }
        Route::DeactivateCustomer(customer_id) => {
            match state.store.deactivate_customer(&customer_id).await {
                Ok(()) => success(None),
                Err(error) => store_failure(error),
            }
        }
        Route::License(_) | Route::Health => unreachable!("answered above"),
    }
}

pub(crate) fn plan_id(fields: &BTreeMap<String, Value>) -> Option<String> {
    match fields.get("planId")? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Reads the body (at most [`MAX_BODY_BYTES`], JSON, an object of fields).
async fn read_json(
    request: Request<Body>,
) -> Result<(Bytes, BTreeMap<String, Value>), Response<Body>> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.starts_with("application/json") {
        return Err(failed(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    if request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES)
    {
        return Err(failed(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is too large",
        ));
    }
    let raw = to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| failed(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"))?;
    let fields = parse_fields(&raw).map_err(|(status, reason)| failed(status, reason))?;
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
async fn license(state: &AppState, app_key: &str, headers: &HeaderMap) -> Response<Body> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials);
    let Some((key, secret)) = presented.as_ref().map(|(k, s)| (k.as_str(), s.as_str())) else {
        return failed(
            StatusCode::UNAUTHORIZED,
            "Basic authentication with appKey:appSecret is required",
        );
    };
    let grant = match state.store.grant_license(app_key).await {
        Ok(grant) => grant,
        Err(StoreError::NotFound(_)) => {
            return failed(
                StatusCode::UNAUTHORIZED,
                "unknown appKey or wrong appSecret",
            )
        }
        Err(error) => return store_failure(error),
    };
    let matches = crate::signature::constant_time_eq(key.as_bytes(), app_key.as_bytes())
        && crate::signature::constant_time_eq(secret.as_bytes(), grant.grant.app_secret.as_bytes());
    if !matches {
        return failed(
            StatusCode::UNAUTHORIZED,
            "unknown appKey or wrong appSecret",
        );
    }
    if !grant.grant.active {
        return failed(
            StatusCode::FORBIDDEN,
            "the extension is deactivated for this project",
        );
    }
    success(Some(json!({
        "appKey": grant.grant.app_key,
        "customerId": grant.grant.customer_id,
        "projectId": grant.grant.project_id,
        "license": grant.license.map(|l| json!({
            "platforms": l.platforms,
            "validFrom": l.valid_from,
            "validTo": l.valid_to,
            "type": l.license_type,
        })),
    })))
}
