//! Server-rendered SVG charts (docs/analytics.md): no script, readable in a screenshot and
//! printable. Each chart is an `<svg role="img">` with a `<title>`, axes with labelled ticks,
//! and one `<polyline class="series">` (lines) or `<rect class="bar">` per value, each carrying
//! its name in `data-name` so a test (or a screen reader's tooltip) can find it.

use std::fmt::Write as _;

/// The series' colours, in order (distinguishable in print and for the common colour blindness).
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

const W: f64 = 760.0;
const H: f64 = 320.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// Text for SVG: `&`, `<`, `>` and quotes escaped.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name, in the legend and in `data-name`.
    pub name: String,
    /// Its points (x, y) in the chart's units.
    pub points: Vec<(f64, f64)>,
}

fn frame(id: &str, title: &str, out: &mut String) {
    let _ = write!(
        out,
        r#"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" style="max-width:{W}px;display:block" role="img" aria-label="{t}"><title>{t}</title>"#,
        id = escape(id),
        t = escape(title)
    );
}

fn axes(
    out: &mut String,
    x: (f64, f64),
    y: (f64, f64),
    x_ticks: &[(f64, String)],
    y_ticks: &[(f64, String)],
) {
    let px = |v: f64| LEFT + (v - x.0) / (x.1 - x.0).max(f64::EPSILON) * (W - LEFT - RIGHT);
    let py = |v: f64| H - BOTTOM - (v - y.0) / (y.1 - y.0).max(f64::EPSILON) * (H - TOP - BOTTOM);
    let _ = write!(
        out,
        r##"<g class="axes" stroke="#999" fill="#333" font-size="11"><line x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}"/>"##,
        b = H - BOTTOM,
        r = W - RIGHT
    );
    for (v, label) in x_ticks {
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{b}" x2="{x:.1}" y2="{b2}"/><text x="{x:.1}" y="{ty}" text-anchor="middle" stroke="none">{l}</text>"#,
            x = px(*v),
            b = H - BOTTOM,
            b2 = H - BOTTOM + 4.0,
            ty = H - BOTTOM + 16.0,
            l = escape(label)
        );
    }
    for (v, label) in y_ticks {
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{r}" y2="{y:.1}" stroke="#eee"/><text x="{tx}" y="{ty:.1}" text-anchor="end" stroke="none">{l}</text>"##,
            y = py(*v),
            r = W - RIGHT,
            tx = LEFT - 6.0,
            ty = py(*v) + 4.0,
            l = escape(label)
        );
    }
    out.push_str("</g>");
}

fn legend(out: &mut String, names: &[String]) {
    for (i, name) in names.iter().enumerate().take(16) {
        let y = TOP + 6.0 + 16.0 * i as f64;
        let _ = write!(
            out,
            r#"<g class="legend"><rect x="{x}" y="{y:.1}" width="10" height="10" fill="{c}"/><text x="{tx}" y="{ty:.1}" font-size="11">{n}</text></g>"#,
            x = W - RIGHT + 12.0,
            c = PALETTE[i % PALETTE.len()],
            tx = W - RIGHT + 28.0,
            ty = y + 9.0,
            n = escape(name)
        );
    }
}

/// A line chart: each series a polyline over the x and y ranges.
pub fn lines(
    id: &str,
    title: &str,
    series: &[Series],
    x: (f64, f64),
    y: (f64, f64),
    x_ticks: &[(f64, String)],
    y_ticks: &[(f64, String)],
) -> String {
    let mut out = String::new();
    frame(id, title, &mut out);
    axes(&mut out, x, y, x_ticks, y_ticks);
    let px = |v: f64| LEFT + (v - x.0) / (x.1 - x.0).max(f64::EPSILON) * (W - LEFT - RIGHT);
    let py = |v: f64| H - BOTTOM - (v - y.0) / (y.1 - y.0).max(f64::EPSILON) * (H - TOP - BOTTOM);
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(a, b)| format!("{:.1},{:.1}", px(*a), py(*b)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" data-name="{n}" fill="none" stroke="{c}" stroke-width="2" points="{p}"/>"#,
            n = escape(&s.name),
            c = PALETTE[i % PALETTE.len()],
            p = points.join(" ")
        );
    }
    legend(
        &mut out,
        &series.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
    );
    out.push_str("</svg>");
    out
}

/// A bar chart: for each group (a label on the x axis), one bar per series, side by side.
pub fn bars(
    id: &str,
    title: &str,
    series_names: &[String],
    groups: &[(String, Vec<f64>)],
    y: (f64, f64),
    y_ticks: &[(f64, String)],
) -> String {
    let mut out = String::new();
    frame(id, title, &mut out);
    let n = groups.len().max(1) as f64;
    let x_ticks: Vec<(f64, String)> = groups
        .iter()
        .enumerate()
        .map(|(i, (label, _))| (i as f64 + 0.5, label.clone()))
        .collect();
    axes(&mut out, (0.0, n), y, &x_ticks, y_ticks);
    let group_w = (W - LEFT - RIGHT) / n;
    let per = series_names.len().max(1) as f64;
    let bar_w = (group_w * 0.8 / per).max(1.0);
    let py = |v: f64| H - BOTTOM - (v - y.0) / (y.1 - y.0).max(f64::EPSILON) * (H - TOP - BOTTOM);
    for (g, (label, values)) in groups.iter().enumerate() {
        for (s, v) in values.iter().enumerate() {
            let x = LEFT + g as f64 * group_w + group_w * 0.1 + s as f64 * bar_w;
            let top = py(*v);
            let _ = write!(
                out,
                r#"<rect class="bar" data-name="{n}" data-group="{l}" x="{x:.1}" y="{top:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{c}"/>"#,
                n = escape(series_names.get(s).map_or("", String::as_str)),
                l = escape(label),
                h = (H - BOTTOM - top).max(0.0),
                c = PALETTE[s % PALETTE.len()]
            );
        }
    }
    legend(&mut out, series_names);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_chart_has_a_polyline_per_series_with_its_name_escaped() {
        let svg = lines(
            "c",
            "Pagas <por> dia",
            &[
                Series {
                    name: "2026-03".into(),
                    points: vec![(0.0, 0.0), (10.0, 50.0)],
                },
                Series {
                    name: "a&b".into(),
                    points: vec![(0.0, 10.0)],
                },
            ],
            (0.0, 10.0),
            (0.0, 100.0),
            &[(0.0, "0".into())],
            &[(50.0, "50%".into())],
        );
        assert_eq!(svg.matches("<polyline class=\"series\"").count(), 2);
        assert!(svg.contains("data-name=\"a&amp;b\""));
        assert!(svg.contains("<title>Pagas &lt;por&gt; dia</title>"));
        // x 10 of 0..10 is the plot's right edge; y 50 of 0..100 its middle.
        assert!(svg.contains(&format!("{:.1},{:.1}", W - RIGHT, (H - BOTTOM + TOP) / 2.0)));
    }
}
