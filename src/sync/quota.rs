//! Gateway quotas: what each call is counted against, the day's budget, and the calls made.
//!
//! Pure: a [`Quota`] is loaded with the day's counts at the start of a sync, admits or
//! refuses each attempt (a retry spends a call too, so the budget is checked per attempt,
//! not per plan), and the executor persists each count it admits.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use crate::calendar::paris_date;
use crate::gateway::GatewayError;
use crate::model::{AccessInfo, Pdl};

/// What a gateway call is counted against: a meter's (or the account's) Enedis quota, or
/// the RTE/EDF routes, which the gateways limit on their own (EcoWatt: 50 a day).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallScope {
    /// The account itself (v2's meter list).
    Account,
    Meter(Pdl),
    Tempo,
    Ecowatt,
    TempoPrices,
}

impl fmt::Display for CallScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallScope::Account => f.write_str("account"),
            CallScope::Meter(pdl) => write!(f, "meter {pdl}"),
            CallScope::Tempo => f.write_str("Tempo"),
            CallScope::Ecowatt => f.write_str("EcoWatt"),
            CallScope::TempoPrices => f.write_str("Tempo prices"),
        }
    }
}

/// How a gateway generation counts the Enedis calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaRule {
    /// v2: per account, reset at 00:00 UTC.
    Account { limit: u32 },
    /// v1: per meter, reset at the end of the (Paris) day.
    Meter { limit: u32 },
}

impl QuotaRule {
    /// The v2 limit with `use_cache=true`.
    pub const V2: QuotaRule = QuotaRule::Account { limit: 1000 };
    /// The v1 limit with the `/cache` routes (2026), until the gateway tells its own.
    pub const V1: QuotaRule = QuotaRule::Meter { limit: 500 };

    fn limit(self) -> u32 {
        match self {
            QuotaRule::Account { limit } | QuotaRule::Meter { limit } => limit,
        }
    }
}

/// Daily limits of the RTE/EDF routes.
const TEMPO_DAILY_CALLS: u32 = 200;
const ECOWATT_DAILY_CALLS: u32 = 50;

/// A count in the store: its key and its quota day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub key: String,
    pub day: NaiveDate,
}

/// The counter a call of `scope` made at `now` goes to.
pub fn counter(rule: QuotaRule, scope: &CallScope, now: DateTime<Utc>) -> Counter {
    let (key, day) = match (rule, scope) {
        (QuotaRule::Meter { .. }, CallScope::Meter(pdl)) => (pdl.to_string(), paris_date(now)),
        (_, CallScope::Account | CallScope::Meter(_)) => ("account".into(), now.date_naive()),
        (_, CallScope::Tempo) => ("tempo".into(), now.date_naive()),
        (_, CallScope::Ecowatt) => ("ecowatt".into(), now.date_naive()),
        (_, CallScope::TempoPrices) => ("tempo_prices".into(), now.date_naive()),
    };
    Counter { key, day }
}

/// Calls we allow ourselves out of `limit`: stop a little before the gateway's limit, so
/// that a user's own manual calls still fit.
pub fn budget_of(limit: u32) -> u32 {
    limit - limit / 20
}

/// The day's calls and limits of every scope, for one sync.
#[derive(Debug, Clone)]
pub struct Quota {
    rule: QuotaRule,
    now: DateTime<Utc>,
    /// Calls counted today, by counter key.
    used: BTreeMap<String, u32>,
    /// v1: the limit the gateway reported today for a meter.
    reported: BTreeMap<Pdl, u32>,
}

impl Quota {
    pub fn new(
        rule: QuotaRule,
        now: DateTime<Utc>,
        used: BTreeMap<String, u32>,
        reported: BTreeMap<Pdl, u32>,
    ) -> Self {
        Self {
            rule,
            now,
            used,
            reported,
        }
    }

    pub fn counter(&self, scope: &CallScope) -> Counter {
        counter(self.rule, scope, self.now)
    }

    /// The day's limit of a scope: what v1 reported for the meter today, else the
    /// generation's; the RTE/EDF routes have their own.
    pub fn limit(&self, scope: &CallScope) -> u32 {
        match scope {
            CallScope::Tempo => TEMPO_DAILY_CALLS,
            CallScope::Ecowatt | CallScope::TempoPrices => ECOWATT_DAILY_CALLS,
            CallScope::Meter(pdl) => self.reported.get(pdl).copied().unwrap_or(self.rule.limit()),
            CallScope::Account => self.rule.limit(),
        }
    }

    pub fn used(&self, scope: &CallScope) -> u32 {
        let key = self.counter(scope).key;
        self.used.get(&key).copied().unwrap_or(0)
    }

    /// Calls used today and the limit, as a meter's status shows them.
    pub fn usage(&self, pdl: &Pdl) -> (u32, u32) {
        let scope = CallScope::Meter(pdl.clone());
        (self.used(&scope), self.limit(&scope))
    }

    /// Counts one more call of `scope`, or refuses it when the day's budget is spent.
    pub fn admit(&mut self, scope: &CallScope) -> Result<Counter, GatewayError> {
        let limit = self.limit(scope);
        let budget = budget_of(limit);
        if self.used(scope) >= budget {
            return Err(GatewayError::QuotaReached(format!(
                "{budget} of the {limit} calls allowed today are used"
            )));
        }
        let counter = self.counter(scope);
        *self.used.entry(counter.key.clone()).or_default() += 1;
        Ok(counter)
    }

    /// At least `calls` are used today (what a gateway reports); returns the new count.
    pub fn raise(&mut self, scope: &CallScope, calls: u32) -> (Counter, u32) {
        let counter = self.counter(scope);
        let used = self.used.entry(counter.key.clone()).or_default();
        *used = (*used).max(calls);
        (counter, *used)
    }

    /// The gateway said its quota is reached: no more calls of this scope today.
    pub fn exhaust(&mut self, scope: &CallScope) -> (Counter, u32) {
        self.raise(scope, budget_of(self.limit(scope)))
    }

    /// What v1's `/valid_access` said of a meter: its limit, and the calls it counted
    /// (other clients of the same consent included).
    pub fn report_access(&mut self, pdl: &Pdl, access: &AccessInfo) -> Option<(Counter, u32)> {
        if let Some(limit) = access.quota_limit {
            self.reported.insert(pdl.clone(), limit);
        }
        let scope = CallScope::Meter(pdl.clone());
        match (access.quota_reached, access.quota_used) {
            (true, _) => {
                let calls = access.quota_used.unwrap_or(0);
                self.raise(&scope, calls);
                Some(self.exhaust(&scope))
            }
            (false, Some(calls)) => Some(self.raise(&scope, calls)),
            (false, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdl() -> Pdl {
        Pdl::parse("12345678901234").unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn v2_counts_per_account_and_utc_day_v1_per_meter_and_paris_day() {
        let meter = CallScope::Meter(pdl());
        // 23:30 UTC on the 17th is 00:30 on the 18th in Paris.
        let now = at("2024-01-17T23:30:00Z");
        let v2 = counter(QuotaRule::V2, &meter, now);
        assert_eq!(
            (v2.key.as_str(), v2.day.to_string()),
            ("account", "2024-01-17".into())
        );
        let v1 = counter(QuotaRule::V1, &meter, now);
        assert_eq!(
            (v1.key.as_str(), v1.day.to_string()),
            ("12345678901234", "2024-01-18".into())
        );
        assert_eq!(counter(QuotaRule::V1, &CallScope::Tempo, now).key, "tempo");
    }

    #[test]
    fn the_budget_stops_five_percent_before_the_limit() {
        let meter = CallScope::Meter(pdl());
        let used = BTreeMap::from([("account".to_string(), 948)]);
        let mut quota = Quota::new(
            QuotaRule::V2,
            at("2024-01-17T09:00:00Z"),
            used,
            BTreeMap::new(),
        );
        assert!(quota.admit(&meter).is_ok());
        assert!(quota.admit(&CallScope::Account).is_ok());
        let refused = quota.admit(&meter).unwrap_err();
        assert_eq!(
            refused,
            GatewayError::QuotaReached("950 of the 1000 calls allowed today are used".into())
        );
        assert_eq!(quota.usage(&pdl()), (950, 1000));
        // The RTE routes have their own limits.
        assert!(quota.admit(&CallScope::Ecowatt).is_ok());
    }

    #[test]
    fn v1_takes_the_reported_limit_and_count() {
        let mut quota = Quota::new(
            QuotaRule::V1,
            at("2024-01-16T09:00:00Z"),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        let meter = CallScope::Meter(pdl());
        quota.admit(&meter).unwrap();
        let access = AccessInfo {
            valid: true,
            quota_used: Some(45),
            quota_limit: Some(50),
            ..AccessInfo::default()
        };
        quota.report_access(&pdl(), &access);
        assert_eq!(quota.usage(&pdl()), (45, 50));
        for _ in 45..48 {
            assert!(quota.admit(&meter).is_ok());
        }
        assert!(quota.admit(&meter).is_err(), "48 of 50 is the budget");
        let reached = AccessInfo {
            quota_reached: true,
            quota_used: Some(50),
            ..access
        };
        quota.report_access(&pdl(), &reached);
        assert_eq!(quota.usage(&pdl()), (50, 50));
    }

    #[test]
    fn the_gateway_s_refusal_spends_the_day() {
        let mut quota = Quota::new(
            QuotaRule::V2,
            at("2024-01-16T09:00:00Z"),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        let (counter, calls) = quota.exhaust(&CallScope::Account);
        assert_eq!((counter.key.as_str(), calls), ("account", 950));
        assert!(quota.admit(&CallScope::Meter(pdl())).is_err());
    }
}
