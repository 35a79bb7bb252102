//! The report's charts, drawn server-side as SVG with plotters: a reference-vs-window histogram on
//! the reference's bins, and a series' recent points inside their band. No font backend: plotters
//! estimates label widths and leaves the text to the browser, so the page needs no fonts or scripts.

use plotters::prelude::*;

use driftwatch_stats::anomaly::Observation;

/// A chart that could not be drawn (plotters' own error, as text).
#[derive(Debug, thiserror::Error)]
#[error("drawing a chart: {0}")]
pub(crate) struct ChartError(String);

fn chart_error(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

const REFERENCE: RGBColor = RGBColor(0x5b, 0x7c, 0x99);
const WINDOW: RGBColor = RGBColor(0xe0, 0x7a, 0x1f);
const BAND: RGBColor = RGBColor(0xc6, 0xdb, 0xef);
const ANOMALY: RGBColor = RGBColor(0xc6, 0x28, 0x28);

fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts.iter().map(|&c| if total == 0 { 0.0 } else { c as f64 / total as f64 }).collect()
}

/// Side-by-side bars of each bin's share in the reference and in the window.
pub(crate) fn histogram(bins: &[String], reference: &[u64], window: &[u64]) -> Result<String, ChartError> {
    let (r, w) = (shares(reference), shares(window));
    // Headroom above the tallest bar for the legend.
    let top = r.iter().chain(&w).copied().fold(0.0f64, f64::max).max(0.01) * 1.35;
    let n = bins.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(52)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
            .map_err(chart_error)?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n { bins[i as usize].clone() } else { String::new() }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&label)
            .x_label_style(("sans-serif", 11))
            .y_desc("share of values")
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .draw()
            .map_err(chart_error)?;
        chart
            .draw_series(
                r.iter()
                    .enumerate()
                    .map(|(i, &s)| Rectangle::new([(i as f64 - 0.4, 0.0), (i as f64, s)], REFERENCE.filled())),
            )
            .map_err(chart_error)?
            .label("reference")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], REFERENCE.filled()));
        chart
            .draw_series(
                w.iter()
                    .enumerate()
                    .map(|(i, &s)| Rectangle::new([(i as f64, 0.0), (i as f64 + 0.4, s)], WINDOW.filled())),
            )
            .map_err(chart_error)?
            .label("current")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], WINDOW.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// A series' points (red where they scored above 1) over their forecast and band.
pub(crate) fn series(points: &[Observation]) -> Result<String, ChartError> {
    let finite = |v: f64| v.is_finite().then_some(v);
    let ys: Vec<f64> = points.iter().flat_map(|o| [o.value, o.lower, o.upper]).filter_map(finite).collect();
    let (lo, hi) = ys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (lo.min(0.0) - 1.0, hi.max(0.0) + 1.0) };
    let pad = (hi - lo) * 0.08;
    let (t0, t1) = match (points.first(), points.last()) {
        (Some(a), Some(b)) if b.timestamp > a.timestamp => (a.timestamp, b.timestamp),
        (Some(a), _) => (a.timestamp - 1.0, a.timestamp + 1.0),
        _ => (0.0, 1.0),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(t0..t1, (lo - pad)..(hi + pad))
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|t| {
                chrono::DateTime::from_timestamp(*t as i64, 0).map_or(String::new(), |d| d.format("%H:%M").to_string())
            })
            .draw()
            .map_err(chart_error)?;
        let banded: Vec<&Observation> = points.iter().filter(|o| o.lower.is_finite() && o.upper.is_finite()).collect();
        if banded.len() > 1 {
            let outline: Vec<(f64, f64)> = banded
                .iter()
                .map(|o| (o.timestamp, o.upper))
                .chain(banded.iter().rev().map(|o| (o.timestamp, o.lower)))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(outline, BAND.filled()))).map_err(chart_error)?;
            chart
                .draw_series(LineSeries::new(banded.iter().map(|o| (o.timestamp, o.expected)), BLACK.mix(0.5)))
                .map_err(chart_error)?;
        }
        chart
            .draw_series(points.iter().filter(|o| o.value.is_finite()).map(|o| {
                let color = if o.anomalous() { ANOMALY } else { REFERENCE };
                Circle::new((o.timestamp, o.value), if o.anomalous() { 4 } else { 2 }, color.filled())
            }))
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}
