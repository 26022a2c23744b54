//! Authentication: the REST token cache with refresh-ahead and single-flight renewal.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::api::token::{RestToken, TokenGrant};
use crate::error::{Error, Result};

/// The smallest margin before expiry at which a token is renewed.
pub const MIN_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// How long before expiry a token of `lifetime` is renewed: the larger of 60 s and 10 % of the
/// lifetime, but never more than half the lifetime (so a short-lived token is still used).
pub fn refresh_margin(lifetime: Duration) -> Duration {
    MIN_REFRESH_MARGIN.max(lifetime / 10).min(lifetime / 2)
}

/// A cached token with its renewal schedule.
#[derive(Debug)]
pub(crate) struct CachedToken {
    pub token: RestToken,
    /// `Bearer <access_token>`, built once per token.
    pub authorization: reqwest::header::HeaderValue,
    pub generation: u64,
    refresh_at: Instant,
    expires_at: Instant,
    invalidated: AtomicBool,
}

impl CachedToken {
    fn fresh(&self, now: Instant) -> bool {
        !self.invalidated.load(Ordering::Acquire) && now < self.refresh_at
    }

    fn still_valid(&self, now: Instant) -> bool {
        !self.invalidated.load(Ordering::Acquire) && now < self.expires_at
    }
}

/// Caches the REST token; renews it ahead of expiry with the `refresh_token` grant, falling back
/// to the configured grant; lets exactly one caller renew while the others wait for its result.
#[derive(Debug, Default)]
pub(crate) struct TokenManager {
    current: RwLock<Option<Arc<CachedToken>>>,
    renewal: tokio::sync::Mutex<()>,
    generations: AtomicU64,
}

impl TokenManager {
    fn snapshot(&self) -> Option<Arc<CachedToken>> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, token: Option<Arc<CachedToken>>) {
        match self.current.write() {
            Ok(mut guard) => *guard = token,
            Err(poisoned) => *poisoned.into_inner() = token,
        }
    }

    /// Returns a fresh token, renewing it first when needed. `issue` performs one token request.
    /// Waiting for a renewal another call is making ends at `deadline` (the waiting call's own):
    /// then an [`Error::Transport`] of kind `ConnectTimeout` for the token endpoint says that
    /// nothing of the waiting call was sent.
    pub async fn get<F, Fut>(
        &self,
        configured: &TokenGrant,
        deadline: Instant,
        issue: F,
    ) -> Result<Arc<CachedToken>>
    where
        F: Fn(TokenGrant) -> Fut,
        Fut: Future<Output = Result<RestToken>>,
    {
        if let Some(token) = self.snapshot().filter(|t| t.fresh(Instant::now())) {
            return Ok(token);
        }
        let _renewing = match self.renewal.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Another call is renewing: wait for it, but not past this call's deadline. The
                // timer runs on the library runtime, so that this works on any executor.
                let mut timer =
                    crate::runtime::handle()?.spawn(tokio::time::sleep_until(deadline.into()));
                let waited = tokio::select! {
                    biased;
                    guard = self.renewal.lock() => Some(guard),
                    _ = &mut timer => None,
                };
                timer.abort();
                waited.ok_or_else(|| Error::Transport {
                    endpoint: crate::api::Endpoint::RestToken,
                    kind: crate::error::TransportErrorKind::ConnectTimeout,
                    message: "the call deadline passed while another call was renewing the REST \
                              token; nothing was sent"
                        .into(),
                    trace_id: None,
                    attempts: Default::default(),
                })?
            }
        };
        let current = self.snapshot();
        if let Some(token) = current.as_ref().filter(|t| t.fresh(Instant::now())) {
            return Ok(token.clone());
        }
        let refresh_token = current.as_ref().and_then(|t| t.token.refresh_token.clone());
        let issued = match refresh_token {
            Some(refresh_token) => match issue(TokenGrant::RefreshToken { refresh_token }).await {
                Ok(token) => Ok(token),
                Err(Error::Api(refused)) => {
                    tracing::info!(
                        code = refused.code,
                        "refresh_token grant refused; using the configured grant"
                    );
                    issue(configured.clone()).await
                }
                Err(other) => Err(other),
            },
            None => issue(configured.clone()).await,
        };
        let issued = issued.and_then(|token| {
            let authorization = crate::transport::bearer_header(&token.access_token)?;
            Ok((token, authorization))
        });
        match issued {
            Ok((token, authorization)) => {
                let now = Instant::now();
                let lifetime = token.expires_in;
                let cached = Arc::new(CachedToken {
                    token,
                    authorization,
                    generation: self.generations.fetch_add(1, Ordering::Relaxed) + 1,
                    // `expires_in` is capped at a year when decoded; the sums are checked anyway.
                    refresh_at: crate::wire_time::instant_after_capped(
                        now,
                        lifetime.saturating_sub(refresh_margin(lifetime)),
                    ),
                    expires_at: crate::wire_time::instant_after_capped(now, lifetime),
                    invalidated: AtomicBool::new(false),
                });
                tracing::debug!(
                    generation = cached.generation,
                    lifetime_s = lifetime.as_secs(),
                    "REST token renewed"
                );
                self.store(Some(cached.clone()));
                Ok(cached)
            }
            Err(error) => match current.filter(|t| t.still_valid(Instant::now())) {
                Some(still_valid) => {
                    tracing::warn!(%error, "token renewal failed; using the current token until it expires");
                    Ok(still_valid)
                }
                None => Err(error),
            },
        }
    }

    /// Marks the token of `generation` as rejected, so the next [`Self::get`] renews it.
    /// A newer token (renewed meanwhile by another caller) is left alone.
    pub fn invalidate(&self, generation: u64) {
        if let Some(token) = self.snapshot().filter(|t| t.generation == generation) {
            token.invalidated.store(true, Ordering::Release);
        }
    }

    /// A token manager for a forked child: the cached token when it can be read without waiting
    /// (a lock held by a parent thread at the fork would never be released here), and fresh locks.
    pub fn inherit(&self) -> TokenManager {
        let current = self.current.try_read().ok().and_then(|guard| guard.clone());
        TokenManager {
            current: RwLock::new(current),
            renewal: tokio::sync::Mutex::new(()),
            generations: AtomicU64::new(self.generations.load(Ordering::Relaxed)),
        }
    }

    /// Forgets the cached token entirely (refresh token included).
    pub fn clear(&self) {
        self.store(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_the_larger_of_60s_and_a_tenth_capped_at_half() {
        assert_eq!(
            refresh_margin(Duration::from_secs(31969)),
            Duration::from_millis(3_196_900)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(300)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
        assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
    }
}
