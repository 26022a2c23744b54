//! The plan loop: one call's attempts over the transport it is given, host by host as the
//! plan and the hosts' health decide, with back-off, never past the call's deadline, and never
//! resending a request that may have reached the server unless that is safe.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderValue;
use reqwest::Url;

use super::health::{Admission, ClientStats};
use super::plan::{HostTable, Step};
use crate::api::envelope::is_envelope;
use crate::attempt::{Attempt, Attempts, FailureClass};
use crate::config::ClientConfig;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result, TransportErrorKind};
use crate::policy::{random_unit, FailoverEvent};
use crate::transport::{wipe, HttpResponse, HttpTransport};

/// What one request may do: its deadline and whether a possibly delivered request may be resent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestBudget {
    pub deadline: Instant,
    pub allow_resend: bool,
}

/// A transport with the host table of one client: sends each call by the failover plan of
/// [`crate::failover`]. Cheap to share: everything is behind `Arc`s.
#[derive(Debug, Clone)]
pub(crate) struct Failover {
    transport: HttpTransport,
    hosts: Arc<HostTable>,
}

impl Failover {
    /// The host table of `config` (its policy, every host of its plans) over `transport`.
    pub fn new(config: &ClientConfig, transport: HttpTransport) -> Result<Self> {
        let hosts = Arc::new(HostTable::new(config, transport.resolver())?);
        Ok(Self { transport, hosts })
    }

    /// The transport the attempts go through (for requests outside the plan, such as Cognito's).
    pub fn transport(&self) -> &HttpTransport {
        &self.transport
    }

    /// The URL of `endpoint` on the primary host.
    pub fn primary_url(&self, endpoint: Endpoint) -> &Url {
        self.hosts.url(0, endpoint)
    }

    /// The overall deadline of a call starting now, unless the caller set one.
    pub fn default_call_deadline(&self) -> Duration {
        self.hosts.policy.call_deadline
    }

    /// A snapshot of the request counters and host health.
    pub fn stats(&self) -> ClientStats {
        self.hosts.counters.snapshot(self.hosts.host_health())
    }

    /// POSTs `body` (JSON) with `Authorization: <bearer>` when given, following the failover
    /// plan within `budget`, and reads the whole answer up to the size limit. Runs on the
    /// caller's tokio runtime, or on the library runtime when polled outside of one.
    ///
    /// Each attempt is bounded by one `tokio::time::timeout` (the request timeout or what is left
    /// of the deadline) rather than reqwest's per-request timeout, which costs measurably more
    /// per call (see the README's figures).
    pub async fn post_json(
        &self,
        endpoint: Endpoint,
        body: Bytes,
        bearer: Option<HeaderValue>,
        trace_id: Option<String>,
        budget: RequestBudget,
    ) -> Result<HttpResponse> {
        let failover = self.clone();
        let exchange = async move {
            let result = failover
                .send_with_failover(endpoint, &body, bearer, trace_id.as_deref(), budget)
                .await;
            wipe(body);
            result
        };
        self.transport.on_home(exchange).await
    }

    /// The plan loop: steps 1-3, then step 4 decided from where the primary resolved; host
    /// health consulted and updated; back-off between tries; never past the deadline.
    async fn send_with_failover(
        &self,
        endpoint: Endpoint,
        body: &Bytes,
        bearer: Option<HeaderValue>,
        trace_id: Option<&str>,
        budget: RequestBudget,
    ) -> Result<HttpResponse> {
        let table = &*self.hosts;
        let policy = &table.policy;
        let counters = &table.counters;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        let may_resend = |class: FailureClass| {
            class.before_request_sent() || endpoint.is_idempotent() || budget.allow_resend
        };

        let mut steps = table.head_steps();
        let mut regional_added = false;
        let mut ignore_breaker = false;
        let mut index = 0;
        let mut trail: Vec<Attempt> = Vec::new();
        let mut previous: Option<(usize, FailureClass)> = None;
        let mut primary_failure: Option<FailureClass> = None;
        let mut delays_taken = 0usize;
        let mut retry_after: Option<Duration> = None;
        let mut rate_limit_repeats = 0u32;
        let mut stale_retried = false;
        let mut last: Option<Result<HttpResponse>> = None;

        loop {
            if index == steps.len() {
                if !regional_added {
                    regional_added = true;
                    steps.extend(table.regional_steps());
                    continue;
                }
                if previous.is_none() && !ignore_breaker {
                    // Every host of the plan is cooling down: try them anyway rather than fail
                    // without trying.
                    ignore_breaker = true;
                    index = 0;
                    continue;
                }
                break;
            }
            let (step, host) = steps[index];
            index += 1;
            let entry = &table.hosts[host];
            match step {
                // Step 2 repeats a host this call just tried, unless retrying cannot help soon
                // (a connect timeout would cost the same again; a TLS failure is deterministic).
                Step::PrimaryAgain => match previous {
                    Some((h, class))
                        if h == host
                            && !matches!(
                                class,
                                FailureClass::ConnectTimeout | FailureClass::Tls
                            ) => {}
                    _ => continue,
                },
                // The spec skips step 3 after a network failure (as opposed to a DNS failure)
                // and goes to step 4; when step 4 has no host, the other primary is still
                // better than giving up.
                Step::OtherPrimary
                    if primary_failure.is_some_and(FailureClass::is_network)
                        && !table.regional_steps().is_empty() =>
                {
                    continue
                }
                _ => {}
            }
            let now = Instant::now();
            let repeat_of_previous = previous.is_some_and(|(h, _)| h == host);
            if !ignore_breaker
                && !repeat_of_previous
                && entry.health.admit(now, policy) == Admission::Open
            {
                entry.health.skipped.fetch_add(1, Ordering::Relaxed);
                if step == Step::Primary {
                    primary_failure = entry.health.open_failure(now);
                }
                trail.push(Attempt {
                    host: entry.name.clone(),
                    failure: FailureClass::CoolingDown,
                    elapsed: Duration::ZERO,
                });
                continue;
            }
            let mut delay = match previous {
                None => Duration::ZERO,
                Some((h, class)) if h != host && class.before_request_sent() => Duration::ZERO,
                Some(_) => {
                    delays_taken += 1;
                    policy.backoff_delay(delays_taken - 1, random_unit())
                }
            };
            if let Some(wait) = retry_after.take() {
                delay = delay.max(wait);
            }
            // A wait that reaches past the deadline (any `Retry-After`, however large) ends the
            // call with the answer that asked for it.
            if crate::wire_time::instant_after(now, delay).map_or(true, |at| at >= budget.deadline)
            {
                break;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if let Some((h, class)) = previous {
                let counter = if h == host {
                    &counters.retries
                } else {
                    &counters.failovers
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    endpoint = endpoint.name(),
                    from = table.hosts[h].name.as_str(),
                    to = entry.name.as_str(),
                    failure = %class,
                    step = ?step,
                    delay_ms = delay.as_millis() as u64,
                    trace_id,
                    "agora link failover"
                );
                if let Some(observer) = &policy.observer {
                    (observer.0)(&FailoverEvent {
                        endpoint,
                        from: table.hosts[h].name.clone(),
                        failure: class,
                        to: entry.name.clone(),
                        delay,
                    });
                }
            }
            counters.attempts.fetch_add(1, Ordering::Relaxed);
            entry.health.attempts.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            // One exchange with this host until the deadline, pooled or on a fresh connection.
            let try_host = |pooled: bool| {
                let remaining = budget.deadline.saturating_duration_since(Instant::now());
                let url = table.url(host, endpoint);
                self.transport.attempt(
                    endpoint,
                    url,
                    body,
                    bearer.clone(),
                    trace_id,
                    remaining,
                    pooled,
                )
            };
            // A call that must not be resent never reuses a pooled connection: the server may
            // be closing it as idle just as the request goes out, and then nobody can tell
            // whether it read the request.
            let (mut result, stale) = try_host(endpoint.is_idempotent()).await;
            if stale && !stale_retried {
                // A pooled connection the server had already closed (its idle timeout, a load
                // balancer's): not a host failure. Asked again at once on a fresh connection.
                stale_retried = true;
                counters.retries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    endpoint = endpoint.name(),
                    host = entry.name.as_str(),
                    trace_id,
                    "pooled connection closed by the server; retrying on a fresh connection"
                );
                result = try_host(false).await.0;
            }
            let class = match &result {
                Ok(response) => match response_failure(response) {
                    None => {
                        entry.health.record_success();
                        return result.map(|mut response| {
                            response.attempts = trail;
                            response
                        });
                    }
                    Some(class) => class,
                },
                Err(Error::Transport { kind, .. }) => FailureClass::from_transport(*kind),
                Err(Error::Decode { .. }) => FailureClass::ResetAfterSend,
                Err(_) => {
                    counters.failed_requests.fetch_add(1, Ordering::Relaxed);
                    return result;
                }
            };
            trail.push(Attempt {
                host: entry.name.clone(),
                failure: class,
                elapsed: started.elapsed(),
            });
            if class == FailureClass::RateLimited {
                retry_after = result.as_ref().ok().and_then(|r| r.retry_after);
            } else if class == FailureClass::Proxy {
                // The proxy failed, not the host: the host's health stays as it was.
            } else {
                entry
                    .health
                    .record_failure(class, Instant::now(), policy, repeat_of_previous);
            }
            if matches!(step, Step::Primary | Step::PrimaryAgain) {
                primary_failure = Some(class);
            }
            last = Some(result);
            if !may_resend(class) {
                break;
            }
            // A rate-limited host is asked once more after `Retry-After` (the limit is the
            // account's, so another host would not help).
            let next_is_same = steps.get(index).is_some_and(|(_, h)| *h == host);
            if class == FailureClass::RateLimited
                && !next_is_same
                && !repeat_of_previous
                && rate_limit_repeats == 0
            {
                rate_limit_repeats += 1;
                steps.insert(index, (step, host));
            }
            previous = Some((host, class));
        }

        counters.failed_requests.fetch_add(1, Ordering::Relaxed);
        match last {
            Some(Ok(mut response)) => {
                response.attempts = trail;
                Ok(response)
            }
            Some(Err(error)) => Err(error.with_attempts(trail)),
            None => Err(Error::Transport {
                endpoint,
                kind: TransportErrorKind::Timeout,
                message: format!(
                    "the call deadline ({} ms) left no time for an attempt",
                    policy.call_deadline.as_millis()
                ),
                trace_id: trace_id.map(str::to_owned),
                attempts: Attempts(trail),
            }),
        }
    }
}

/// How an answer counts for the failover plan: `None` when it is final (a success, or a failure
/// the server decided, such as a refused grant or an unknown account).
fn response_failure(response: &HttpResponse) -> Option<FailureClass> {
    match response.status {
        429 => Some(FailureClass::RateLimited),
        status @ 500..=599 => Some(FailureClass::ServerError(status)),
        // An authentication failure is handled by the caller (renew the token, replay once).
        401 => None,
        _ if is_envelope(&response.body) => None,
        _ => Some(FailureClass::Malformed),
    }
}
