//! Fault injection: delays, error responses and dropped connections for chosen paths and counts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What to do to a matching request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Wait this long, then handle the request normally.
    Delay {
        /// The delay in milliseconds.
        millis: u64,
    },
    /// Answer with this status and body instead of handling the request.
    Respond {
        /// The HTTP status.
        status: u16,
        /// The body, sent as is.
        body: String,
        /// The `Content-Type` (default `application/json`).
        #[serde(default)]
        content_type: Option<String>,
        /// Extra response headers, e.g. `Retry-After`.
        #[serde(default)]
        headers: Vec<(String, String)>,
    },
    /// Close the connection without answering; the request is not handled.
    DropConnection,
}

impl FaultAction {
    /// A delay of `duration`.
    pub fn delay(duration: Duration) -> Self {
        FaultAction::Delay {
            millis: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A JSON response with this status and body.
    pub fn respond(status: u16, body: impl Into<String>) -> Self {
        FaultAction::Respond {
            status,
            body: body.into(),
            content_type: None,
            headers: Vec::new(),
        }
    }

    /// Adds a response header to a `Respond` action (ignored by the other actions).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let FaultAction::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// A fault rule: requests whose path ends with `path_suffix` (or every request, for `*`) get
/// `action`, for the next `times` matching requests (for ever when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The path suffix to match, e.g. `/oauth/rest-token` or `getAll`; `*` matches every path.
    pub path_suffix: String,
    /// What to do.
    pub action: FaultAction,
    /// How many matching requests get the fault; `None` for all of them.
    #[serde(default)]
    pub times: Option<u32>,
    /// Only requests to this virtual host (see `SandboxBuilder::host`); `None` for every host.
    #[serde(default)]
    pub host: Option<String>,
}

impl Fault {
    /// A fault for the next `times` requests to paths ending with `path_suffix`.
    pub fn new(path_suffix: impl Into<String>, action: FaultAction, times: u32) -> Self {
        Self {
            path_suffix: path_suffix.into(),
            action,
            times: Some(times),
            host: None,
        }
    }

    /// A fault for every request to paths ending with `path_suffix`, until cleared.
    pub fn always(path_suffix: impl Into<String>, action: FaultAction) -> Self {
        Self {
            path_suffix: path_suffix.into(),
            action,
            times: None,
            host: None,
        }
    }

    /// Limits the rule to requests arriving on the virtual host `host`.
    pub fn on_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    fn matches(&self, path: &str, host: Option<&str>) -> bool {
        (self.path_suffix == "*" || path.ends_with(&self.path_suffix))
            && self
                .host
                .as_deref()
                .map_or(true, |wanted| Some(wanted) == host)
    }
}

/// The most fault rules active at once: [`crate::Sandbox::inject`] returns `false` and
/// `POST /_sandbox/faults` answers 507 beyond that, until rules expire or are cleared.
pub const MAX_FAULT_RULES: usize = 1_000;

/// The active fault rules, first match wins.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    rules: Vec<Fault>,
}

impl FaultPlan {
    /// Adds a rule; `false` (and the rule is dropped) when [`MAX_FAULT_RULES`] are active.
    /// A rule for no request (`times: Some(0)`) is accepted and dropped.
    pub(crate) fn add(&mut self, fault: Fault) -> bool {
        if fault.times == Some(0) {
            return true;
        }
        if self.rules.len() >= MAX_FAULT_RULES {
            return false;
        }
        self.rules.push(fault);
        true
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The action for a request to `path` on `host`, consuming one use of the matching rule.
    pub(crate) fn take(&mut self, path: &str, host: Option<&str>) -> Option<FaultAction> {
        let index = self
            .rules
            .iter()
            .position(|rule| rule.matches(path, host))?;
        let rule = self.rules.get_mut(index)?;
        let action = rule.action.clone();
        if let Some(times) = rule.times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                self.rules.remove(index);
            }
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_expire_and_first_match_wins() {
        let mut plan = FaultPlan::default();
        plan.add(Fault::new("getAll", FaultAction::DropConnection, 2));
        plan.add(Fault::always(
            "*",
            FaultAction::delay(Duration::from_millis(5)),
        ));
        assert_eq!(
            plan.take("/x/getAll", None),
            Some(FaultAction::DropConnection)
        );
        assert_eq!(
            plan.take("/x/getAll", None),
            Some(FaultAction::DropConnection)
        );
        assert_eq!(
            plan.take("/x/getAll", None),
            Some(FaultAction::Delay { millis: 5 })
        );
        plan.clear();
        assert_eq!(plan.take("/x/getAll", None), None);
        plan.add(Fault::always("*", FaultAction::DropConnection).on_host("a.example"));
        assert_eq!(plan.take("/x", Some("b.example")), None);
        assert_eq!(plan.take("/x", None), None);
        assert_eq!(
            plan.take("/x", Some("a.example")),
            Some(FaultAction::DropConnection)
        );
    }

    #[test]
    fn at_most_max_fault_rules_are_active() {
        let mut plan = FaultPlan::default();
        for _ in 0..MAX_FAULT_RULES {
            assert!(plan.add(Fault::new("x", FaultAction::DropConnection, 1)));
        }
        assert!(!plan.add(Fault::always("*", FaultAction::DropConnection)));
        assert!(plan.add(Fault::new("x", FaultAction::DropConnection, 0)));
        assert_eq!(plan.take("/x", None), Some(FaultAction::DropConnection));
        assert!(
            plan.add(Fault::always("*", FaultAction::DropConnection)),
            "room again"
        );
    }
}
