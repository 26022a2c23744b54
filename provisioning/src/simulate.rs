//! `simulate`: plays Agora's side of the service-activation API against any provider server —
//! signed requests, a 500 ms timeout, up to three calls per operation, duplicates in flight —
//! and reports whether the answers were consistent. Providers run it before going live.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::signature::signed_body;

/// What to simulate against.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// The provider's base URL.
    pub url: String,
    /// The apiKey Agora sends.
    pub api_key: String,
    /// Its secret.
    pub api_secret: String,
    /// The customer id to use.
    pub customer_id: String,
    /// The project id to activate.
    pub project_id: i64,
    /// Agora's wait for an answer (500 ms).
    pub timeout: Duration,
}

/// What a call expects of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    /// HTTP 200 with `"status": "success"`.
    Success,
    /// HTTP 401 or 403 (a forged signature): a refusal is the right answer.
    Refusal,
}

/// One call and its outcome.
///
/// In JSON: `{"request": "POST /customers/c/projects/new", "expected": "success", "status":
/// 200, "answer": "success", "outcome": "succeeded", "elapsed_ms": 3.1}`; a forged signature
/// refused reads `"expected": "refusal", "status": 401, "answer": "failed", "outcome": "refused
/// as expected"`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Call {
    /// `METHOD path`.
    pub request: String,
    /// What the call expects: `success` or `refusal`.
    pub expected: Expected,
    /// The HTTP status, or none (timeout, connection error).
    pub status: Option<u16>,
    /// The answer's `status` field as the provider sent it (`success`, `failed`), if any.
    pub answer: Option<String>,
    /// The verdict against `expected`: `succeeded` or `refused as expected` (both a pass), or
    /// `failed`, `not refused`, `no answer` (problems, also listed in the report's `problems`).
    pub outcome: &'static str,
    /// How long it took, ms, rounded to 0.1 ms.
    pub elapsed_ms: f64,
}

impl Call {
    /// `true` when the call went as expected.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, OUTCOME_SUCCEEDED | OUTCOME_REFUSED)
    }
}

/// The outcome of an expected success that succeeded.
pub const OUTCOME_SUCCEEDED: &str = "succeeded";
/// The outcome of an expected refusal that was refused (401/403).
pub const OUTCOME_REFUSED: &str = "refused as expected";

/// The verdict on an answer against what was expected.
fn verdict(expected: Expected, answer: &Option<(u16, Value)>) -> &'static str {
    match (expected, answer) {
        (_, None) => "no answer",
        (Expected::Success, Some((200, body))) if body["status"] == "success" => OUTCOME_SUCCEEDED,
        (Expected::Success, Some(_)) => "failed",
        (Expected::Refusal, Some((401 | 403, _))) => OUTCOME_REFUSED,
        (Expected::Refusal, Some(_)) => "not refused",
    }
}

/// Milliseconds rounded to one decimal (`2.4779459…` → `2.5`).
fn round_ms(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The report of a simulation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Every call made.
    pub calls: Vec<Call>,
    /// Problems found; empty when the provider behaved.
    pub problems: Vec<String>,
    /// `true` when no problem was found.
    pub consistent: bool,
    /// What could not be checked from here and was checked another way (a `licenseUrl` on a
    /// public address fetched through `--url`); not problems.
    pub notes: Vec<String>,
}

struct Agora {
    http: reqwest::Client,
    options: SimulateOptions,
    calls: Vec<Call>,
}

impl Agora {
    fn signed_body(&self, method: &str, path: &str, fields: Value) -> Vec<u8> {
        signed_body(
            &self.options.api_key,
            &self.options.api_secret,
            method,
            path,
            &fields,
        )
    }

    /// One call within Agora's timeout: `(status, body)`, or `None` when it timed out or failed.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        expected: Expected,
    ) -> Option<(u16, Value)> {
        let (call, answer) =
            one_call(&self.http, &self.options, method, path, body, expected).await;
        self.calls.push(call);
        answer
    }

    /// Agora's delivery: up to three calls, the next when the previous got no answer in time.
    async fn deliver(&mut self, method: &str, path: &str, fields: Value) -> Option<(u16, Value)> {
        let body = self.signed_body(method, path, fields);
        for _ in 0..3 {
            if let Some(answer) = self
                .call(method, path, body.clone(), Expected::Success)
                .await
            {
                return Some(answer);
            }
        }
        None
    }
}

async fn one_call(
    http: &reqwest::Client,
    options: &SimulateOptions,
    method: &str,
    path: &str,
    body: Vec<u8>,
    expected: Expected,
) -> (Call, Option<(u16, Value)>) {
    let started = Instant::now();
    let request = http
        .request(
            method.parse().unwrap_or(reqwest::Method::POST),
            format!("{}{path}", options.url.trim_end_matches('/')),
        )
        .header("content-type", "application/json")
        .body(body)
        .send();
    let answer = tokio::time::timeout(options.timeout, async {
        let response = request.await.ok()?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.ok()?;
        Some((
            status,
            serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
        ))
    })
    .await
    .unwrap_or_default();
    let call = Call {
        request: format!("{method} {path}"),
        expected,
        status: answer.as_ref().map(|(s, _)| *s),
        answer: answer
            .as_ref()
            .and_then(|(_, v)| v.get("status").and_then(Value::as_str).map(str::to_owned)),
        outcome: verdict(expected, &answer),
        elapsed_ms: round_ms(started.elapsed()),
    };
    (call, answer)
}

fn succeeded(answer: &Option<(u16, Value)>) -> bool {
    verdict(Expected::Success, answer) == OUTCOME_SUCCEEDED
}

/// Runs the simulation: license, activation (three duplicates at once, then a retry), the
/// license URL, deactivation (with the page's `//` path), and a bad signature that must fail.
pub async fn simulate(options: SimulateOptions) -> Report {
    // reqwest needs a TLS provider installed even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut agora = Agora {
        http: reqwest::Client::new(),
        options: options.clone(),
        calls: Vec::new(),
    };
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let customer = &options.customer_id;

    let license = agora
        .deliver(
            "PUT",
            &format!("/license/customers/{customer}/activate"),
            json!({"platform": "android|ios", "expire": "1619913600-1924992000", "type": "normal"}),
        )
        .await;
    if !succeeded(&license) {
        problems.push(format!("license configuration failed: {license:?}"));
    }

    // Activation: three identical calls in flight at once, as Agora's retries can overlap.
    let path = format!("/customers/{customer}/projects/new");
    let body = agora.signed_body("POST", &path, json!({"projectId": options.project_id}));
    let activation = || {
        one_call(
            &agora.http,
            &options,
            "POST",
            &path,
            body.clone(),
            Expected::Success,
        )
    };
    let (first, second, third) = tokio::join!(activation(), activation(), activation());
    let concurrent = [first, second, third];
    let mut answers = Vec::new();
    for (call, answer) in concurrent {
        agora.calls.push(call);
        answers.push(answer);
    }
    let retry = agora.call("POST", &path, body, Expected::Success).await;
    answers.push(retry);
    let credentials: Vec<&Value> = answers
        .iter()
        .filter(|a| succeeded(a))
        .filter_map(|a| a.as_ref().map(|(_, v)| &v["data"]))
        .collect();
    if credentials.is_empty() {
        problems.push("no activation succeeded".into());
    }
    if credentials.windows(2).any(|w| w[0] != w[1]) {
        problems.push("repeated activations returned different credentials".into());
    }
    if let Some(data) = credentials.first() {
        for field in ["appKey", "appSecret"] {
            let len = data[field].as_str().map_or(0, str::len);
            if !(32..=255).contains(&len) {
                problems.push(format!("{field} has {len} characters (32 to 255 expected)"));
            }
        }
        if let (Some(url), Some(key), Some(secret)) = (
            data["licenseUrl"].as_str(),
            data["appKey"].as_str(),
            data["appSecret"].as_str(),
        ) {
            match fetch_license(&agora.http, url, key, secret).await {
                Ok(()) => {}
                Err(error) => match rebase(url, &options.url) {
                    // The license URL names the service's public address (`--public-url`),
                    // which need not be reachable from where `simulate` runs: fetch the same
                    // path through the address it calls, and say what was not checked.
                    Some(local) => match fetch_license(&agora.http, &local, key, secret).await {
                        Ok(()) => notes.push(format!(
                            "licenseUrl {url} could not be fetched from here ({error}); its path \
                             answered with the license at {local}. Not checked: that {url} \
                             reaches this service from the internet."
                        )),
                        Err(local_error) => problems.push(format!(
                            "licenseUrl {url} did not answer with the license ({error}), nor did \
                             its path at {local} ({local_error})"
                        )),
                    },
                    None => problems.push(format!(
                        "licenseUrl {url} did not answer with the license ({error})"
                    )),
                },
            }
        }
    }

    let deactivate = agora
        .deliver(
            "PUT",
            &format!(
                "//customers/{customer}/projects/{}/deactivate",
                options.project_id
            ),
            json!({}),
        )
        .await;
    if !succeeded(&deactivate) {
        problems.push(format!("deactivation failed: {deactivate:?}"));
    }

    // A request with a wrong signature must be refused.
    let mut forged: Value = serde_json::from_slice(&agora.signed_body(
        "POST",
        &path,
        json!({"projectId": options.project_id + 1}),
    ))
    .unwrap_or(Value::Null);
    forged["signature"] = Value::String("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    let refused = agora
        .call(
            "POST",
            &path,
            serde_json::to_vec(&forged).unwrap_or_default(),
            Expected::Refusal,
        )
        .await;
    if verdict(Expected::Refusal, &refused) != OUTCOME_REFUSED {
        problems.push(format!(
            "a forged signature was not refused with 401/403: {refused:?}"
        ));
    }
    let slow = agora.calls.iter().filter(|c| c.status.is_none()).count();
    if slow > 0 {
        problems.push(format!(
            "{slow} call(s) got no answer within {} ms",
            options.timeout.as_millis()
        ));
    }
    Report {
        consistent: problems.is_empty(),
        calls: agora.calls,
        problems,
        notes,
    }
}

/// How long the license fetch may take (it is the app's call, not Agora's: no 500 ms rule).
const LICENSE_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET url` with Basic `key:secret`; `Err` says why it did not answer with a 2xx.
async fn fetch_license(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    secret: &str,
) -> Result<(), String> {
    let request = http.get(url).basic_auth(key, Some(secret)).send();
    match tokio::time::timeout(LICENSE_FETCH_TIMEOUT, request).await {
        Err(_) => Err(format!(
            "no answer within {} s",
            LICENSE_FETCH_TIMEOUT.as_secs()
        )),
        Ok(Err(error)) => Err(if error.is_connect() {
            "cannot connect".to_owned()
        } else {
            "request failed".to_owned()
        }),
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(format!("HTTP {}", response.status().as_u16())),
    }
}

/// `license_url`'s path and query on the origin of `called` (the `--url` simulate calls), when
/// the two origins differ; `None` when they are the same or either is not a URL.
fn rebase(license_url: &str, called: &str) -> Option<String> {
    let license = reqwest::Url::parse(license_url).ok()?;
    let called_url = reqwest::Url::parse(called).ok()?;
    if license.origin() == called_url.origin() {
        return None;
    }
    let mut rebased = format!("{}{}", called.trim_end_matches('/'), license.path());
    if let Some(query) = license.query() {
        rebased.push('?');
        rebased.push_str(query);
    }
    Some(rebased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_times_are_rounded_to_a_tenth_of_a_millisecond() {
        assert_eq!(round_ms(Duration::from_nanos(2_477_945)), 2.5);
        assert_eq!(round_ms(Duration::from_nanos(2_449_999)), 2.4);
        assert_eq!(round_ms(Duration::from_micros(500_000)), 500.0);
        assert_eq!(
            serde_json::to_string(&round_ms(Duration::from_nanos(2_477_945))).unwrap(),
            "2.5"
        );
    }

    #[test]
    fn an_expected_refusal_is_a_pass() {
        let refused = Some((401, json!({"status": "failed"})));
        assert_eq!(verdict(Expected::Refusal, &refused), "refused as expected");
        assert_eq!(verdict(Expected::Success, &refused), "failed");
        let accepted = Some((200, json!({"status": "success"})));
        assert_eq!(verdict(Expected::Refusal, &accepted), "not refused");
        assert_eq!(verdict(Expected::Success, &accepted), "succeeded");
        assert_eq!(verdict(Expected::Refusal, &None), "no answer");
    }
}
