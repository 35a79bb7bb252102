//! The report as one HTML page: inline CSS and SVG, no scripts. Every number shown carries its
//! exact value in a `data-value` attribute (shortest round-trip form), so a test or a scraper reads
//! what the sidecar computed, not its rounding.

use std::fmt::Write as _;

use driftwatch_stats::drift::FeatureKind;

use super::Report;
use super::charts::{self, ChartError};

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1100px;padding:1.5rem;color:#1d2733}
h1{margin:0 0 .3rem}h1 small{font-weight:normal;color:#5b6b7a;font-size:.6em}
header p,.note{color:#5b6b7a;margin:.2rem 0}
.verdict{font-size:1.25rem;padding:.8rem 1rem;border-radius:6px}
.drift .verdict{background:#fdecea;border-left:6px solid #c62828}
.nodrift .verdict{background:#e8f5e9;border-left:6px solid #2e7d32}
.pending .verdict{background:#eef2f6;border-left:6px solid #5b7c99}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border-bottom:1px solid #dde3e9;padding:.3rem .5rem;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.drifted td.flag{color:#c62828;font-weight:600}
.badge{font-size:.75rem;padding:.1rem .45rem;border-radius:3px;background:#c62828;color:#fff;vertical-align:middle}
.badge.ok{background:#2e7d32}.badge.none{background:#8796a5}
article{border-top:1px solid #dde3e9;padding-top:.6rem;margin-top:1rem}
figure{margin:.3rem 0}figure svg{max-width:100%;height:auto}
details summary{cursor:pointer;color:#5b6b7a}
";

/// `&`, `<`, `>`, `"` and `'` escaped: names come from configs and files.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Four significant digits for reading; the exact value goes into `data-value`.
fn shown(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    if v.abs() < 1e-3 || v.abs() >= 1e6 {
        return format!("{v:.3e}");
    }
    let decimals = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

fn number(class: &str, attrs: &str, v: f64) -> String {
    format!("<td class=\"num {class}\" {attrs} data-value=\"{v}\">{}</td>", shown(v))
}

fn percent(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn kind(k: FeatureKind) -> &'static str {
    match k {
        FeatureKind::Numeric => "numeric",
        FeatureKind::Categorical => "categorical",
    }
}

fn time(t: f64) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

pub(super) fn render(r: &Report) -> Result<String, ChartError> {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("driftwatch report: {}", r.model);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(
        h,
        "<header><h1>Drift report: {} <small>version {}</small></h1><p>{}</p><p>reference: {} rows · generated {}</p></header>",
        esc(&r.model),
        esc(&r.version),
        esc(&r.subject),
        r.reference_rows,
        time(r.generated_at)
    );
    summary(&mut h, r);
    table(&mut h, r);
    distributions(&mut h, r)?;
    series(&mut h, r)?;
    h.push_str("<footer><p class=\"note\">driftwatch ");
    h.push_str(env!("CARGO_PKG_VERSION"));
    h.push_str(": the scores above are the ones /metrics exports for the same data.</p></footer>\n</body></html>\n");
    Ok(h)
}

fn summary(h: &mut String, r: &Report) {
    let Some(w) = &r.window else {
        h.push_str("<section id=\"summary\" class=\"pending\"><h2>Summary</h2><p class=\"verdict\" data-model-drift=\"unknown\">No window scored yet.</p>");
        notes(h, r);
        h.push_str("</section>\n");
        return;
    };
    let drifted: Vec<_> = w.features.iter().filter(|f| f.drifted == Some(true)).collect();
    let scored = w.features.iter().filter(|f| f.drifted.is_some()).count();
    let class = if w.model_drift { "drift" } else { "nodrift" };
    let verdict = if w.model_drift { "Model drift detected" } else { "No model drift" };
    let _ = write!(
        h,
        "<section id=\"summary\" class=\"{class}\"><h2>Summary</h2><p class=\"verdict\" data-model-drift=\"{}\">{verdict}: \
         {} of {scored} features drifted (share <span data-value=\"{}\">{}</span>; the model drifts at ≥ {}).</p>",
        w.model_drift,
        drifted.len(),
        w.drift_share,
        shown(w.drift_share),
        shown(r.drift_share_threshold)
    );
    if !drifted.is_empty() {
        h.push_str("<ul class=\"drifted\">");
        for f in &drifted {
            let by: Vec<String> = f
                .scores
                .iter()
                .filter(|s| s.drifted)
                .map(|s| match s.pvalue {
                    Some(p) => format!("{} (p = {})", s.method.as_str(), shown(p)),
                    None => format!("{} {} > {}", s.method.as_str(), shown(s.score), shown(s.threshold)),
                })
                .collect();
            let _ = write!(h, "<li><a href=\"#feature-{0}\">{0}</a>: {1}</li>", esc(&f.name), esc(&by.join(", ")));
        }
        h.push_str("</ul>");
    }
    notes(h, r);
    h.push_str("</section>\n");
}

fn notes(h: &mut String, r: &Report) {
    for n in &r.notes {
        let _ = write!(h, "<p class=\"note\">{}</p>", esc(n));
    }
}

fn table(h: &mut String, r: &Report) {
    let Some(w) = &r.window else { return };
    h.push_str(
        "<section id=\"table\"><h2>Features</h2><table class=\"drift-table\"><thead><tr><th>feature</th><th>kind</th>\
         <th class=\"num\">values</th><th class=\"num\">missing</th><th class=\"num\">outside reference</th><th>method</th>\
         <th class=\"num\">score</th><th class=\"num\">p-value</th><th class=\"num\">threshold</th><th>drifted</th></tr></thead><tbody>\n",
    );
    for (i, f) in w.features.iter().enumerate() {
        let profile = r.profiles.as_ref().and_then(|p| p.get(i));
        let k = r.features.get(i).map_or("", |(_, k)| kind(*k));
        let (missing, outside) = match profile {
            Some(p) => (percent(p.missing_share()), percent(p.outside_share())),
            None => ("–".to_owned(), "–".to_owned()),
        };
        let rows = f.scores.len().max(1);
        let name = esc(&f.name);
        let head = format!(
            "<td rowspan=\"{rows}\"><a href=\"#feature-{name}\">{name}</a></td><td rowspan=\"{rows}\">{k}</td>\
             <td class=\"num\" rowspan=\"{rows}\">{}</td><td class=\"num missing\" rowspan=\"{rows}\">{missing}</td>\
             <td class=\"num outside\" rowspan=\"{rows}\">{outside}</td>",
            f.samples
        );
        if f.scores.is_empty() {
            let _ = writeln!(h, "<tr>{head}<td colspan=\"5\">no values in this window</td></tr>");
        }
        for (j, s) in f.scores.iter().enumerate() {
            let attrs = format!("data-feature=\"{name}\" data-method=\"{}\"", s.method.as_str());
            let pvalue = match s.pvalue {
                Some(p) => number("pvalue", &attrs, p),
                None => "<td class=\"num\">–</td>".to_owned(),
            };
            let _ = writeln!(
                h,
                "<tr class=\"{}\">{}<td>{}</td>{}{}{}<td class=\"flag\">{}</td></tr>",
                if s.drifted { "drifted" } else { "" },
                if j == 0 { head.as_str() } else { "" },
                s.method.as_str(),
                number("score", &attrs, s.score),
                pvalue,
                number("threshold", &attrs, s.threshold),
                if s.drifted { "yes" } else { "no" }
            );
        }
    }
    h.push_str(
        "</tbody></table><p class=\"note\">p-values are uncorrected; the drifted column applies the model's \
                multiple-testing correction, as data_drift_detected does.</p></section>\n",
    );
}

fn distributions(h: &mut String, r: &Report) -> Result<(), ChartError> {
    let (Some(w), Some(profiles)) = (&r.window, &r.profiles) else { return Ok(()) };
    h.push_str("<section id=\"distributions\"><h2>Distributions</h2>\n");
    for ((f, p), (_, k)) in w.features.iter().zip(profiles).zip(&r.features) {
        let name = esc(&f.name);
        let badge = match f.drifted {
            Some(true) => "<span class=\"badge\">drifted</span>",
            Some(false) => "<span class=\"badge ok\">no drift</span>",
            None => "<span class=\"badge none\">no values</span>",
        };
        let what = match k {
            FeatureKind::Numeric => "share of values in each of the reference's PSI bins",
            FeatureKind::Categorical => "share of each reference category, and of categories the reference never saw",
        };
        let _ = write!(
            h,
            "<article class=\"feature\" id=\"feature-{name}\"><h3>{name} {badge}</h3><p class=\"note\">{what}</p>\
             <figure class=\"chart histogram\" data-feature=\"{name}\">{}</figure>",
            charts::histogram(&p.bins, &p.reference_counts, &p.window_counts)?
        );
        h.push_str(
            "<details><summary>bin counts</summary><table class=\"bins\"><thead><tr><th>bin</th>\
                    <th class=\"num\">reference</th><th class=\"num\">current</th></tr></thead><tbody>",
        );
        for ((b, rc), wc) in p.bins.iter().zip(&p.reference_counts).zip(&p.window_counts) {
            let _ = write!(h, "<tr><td>{}</td><td class=\"num\">{rc}</td><td class=\"num\">{wc}</td></tr>", esc(b));
        }
        h.push_str("</tbody></table></details></article>\n");
    }
    h.push_str("</section>\n");
    Ok(())
}

fn series(h: &mut String, r: &Report) -> Result<(), ChartError> {
    let shown_series: Vec<_> = r.series.iter().filter(|(_, p)| !p.is_empty()).collect();
    if shown_series.is_empty() {
        return Ok(());
    }
    h.push_str(
        "<section id=\"series\"><h2>Series</h2><p class=\"note\">The newest points of each pushed series \
                (red: anomaly_score above 1) over the forecast and the band they were scored against.</p>\n",
    );
    for (name, points) in shown_series {
        let last = points.last().expect("non-empty");
        let _ = writeln!(
            h,
            "<article class=\"series\" id=\"series-{0}\"><h3>{0}</h3><p class=\"note\">{1} points; newest: value {2}, \
             expected {3}, anomaly_score <span data-value=\"{4}\">{5}</span></p><figure class=\"chart series\" data-series=\"{0}\">{6}</figure></article>",
            esc(name),
            points.len(),
            shown(last.value),
            shown(last.expected),
            last.score,
            shown(last.score),
            charts::series(points)?
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_escaped() {
        assert_eq!(esc("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
    }

    #[test]
    fn shown_numbers_round_but_data_values_are_exact() {
        let cell = number("score", "", 0.123456789012345);
        assert!(cell.contains("data-value=\"0.123456789012345\""), "{cell}");
        assert!(cell.contains(">0.1235<"), "{cell}");
        assert_eq!(shown(1.5e-7), "1.500e-7");
        assert_eq!(
            (shown(0.0039648920119096445), shown(555.29261), shown(6.08241)),
            ("0.003965".into(), "555.3".into(), "6.082".into())
        );
    }
}
