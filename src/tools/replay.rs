//! `driftwatch replay` and `driftwatch nab`: a CSV of `timestamp,value` scored row by row with only
//! the rows before each one ([`score_points`], the detector the sidecar runs, refits inline), and
//! the NAB evaluation over a folder of such files. The file reading, progress bars and parallelism
//! are here; the scoring is `driftwatch_stats`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rayon::prelude::*;

use driftwatch_stats::anomaly::replay::score_points;
use driftwatch_stats::anomaly::{DetectorSettings, nab};

/// One input row; the timestamp's text is kept so the output repeats it verbatim.
#[derive(Debug, Clone)]
pub struct Row {
    pub raw_timestamp: String,
    pub timestamp: f64,
    pub value: f64,
}

/// Unix seconds, or a `YYYY-MM-DD HH:MM:SS[.f]` / RFC 3339 date-time (naive ones read as UTC).
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9);
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            let t = t.and_utc();
            return Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9);
        }
    }
    None
}

/// Reads `timestamp,value` (header required, other columns ignored, empty value = missing).
pub(crate) fn read_csv(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty file")?.split(',').map(str::trim).collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).with_context(|| format!("no {name:?} column in the header"))
    };
    let (ti, vi) = (col("timestamp")?, col("value")?);
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        let at = || format!("{} line {}", path.display(), n + 2);
        let raw = cells.get(ti).with_context(at)?.trim();
        let timestamp = parse_timestamp(raw).with_context(|| format!("{}: bad timestamp {raw:?}", at()))?;
        let cell = cells.get(vi).with_context(at)?.trim();
        let value = if cell.is_empty() || cell.eq_ignore_ascii_case("nan") {
            f64::NAN
        } else {
            cell.parse().with_context(|| format!("{}: bad value {cell:?}", at()))?
        };
        rows.push(Row { raw_timestamp: raw.to_owned(), timestamp, value });
    }
    Ok(rows)
}

/// Scores each row with only the rows before it; warming-up and late rows score 0.
pub fn score_rows(settings: &DetectorSettings, rows: &[Row], progress: impl FnMut(usize)) -> Vec<f64> {
    let points: Vec<(f64, f64)> = rows.iter().map(|r| (r.timestamp, r.value)).collect();
    score_points(settings, &points, progress)
}

fn bar(len: usize, label: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(len as u64), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(label);
    bar
}

/// `driftwatch replay`: reads `input`, writes `timestamp,value,anomaly_score` to `output`.
pub(crate) fn replay(settings: &DetectorSettings, input: &Path, output: &Path) -> anyhow::Result<usize> {
    let rows = read_csv(input)?;
    let progress = bar(rows.len(), input.display().to_string());
    let scores = score_rows(settings, &rows, |i| progress.set_position(i as u64));
    progress.finish_and_clear();
    let mut out = String::with_capacity(rows.len() * 40);
    out.push_str("timestamp,value,anomaly_score\n");
    for (r, s) in rows.iter().zip(&scores) {
        out.push_str(&format!("{},{},{}\n", r.raw_timestamp, r.value, s));
    }
    std::fs::write(output, out).with_context(|| format!("cannot write {}", output.display()))?;
    Ok(rows.len())
}

/// The NAB evaluation of one detector configuration: per-profile results plus the scored files.
pub(crate) struct Evaluation {
    pub(crate) results: Vec<nab::Result>,
    pub(crate) files: Vec<nab::File>,
}

/// Replays every `*.csv` under `data/<corpus>` for each corpus and scores them with NAB's three
/// profiles against `labels` (NAB's `labels/combined_windows.json`). Files run in parallel.
pub(crate) fn evaluate_nab(
    settings: &DetectorSettings,
    data: &Path,
    labels: &Path,
    corpora: &[String],
) -> anyhow::Result<Evaluation> {
    let labels: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(
        &std::fs::read_to_string(labels).with_context(|| format!("cannot read {}", labels.display()))?,
    )
    .context("labels: expected {\"corpus/file.csv\": [[start, end], ...]}")?;
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    for corpus in corpora {
        let dir = data.join(corpus);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        entries.sort();
        for p in entries {
            let key = format!("{corpus}/{}", p.file_name().unwrap_or_default().to_string_lossy());
            paths.push((key, p));
        }
    }
    if paths.is_empty() {
        bail!("no CSV files under {} for {corpora:?}", data.display());
    }
    let progress = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
    let files: Vec<nab::File> = paths
        .par_iter()
        .map(|(key, path)| -> anyhow::Result<nab::File> {
            let rows = read_csv(path)?;
            let windows = labels
                .get(key)
                .with_context(|| format!("{key} is not in the labels file"))?
                .iter()
                .map(|(a, b)| window_rows(&rows, a, b).with_context(|| format!("{key}: window {a}..{b}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let bar = progress.add(bar(rows.len(), key.clone()));
            let scores = score_rows(settings, &rows, |i| bar.set_position(i as u64));
            bar.finish_and_clear();
            // NAB scores live in [0, 1]; s/(1+s) keeps the order and so the optimal threshold.
            let scores = scores.into_iter().map(|s| if s.is_finite() { s / (1.0 + s) } else { 1.0 }).collect();
            Ok(nab::File { name: key.clone(), scores, windows })
        })
        .collect::<anyhow::Result<_>>()?;
    let results = nab::PROFILES.iter().map(|p| nab::evaluate(&files, *p)).collect();
    Ok(Evaluation { results, files })
}

/// Inclusive row range of a labelled window (NAB's limits are data timestamps).
fn window_rows(rows: &[Row], start: &str, end: &str) -> Option<(usize, usize)> {
    let (a, b) = (parse_timestamp(start)?, parse_timestamp(end)?);
    let first = rows.iter().position(|r| r.timestamp >= a)?;
    let last = rows.iter().rposition(|r| r.timestamp <= b)?;
    (first <= last).then_some((first, last))
}

/// Prints the NAB table; writes each file's row scores under `scores_dir` and the per-profile
/// results as JSON to `output` when given.
pub(crate) fn report_nab(eval: &Evaluation, scores_dir: Option<&Path>, output: Option<&Path>) -> anyhow::Result<()> {
    println!("{:<20} {:>10} {:>10} {:>9} {:>8} {:>4}", "profile", "normalized", "raw", "threshold", "windows", "FP");
    for r in &eval.results {
        println!(
            "{:<20} {:>10.1} {:>10.3} {:>9.4} {:>5}/{:<2} {:>4}",
            r.profile.name, r.normalized, r.raw, r.threshold, r.detected_windows, r.windows, r.false_positives
        );
    }
    if let Some(dir) = scores_dir {
        for f in &eval.files {
            let path = dir.join(&f.name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut text = String::from("row,anomaly_score,window\n");
            for (i, s) in f.scores.iter().enumerate() {
                let w = f.windows.iter().position(|&(a, b)| a <= i && i <= b).map_or(String::new(), |w| w.to_string());
                text.push_str(&format!("{i},{s},{w}\n"));
            }
            std::fs::write(&path, text)?;
        }
    }
    if let Some(path) = output {
        let json: Vec<serde_json::Value> = eval
            .results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "profile": r.profile.name, "normalized": r.normalized, "raw": r.raw,
                    "threshold": r.threshold, "detected_windows": r.detected_windows,
                    "windows": r.windows, "false_positives": r.false_positives,
                    "per_file": r.per_file.iter().map(|(f, s)| serde_json::json!({"file": f, "raw": s})).collect::<Vec<_>>(),
                })
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nab_and_unix_timestamps_parse_to_the_same_second() {
        assert_eq!(parse_timestamp("2014-07-01 00:30:00"), Some(1_404_174_600.0));
        assert_eq!(parse_timestamp("2014-07-01 00:30:00.000000"), Some(1_404_174_600.0));
        assert_eq!(parse_timestamp("2014-07-01T00:30:00Z"), Some(1_404_174_600.0));
        assert_eq!(parse_timestamp("1404174600"), Some(1_404_174_600.0));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
