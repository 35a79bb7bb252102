//! Metric series in `/ingest` bodies: `"series": {"latency_p95": {"timestamps": [..], "values": [..]}}`
//! in JSON, `{"series": "latency_p95", "timestamp": .., "value": ..}` lines in NDJSON, and an Arrow
//! stream whose columns are exactly `series`, `timestamp`, `value`. Timestamps are Unix seconds,
//! strictly increasing within a series of one request; a value may be null (a gap).

use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonSeries {
    pub(crate) timestamps: Vec<Value>,
    pub(crate) values: Vec<Value>,
}

/// Validated series points, in request order: (name, [(timestamp, value)]).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct SeriesBatch {
    pub(crate) series: Vec<(String, Vec<(f64, f64)>)>,
}

/// Later than 5138 AD in seconds: almost surely milliseconds. The detector's own bound, so what is
/// accepted here always has a place on its grid.
const MAX_SECONDS: f64 = driftwatch_stats::anomaly::MAX_TIMESTAMP;

fn invalid(field: &str, msg: String) -> ApiError {
    ApiError::unprocessable("invalid_series", Some(field), msg)
}

pub(crate) fn check_name(name: &str, field: &str) -> Result<(), ApiError> {
    crate::config::check_name(name).map_err(|e| invalid(field, format!("series name {e}")))
}

pub(crate) fn check_timestamp(t: f64, field: &str) -> Result<f64, ApiError> {
    if !t.is_finite() || t < 0.0 {
        return Err(invalid(field, format!("timestamp must be Unix seconds >= 0, got {t}")));
    }
    if t > MAX_SECONDS {
        return Err(invalid(field, format!("timestamp {t} is too large for seconds (milliseconds?)")));
    }
    Ok(t)
}

/// Builds one series from parallel timestamps and values (null values are gaps), checking that the
/// timestamps increase. `at` prefixes field names (`series.latency`).
pub(crate) fn points(ts: &[Option<f64>], values: &[Option<f64>], at: &str) -> Result<Vec<(f64, f64)>, ApiError> {
    if ts.len() != values.len() {
        return Err(invalid(&format!("{at}.values"), format!("{} values for {} timestamps", values.len(), ts.len())));
    }
    if ts.is_empty() {
        return Err(invalid(&format!("{at}.timestamps"), "no points".into()));
    }
    let mut out = Vec::with_capacity(ts.len());
    for (i, (t, v)) in ts.iter().zip(values).enumerate() {
        let field = format!("{at}.timestamps[{i}]");
        let t = check_timestamp(t.ok_or_else(|| invalid(&field, "timestamp is null".into()))?, &field)?;
        if let Some(&(prev, _)) = out.last() {
            if t <= prev {
                return Err(invalid(&field, format!("timestamps must increase: {t} after {prev}")));
            }
        }
        let v = v.unwrap_or(f64::NAN);
        if v.is_infinite() {
            return Err(invalid(&format!("{at}.values[{i}]"), "value must be finite or null".into()));
        }
        out.push((t, v));
    }
    Ok(out)
}

fn number(v: &Value, field: &str) -> Result<Option<f64>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        other => {
            Err(ApiError::bad_request("invalid_type", Some(field), format!("expected a number or null, got {other}")))
        }
    }
}

/// A JSON array of numbers or nulls; errors name `field[i]`.
fn numbers(values: &[Value], field: &str) -> Result<Vec<Option<f64>>, ApiError> {
    values.iter().enumerate().map(|(i, v)| number(v, &format!("{field}[{i}]"))).collect()
}

pub(crate) fn from_json(series: crate::json::UniqueMap<JsonSeries>) -> Result<SeriesBatch, ApiError> {
    let mut out = SeriesBatch::default();
    for (name, s) in series.0 {
        let at = format!("series.{name}");
        check_name(&name, &at)?;
        let ts = numbers(&s.timestamps, &format!("{at}.timestamps"))?;
        let values = numbers(&s.values, &format!("{at}.values"))?;
        out.series.push((name, points(&ts, &values, &at)?));
    }
    if out.series.is_empty() {
        return Err(ApiError::unprocessable("empty_batch", Some("series"), "series is empty"));
    }
    Ok(out)
}

/// Groups long-form (series, timestamp, value) rows by series, keeping first-seen order; `at(i)`
/// names row i in errors.
pub(crate) fn from_rows(
    rows: impl Iterator<Item = (String, Option<f64>, Option<f64>)>,
    at: impl Fn(usize) -> String,
) -> Result<SeriesBatch, ApiError> {
    let mut order: Vec<String> = Vec::new();
    /// One series' timestamps, values and the rows they came from.
    type Columns = (Vec<Option<f64>>, Vec<Option<f64>>, Vec<usize>);
    let mut by_name: std::collections::HashMap<String, Columns> = Default::default();
    for (i, (name, t, v)) in rows.enumerate() {
        check_name(&name, &format!("{}.series", at(i)))?;
        let e = by_name.entry(name.clone()).or_insert_with(|| {
            order.push(name);
            Default::default()
        });
        e.0.push(t);
        e.1.push(v);
        e.2.push(i);
    }
    let mut out = SeriesBatch::default();
    for name in order {
        let (ts, vs, rows) = by_name.remove(&name).expect("inserted above");
        // Errors name the offending row, not the position within its series.
        let pts = points(&ts, &vs, "").map_err(|e| match e {
            ApiError::Invalid { status, reason, field, message } => {
                let k: usize = field
                    .as_deref()
                    .and_then(|f| f.split('[').nth(1))
                    .and_then(|s| s.trim_end_matches(']').parse().ok())
                    .unwrap_or(0);
                let row = rows.get(k).copied().unwrap_or(0);
                // The column the error is about, named as the long-form table names it.
                let column = if field.as_deref().is_some_and(|f| f.contains("values")) { "value" } else { "timestamp" };
                ApiError::Invalid { status, reason, field: Some(format!("{}.{column}", at(row))), message }
            }
            other => other,
        })?;
        out.series.push((name, pts));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: ApiError) -> String {
        match e {
            ApiError::Invalid { field, .. } => field.unwrap_or_default(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_long_form_row_with_an_infinite_value_is_named_by_its_value_field() {
        let rows = vec![("a".to_owned(), Some(1.0), Some(1.0)), ("a".to_owned(), Some(2.0), Some(f64::INFINITY))];
        let e = from_rows(rows.into_iter(), |i| format!("rows[{i}]")).unwrap_err();
        assert_eq!(field(e), "rows[1].value");
        let rows = vec![("a".to_owned(), Some(2.0), Some(1.0)), ("a".to_owned(), Some(1.0), Some(1.0))];
        let e = from_rows(rows.into_iter(), |i| format!("rows[{i}]")).unwrap_err();
        assert_eq!(field(e), "rows[1].timestamp");
    }

    #[test]
    fn nulls_are_gaps_and_bad_points_are_named() {
        let p = points(&[Some(1.0), Some(2.0)], &[Some(0.5), None], "series.x").unwrap();
        assert_eq!(p[0], (1.0, 0.5));
        assert!(p[1].1.is_nan());
        assert_eq!(
            field(points(&[Some(2.0), Some(2.0)], &[Some(0.0), Some(0.0)], "series.x").unwrap_err()),
            "series.x.timestamps[1]"
        );
        assert_eq!(field(points(&[Some(1.7e12)], &[Some(0.0)], "series.x").unwrap_err()), "series.x.timestamps[0]");
        assert_eq!(field(points(&[Some(1.0)], &[], "series.x").unwrap_err()), "series.x.values");
    }

    #[test]
    fn long_form_rows_group_by_series_and_errors_name_the_row() {
        let rows = vec![
            ("a".to_string(), Some(1.0), Some(1.0)),
            ("b".into(), Some(1.0), Some(2.0)),
            ("a".into(), Some(2.0), None),
        ];
        let b = from_rows(rows.into_iter(), |i| format!("line[{}]", i + 1)).unwrap();
        assert_eq!(b.series.len(), 2);
        assert_eq!(b.series[0].1.len(), 2);
        let rows = vec![
            ("a".to_string(), Some(5.0), Some(1.0)),
            ("b".into(), Some(1.0), Some(2.0)),
            ("a".into(), Some(4.0), None),
        ];
        assert_eq!(
            field(from_rows(rows.into_iter(), |i| format!("line[{}]", i + 1)).unwrap_err()),
            "line[3].timestamp"
        );
    }
}
