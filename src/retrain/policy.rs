//! When to ask for a retrain, as a pure state machine over injected time: a model's condition must hold
//! for `for_windows` consecutive windows (like a Prometheus rule's `for:`); after a request, a cooldown
//! during which no second one goes out; and at most `max_per_hour` requests in any sliding hour.
//! Alert-triggered requests skip the streak (the alert rule has its own `for:`) but share the cooldown
//! and the cap, so a drift request and an alert about the same drift do not both retrain.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::config::RetrainConfig;

/// A model's policy state; serialised into the data directory so a restart keeps the cooldown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PolicyState {
    /// Consecutive windows in which the condition held.
    pub(crate) streak: u32,
    /// Unix seconds of the last request sent (enqueued).
    pub(crate) last_request_at: Option<f64>,
    /// Requests within the last hour, oldest first.
    pub(crate) recent: VecDeque<f64>,
}

/// The policy's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// The condition does not hold, or has not held long enough yet.
    Wait,
    /// Send a request now.
    Request,
    /// Would fire, but a request went out less than `cooldown_seconds` ago.
    Cooldown,
    /// Would fire, but `max_per_hour` requests went out in the last hour.
    RateLimited,
}

impl Verdict {
    /// The `decision` label of `driftwatch_retrain_decisions_total` (none for `Wait`).
    pub(crate) fn label(self) -> Option<&'static str> {
        match self {
            Verdict::Wait => None,
            Verdict::Request => Some("requested"),
            Verdict::Cooldown => Some("cooldown"),
            Verdict::RateLimited => Some("rate_limited"),
        }
    }
}

impl PolicyState {
    /// A window was scored; `holds` is whether the model's condition held in it. The streak keeps
    /// counting through a cooldown, so drift that persists past it asks again.
    pub(crate) fn observe_window(&mut self, holds: bool, cfg: &RetrainConfig, now: f64) -> Verdict {
        if !holds {
            self.streak = 0;
            return Verdict::Wait;
        }
        self.streak = self.streak.saturating_add(1);
        if self.streak < cfg.for_windows { Verdict::Wait } else { self.check(cfg, now) }
    }

    /// Whether a request may go out now (cooldown, hourly cap); does not record it.
    pub(crate) fn check(&mut self, cfg: &RetrainConfig, now: f64) -> Verdict {
        while self.recent.front().is_some_and(|&t| t <= now - 3600.0) {
            self.recent.pop_front();
        }
        if self.last_request_at.is_some_and(|t| now - t < cfg.cooldown_seconds) {
            Verdict::Cooldown
        } else if self.recent.len() >= cfg.max_per_hour as usize {
            Verdict::RateLimited
        } else {
            Verdict::Request
        }
    }

    /// A request was made durable: start the cooldown and count it.
    pub(crate) fn record(&mut self, now: f64) {
        self.last_request_at = Some(now);
        self.recent.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(for_windows: u32, cooldown_seconds: f64, max_per_hour: u32) -> RetrainConfig {
        RetrainConfig {
            urls: vec!["http://127.0.0.1:1/".into()],
            for_windows,
            cooldown_seconds,
            max_per_hour,
            features: vec![],
            triggers: vec![crate::config::Trigger::Drift, crate::config::Trigger::Alert],
            anomaly_series: vec![],
            anomaly_points: 3,
            secret: None,
            headers: vec![],
            header_names: vec![],
            signed: false,
            timeout_seconds: 1.0,
            initial_backoff_seconds: 1.0,
            max_backoff_seconds: 10.0,
        }
    }

    /// Drives the policy like the engine does, recording every request, and returns when they fired.
    fn run(c: &RetrainConfig, windows: &[(f64, bool)]) -> Vec<(f64, Verdict)> {
        let mut s = PolicyState::default();
        windows
            .iter()
            .map(|&(t, holds)| {
                let v = s.observe_window(holds, c, t);
                if v == Verdict::Request {
                    s.record(t);
                }
                (t, v)
            })
            .collect()
    }

    #[test]
    fn fires_only_after_for_windows_consecutive_drifted_windows() {
        use Verdict::*;
        let c = cfg(3, 0.0, 100);
        let got: Vec<Verdict> =
            run(&c, &[(0.0, true), (1.0, true), (2.0, false), (3.0, true), (4.0, true), (5.0, true)])
                .into_iter()
                .map(|(_, v)| v)
                .collect();
        assert_eq!(got, [Wait, Wait, Wait, Wait, Wait, Request]);
    }

    #[test]
    fn cooldown_blocks_a_second_request_until_it_has_passed() {
        use Verdict::*;
        let c = cfg(1, 100.0, 100);
        let got = run(&c, &[(0.0, true), (50.0, true), (99.9, true), (100.0, true), (150.0, true)]);
        let v: Vec<Verdict> = got.iter().map(|x| x.1).collect();
        assert_eq!(v, [Request, Cooldown, Cooldown, Request, Cooldown]);
    }

    #[test]
    fn hourly_cap_counts_a_sliding_hour() {
        use Verdict::*;
        let c = cfg(1, 0.0, 2);
        let got = run(&c, &[(0.0, true), (10.0, true), (20.0, true), (3599.0, true), (3600.0, true), (3611.0, true)]);
        let v: Vec<Verdict> = got.iter().map(|x| x.1).collect();
        // At 3600 the request from t=0 has left the hour; at 3611 the one from t=10 has too.
        assert_eq!(v, [Request, Request, RateLimited, RateLimited, Request, Request]);
    }

    #[test]
    fn nan_free_state_round_trips_through_json() {
        let mut s = PolicyState::default();
        s.observe_window(true, &cfg(1, 0.0, 5), 12.5);
        s.record(12.5);
        let back: PolicyState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
