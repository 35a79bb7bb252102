//! The Numenta Anomaly Benchmark scorer, as NAB's `sweeper.py` (v1.1) computes it: a probation
//! period (the first min(⌊15 % of rows⌋, 750) rows) that is not scored; each labelled window scores
//! the scaled sigmoid of its first detection's position (≈ +1 at the window's start, 0 at its end,
//! −1 per missed window); each detection outside a window costs up to the profile's FP weight,
//! less right after a window; one threshold is chosen for all files together; the total is
//! normalised so that missing everything scores 0 and flagging each window's first row scores 100.

use std::collections::HashMap;

/// A NAB cost profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
}

pub const STANDARD: Profile = Profile { name: "standard", tp: 1.0, fp: 0.11, fn_: 1.0 };
pub const LOW_FP: Profile = Profile { name: "reward_low_FP_rate", tp: 1.0, fp: 0.22, fn_: 1.0 };
pub const LOW_FN: Profile = Profile { name: "reward_low_FN_rate", tp: 1.0, fp: 0.11, fn_: 2.0 };
pub const PROFILES: [Profile; 3] = [STANDARD, LOW_FP, LOW_FN];

/// One data file: its row scores and its windows as inclusive row ranges.
#[derive(Debug, Clone)]
pub struct File {
    pub name: String,
    pub scores: Vec<f64>,
    pub windows: Vec<(usize, usize)>,
}

pub fn probation_rows(rows: usize) -> usize {
    ((0.15 * rows as f64).floor() as usize).min(750)
}

pub fn scaled_sigmoid(relative_position: f64) -> f64 {
    if relative_position > 3.0 { -1.0 } else { 2.0 / (1.0 + (5.0 * relative_position).exp()) - 1.0 }
}

/// A scorable row: its detector score, the weight a detection there earns, and its window.
#[derive(Debug, Clone, Copy)]
struct Row {
    score: f64,
    weight: f64,
    window: Option<usize>,
}

/// Rows of one file after the probation period, windows numbered from `first_window`.
fn sweep_rows(file: &File, profile: &Profile, first_window: usize, out: &mut Vec<Row>) -> usize {
    let max_tp = scaled_sigmoid(-1.0);
    let probation = probation_rows(file.scores.len());
    let mut windows = file.windows.iter().enumerate().peekable();
    let mut prev: Option<(usize, f64)> = None; // right index and width of the last window passed
    for (i, &score) in file.scores.iter().enumerate() {
        let current = windows.peek().filter(|(_, w)| w.0 <= i && i <= w.1).map(|&(k, &w)| (k, w));
        let (weight, window) = match current {
            Some((k, (left, right))) => {
                let width = (right - left + 1) as f64;
                let position = -((right - i + 1) as f64) / width;
                (scaled_sigmoid(position) * profile.tp / max_tp, Some(first_window + k))
            }
            None => {
                let unweighted = match prev {
                    None => -1.0,
                    Some((right, width)) => scaled_sigmoid((i as f64 - right as f64).abs() / (width - 1.0)),
                };
                (unweighted * profile.fp, None)
            }
        };
        if i >= probation {
            out.push(Row { score, weight, window });
        }
        if let Some((_, (left, right))) = current {
            if i == right {
                prev = Some((right, (right - left + 1) as f64));
                windows.next();
            }
        }
    }
    file.windows.len()
}

/// The raw score at every distinct threshold, highest threshold first: (threshold, score).
fn scores_by_threshold(mut rows: Vec<Row>, windows: usize, profile: &Profile) -> Vec<(f64, f64)> {
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut window_score: Vec<Option<f64>> = vec![None; windows];
    for r in &rows {
        if let Some(w) = r.window {
            window_score[w] = Some(-profile.fn_);
        }
    }
    let mut fp = 0.0;
    let total = |ws: &[Option<f64>], fp: f64| fp + ws.iter().flatten().sum::<f64>();
    let mut out = Vec::new();
    let mut threshold = f64::INFINITY;
    for r in &rows {
        if r.score != threshold {
            out.push((threshold, total(&window_score, fp)));
            threshold = r.score;
        }
        match r.window {
            None => fp += r.weight,
            Some(w) => {
                let s = window_score[w].get_or_insert(-profile.fn_);
                *s = s.max(r.weight);
            }
        }
    }
    out.push((threshold, total(&window_score, fp)));
    out
}

/// Per-file and total result of one profile at the threshold that maximises the total.
#[derive(Debug, Clone)]
pub struct Result {
    pub profile: Profile,
    pub threshold: f64,
    pub raw: f64,
    pub normalized: f64,
    pub per_file: Vec<(String, f64)>,
    pub detected_windows: usize,
    pub windows: usize,
    pub false_positives: usize,
}

/// Scores `files` under `profile`; the threshold is optimised over all files together.
pub fn evaluate(files: &[File], profile: Profile) -> Result {
    let mut all = Vec::new();
    let mut windows = 0;
    let mut per_file_rows = Vec::new();
    for f in files {
        let start = all.len();
        let n = sweep_rows(f, &profile, windows, &mut all);
        per_file_rows.push((start..all.len(), windows..windows + n));
        windows += n;
    }
    let scorable_windows: std::collections::HashSet<usize> = all.iter().filter_map(|r| r.window).collect();
    let sweep = scores_by_threshold(all.clone(), windows, &profile);
    let (threshold, raw) = sweep
        .iter()
        .copied()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |best, (t, s)| if s > best.1 { (t, s) } else { best });
    let mut per_file = Vec::new();
    let mut detected = HashMap::new();
    let mut false_positives = 0;
    for (f, (rows, _)) in files.iter().zip(&per_file_rows) {
        let mut score = 0.0;
        let mut firsts: HashMap<usize, f64> = HashMap::new();
        for r in &all[rows.clone()] {
            if let Some(w) = r.window {
                firsts.entry(w).or_insert(-profile.fn_);
            }
        }
        for r in &all[rows.clone()] {
            if r.score >= threshold {
                match r.window {
                    None => {
                        score += r.weight;
                        false_positives += 1;
                    }
                    Some(w) => {
                        let s = firsts.get_mut(&w).expect("window seen");
                        *s = s.max(r.weight);
                        detected.insert(w, ());
                    }
                }
            }
        }
        score += firsts.values().sum::<f64>();
        per_file.push((f.name.clone(), score));
    }
    let n = scorable_windows.len() as f64;
    let null = -profile.fn_ * n;
    let perfect = profile.tp * n;
    Result {
        profile,
        threshold,
        raw,
        normalized: 100.0 * (raw - null) / (perfect - null),
        per_file,
        detected_windows: detected.len(),
        windows,
        false_positives,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(scores: Vec<f64>, windows: Vec<(usize, usize)>) -> File {
        File { name: "f".into(), scores, windows }
    }

    #[test]
    fn probation_is_fifteen_percent_capped_at_750_rows() {
        assert_eq!(probation_rows(4032), 604);
        assert_eq!(probation_rows(22695), 750);
    }

    #[test]
    fn flagging_each_windows_first_row_is_100_and_nothing_is_0() {
        let mut s = vec![0.0; 1000];
        s[500] = 1.0;
        s[800] = 1.0;
        let f = file(s, vec![(500, 549), (800, 849)]);
        for p in PROFILES {
            let r = evaluate(std::slice::from_ref(&f), p);
            assert!((r.normalized - 100.0).abs() < 1e-9, "{p:?} {r:?}");
            let r = evaluate(&[file(vec![0.0; 1000], f.windows.clone())], p);
            assert!(r.normalized.abs() < 1e-9);
        }
    }

    #[test]
    fn a_late_detection_and_a_false_positive_score_as_computed_by_hand() {
        // 1000 rows, probation 150. Window rows 500..=599 (width 100). Detection at row 550:
        // position −(599−550+1)/100 = −0.5 → 2/(1+e^−2.5) − 1 = 0.848283639957513, divided by the
        // maximum 2/(1+e^−5) − 1 = 0.986614298151430 → 0.859798.
        // False positive at row 300 (before any window): −1 × 0.11.
        // False positive at row 649: 50 rows past the window of width 100 → position 50/99,
        // 2/(1+e^(5·50/99)) − 1, × 0.11.
        let mut s = vec![0.0; 1000];
        s[550] = 1.0;
        s[300] = 1.0;
        s[649] = 1.0;
        let r = evaluate(&[file(s, vec![(500, 599)])], STANDARD);
        let tp = (2.0 / (1.0 + (-2.5f64).exp()) - 1.0) / (2.0 / (1.0 + (-5.0f64).exp()) - 1.0);
        let fp_after = (2.0 / (1.0 + (5.0 * 50.0 / 99.0f64).exp()) - 1.0) * 0.11;
        let expected_raw = tp - 0.11 + fp_after;
        assert!((r.raw - expected_raw).abs() < 1e-12, "{} vs {expected_raw}", r.raw);
        // With one window, null is −1 and perfect +1.
        assert!((r.normalized - 100.0 * (expected_raw + 1.0) / 2.0).abs() < 1e-9);
        assert_eq!((r.detected_windows, r.false_positives), (1, 2));
    }

    #[test]
    fn the_threshold_is_chosen_for_all_files_together() {
        // File a: its window's detection scores 0.6, a false positive 0.9. File b: detection 0.9.
        // Threshold 0.9 catches b's window (+1) and a's FP (−0.11) and misses a's window (−1);
        // threshold 0.6 catches both windows (+2) and the FP: 2 − 0.11 is the best.
        let mut a = vec![0.0; 1000];
        a[500] = 0.6;
        a[300] = 0.9;
        let mut b = vec![0.0; 1000];
        b[500] = 0.9;
        let r = evaluate(&[file(a, vec![(500, 599)]), file(b, vec![(500, 599)])], STANDARD);
        assert_eq!(r.threshold, 0.6);
        assert!((r.raw - (2.0 - 0.11)).abs() < 1e-12);
        assert_eq!(r.per_file.len(), 2);
        assert!((r.per_file[1].1 - 1.0).abs() < 1e-12);
    }
}
