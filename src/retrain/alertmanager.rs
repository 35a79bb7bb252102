//! The Alertmanager receiver: `POST /alertmanager` takes Alertmanager's webhook payload (version "4").
//! Firing alerts whose `alertname` is listed in `[alertmanager] alerts` become retrain requests for the
//! model in their `model_name` label, through the same policy and outbox as drift; each (fingerprint,
//! startsAt) is acted on once. Resolved alerts are counted and logged, never acted on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::webhook::AlertInfo;
use crate::error::ApiError;

/// Alertmanager's webhook body. Unknown fields are allowed: Alertmanager adds fields across
/// releases, and a receiver that refuses them breaks on upgrade.
#[derive(Debug, Deserialize)]
pub struct Payload {
    pub(crate) version: String,
    #[serde(rename = "groupKey")]
    pub(crate) group_key: String,
    /// Parsed so a payload whose status is neither firing nor resolved is refused; the decisions
    /// read each alert's own status.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) status: Status,
    #[serde(default)]
    pub(crate) receiver: String,
    pub(crate) alerts: Vec<Alert>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Resolved,
}

#[derive(Debug, Deserialize)]
pub struct Alert {
    pub(crate) status: Status,
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub(crate) starts_at: String,
    #[serde(rename = "endsAt", default)]
    pub(crate) ends_at: String,
    pub(crate) fingerprint: String,
}

/// Parses and checks a payload; errors name the field (`alerts[0].labels`).
pub fn parse(body: &[u8]) -> Result<Payload, ApiError> {
    let payload: Payload = crate::json::parse_json(body, "invalid Alertmanager payload")?;
    if payload.version != "4" {
        return Err(ApiError::bad_request(
            "invalid_payload",
            Some("version"),
            format!("unsupported Alertmanager webhook version {:?}: expected \"4\"", payload.version),
        ));
    }
    for (i, a) in payload.alerts.iter().enumerate() {
        if a.labels.get("alertname").is_none_or(|n| n.is_empty()) {
            return Err(ApiError::bad_request(
                "invalid_payload",
                Some(&format!("alerts[{i}].labels.alertname")),
                "every alert needs an alertname label",
            ));
        }
        if a.fingerprint.is_empty() || a.starts_at.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_payload",
                Some(&format!("alerts[{i}].fingerprint")),
                "every alert needs a fingerprint and startsAt",
            ));
        }
    }
    Ok(payload)
}

impl Alert {
    pub(crate) fn alertname(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    pub(crate) fn info(&self, group_key: &str) -> AlertInfo {
        AlertInfo {
            alertname: self.alertname().to_owned(),
            fingerprint: self.fingerprint.clone(),
            starts_at: self.starts_at.clone(),
            group_key: group_key.to_owned(),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// What became of one alert, as the response lists it.
#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    pub(crate) alertname: String,
    pub(crate) fingerprint: String,
    pub(crate) status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) model_name: Option<String>,
    pub(crate) action: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "version": "4", "groupKey": "{}:{alertname=\"DataDriftDetected\"}", "truncatedAlerts": 0,
      "status": "firing", "receiver": "driftwatch",
      "groupLabels": {"alertname": "DataDriftDetected"}, "commonLabels": {}, "commonAnnotations": {},
      "externalURL": "http://am:9093",
      "alerts": [{"status": "firing", "labels": {"alertname": "DataDriftDetected", "model_name": "churn"},
                  "annotations": {"summary": "drift"}, "startsAt": "2026-12-01T10:00:00Z",
                  "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom", "fingerprint": "a1b2"}]
    }"#;

    #[test]
    fn parses_alertmanagers_documented_example() {
        let p = parse(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(p.status, Status::Firing);
        assert_eq!(p.alerts[0].alertname(), "DataDriftDetected");
        assert_eq!(p.alerts[0].labels["model_name"], "churn");
        assert_eq!(p.alerts[0].fingerprint, "a1b2");
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let cases = [
            (EXAMPLE.replace("\"version\": \"4\"", "\"version\": \"3\""), "version"),
            (
                EXAMPLE.replace("\"status\": \"firing\", \"labels\"", "\"status\": \"burning\", \"labels\""),
                "alerts[0].status",
            ),
            (
                EXAMPLE.replace("\"alertname\": \"DataDriftDetected\", \"model_name\"", "\"model_name\""),
                "alerts[0].labels.alertname",
            ),
            (EXAMPLE.replace("\"fingerprint\": \"a1b2\"", "\"fingerprint\": \"\""), "alerts[0].fingerprint"),
            (EXAMPLE.replace("\"groupKey\"", "\"groupKeyX\""), "groupKey"),
            (EXAMPLE.replace("\"model_name\": \"churn\"", "\"model_name\": 7"), "alerts[0].labels.model_name"),
        ];
        for (body, field) in cases {
            let e = parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.status().as_u16(), 400, "{body}");
            let got = e.field().unwrap_or_default().to_owned();
            assert!(got.contains(field) || e.to_string().contains(field), "{field}: got {got:?} / {e}");
        }
        assert_eq!(parse(b"{\"version\":").unwrap_err().status().as_u16(), 400);
    }
}
