//! Line charts as server-side SVG: axes with ticks, one line per series, and an HTML legend
//! and data table beside the chart. The browser draws the text, so no font is needed here.
//!
//! Each line is a `<path>` carrying `data-series` (its label) and `data-values` (the
//! counts it is drawn from, one per bucket), so the page states exactly what it plots.

use super::html::esc;
use std::fmt::Write as _;

/// One line: a label and a value per bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// The legend's label (a version, an event).
    pub label: String,
    /// One count per bucket.
    pub values: Vec<i64>,
}

/// A chart: buckets (unix seconds of their start) along x, counts along y.
#[derive(Debug, Clone)]
pub struct LineChart<'a> {
    /// An id unique in the page (used for the title's id).
    pub id: &'a str,
    /// The accessible title.
    pub title: &'a str,
    /// Bucket starts, unix seconds, ascending.
    pub buckets: &'a [i64],
    /// The bucket length in seconds (chooses the time labels).
    pub resolution: i64,
    /// The lines, in legend order.
    pub series: &'a [Series],
}

/// The view box.
pub const WIDTH: f64 = 800.0;
/// The view box.
pub const HEIGHT: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;

/// Ten colours that stay apart from each other (Tableau 10).
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#6b6b6b",
];
const DASHES: [&str; 3] = ["", "6 3", "2 3"];

/// The colour and dash pattern of the `i`th series: ten colours, then the same colours
/// dashed.
pub fn style(i: usize) -> (&'static str, &'static str) {
    (
        PALETTE[i % PALETTE.len()],
        DASHES[(i / PALETTE.len()) % DASHES.len()],
    )
}

/// The top of the y axis: the smallest 1, 2 or 5 times a power of ten at or above `max`.
pub fn nice_max(max: i64) -> i64 {
    if max <= 1 {
        return 1;
    }
    let mut magnitude = 1i64;
    while magnitude.saturating_mul(10) <= max {
        magnitude = magnitude.saturating_mul(10);
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| magnitude.saturating_mul(m))
        .find(|top| *top >= max)
        .unwrap_or(i64::MAX)
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

/// The x coordinate of bucket `i` of `n`.
pub fn x_of(i: usize, n: usize) -> f64 {
    if n <= 1 {
        LEFT + plot_width() / 2.0
    } else {
        LEFT + plot_width() * (i as f64) / ((n - 1) as f64)
    }
}

/// The y coordinate of `value` on an axis topped at `top`.
pub fn y_of(value: i64, top: i64) -> f64 {
    TOP + plot_height() * (1.0 - (value as f64) / (top.max(1) as f64))
}

fn label_of(bucket: i64, resolution: i64, span: i64) -> String {
    let Ok(t) = jiff::Timestamp::from_second(bucket) else {
        return bucket.to_string();
    };
    let format = if resolution >= 86_400 {
        "%m-%d"
    } else if span > 86_400 {
        "%m-%d %H:%M"
    } else {
        "%H:%M"
    };
    t.strftime(format).to_string()
}

impl LineChart<'_> {
    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> String {
        let n = self.buckets.len();
        let max = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0);
        let top = nice_max(max);
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title" data-chart="{id}" data-max="{top}"><title id="{id}-title">{title}</title>"#,
            id = esc(self.id),
            title = esc(self.title),
        );
        // y axis: gridlines and labels at whole steps.
        let step = (top / 5).max(1);
        out.push_str(r#"<g class="y-axis">"#);
        let mut tick = 0;
        while tick <= top {
            let y = y_of(tick, top);
            let _ = write!(
                out,
                r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e7ee"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{tick}</text>"##,
                x2 = WIDTH - RIGHT,
                tx = LEFT - 6.0,
                ty = y + 4.0,
            );
            tick += step;
        }
        out.push_str("</g>");
        // x axis: at most seven labelled ticks.
        let span = match (self.buckets.first(), self.buckets.last()) {
            (Some(first), Some(last)) => last - first,
            _ => 0,
        };
        let _ = write!(
            out,
            r##"<g class="x-axis"><line x1="{LEFT}" x2="{x2}" y1="{y}" y2="{y}" stroke="#8a93a3"/>"##,
            x2 = WIDTH - RIGHT,
            y = HEIGHT - BOTTOM,
        );
        if n > 0 {
            let every = n.div_ceil(7).max(1);
            for (i, bucket) in self.buckets.iter().enumerate() {
                if i % every != 0 && i != n - 1 {
                    continue;
                }
                if i != n - 1 && i + every > n - 1 && (n - 1 - i) * 2 < every {
                    // Too close to the last label.
                    continue;
                }
                let x = x_of(i, n);
                let anchor = if i == 0 && n > 1 {
                    "start"
                } else if i == n - 1 && n > 1 {
                    "end"
                } else {
                    "middle"
                };
                let _ = write!(
                    out,
                    r##"<line x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{y2}" stroke="#8a93a3"/><text x="{x:.1}" y="{ty}" text-anchor="{anchor}">{label}</text>"##,
                    y1 = HEIGHT - BOTTOM,
                    y2 = HEIGHT - BOTTOM + 5.0,
                    ty = HEIGHT - BOTTOM + 18.0,
                    label = esc(&label_of(*bucket, self.resolution, span)),
                );
            }
        }
        let _ = write!(
            out,
            r#"<text x="{x}" y="{y}" text-anchor="end">time (UTC)</text></g>"#,
            x = WIDTH - RIGHT,
            y = HEIGHT - 4.0,
        );
        // The lines.
        out.push_str(r#"<g class="series">"#);
        for (i, series) in self.series.iter().enumerate() {
            let (colour, dash) = style(i);
            let mut d = String::new();
            for (j, value) in series.values.iter().enumerate().take(n) {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1}",
                    if j == 0 { "M" } else { " L" },
                    x_of(j, n),
                    y_of(*value, top)
                );
            }
            let values: Vec<String> = series.values.iter().map(i64::to_string).collect();
            let dash = if dash.is_empty() {
                String::new()
            } else {
                format!(r#" stroke-dasharray="{dash}""#)
            };
            let _ = write!(
                out,
                r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"{dash} data-series="{label}" data-values="{values}"><title>{label}</title></path>"#,
                label = esc(&series.label),
                values = values.join(","),
            );
            if n <= 31 {
                for (j, value) in series.values.iter().enumerate().take(n) {
                    let _ = write!(
                        out,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                        x_of(j, n),
                        y_of(*value, top)
                    );
                }
            }
        }
        out.push_str("</g></svg>");
        out
    }

    /// The legend: a swatch, the label and the latest value of each series.
    pub fn legend(&self) -> String {
        let mut out = String::from(r#"<ul class="legend">"#);
        for (i, series) in self.series.iter().enumerate() {
            let (colour, dash) = style(i);
            let dash = if dash.is_empty() {
                String::new()
            } else {
                format!(r#" stroke-dasharray="{dash}""#)
            };
            let _ = write!(
                out,
                r#"<li><svg width="28" height="12" aria-hidden="true"><line x1="1" x2="27" y1="6" y2="6" stroke="{colour}" stroke-width="3"{dash}/></svg> {} <span class="muted">(latest {})</span></li>"#,
                esc(&series.label),
                series.values.last().copied().unwrap_or(0)
            );
        }
        if self.series.is_empty() {
            out.push_str(r#"<li class="muted">No data in this period.</li>"#);
        }
        out.push_str("</ul>");
        out
    }

    /// The numbers the chart is drawn from, one row per bucket with any count.
    pub fn table(&self) -> String {
        let mut out = format!(
            r#"<details><summary>Data table: {}</summary><div class="table-wrap"><table><thead><tr><th scope="col">Bucket (UTC)</th>"#,
            esc(self.title)
        );
        for series in self.series {
            let _ = write!(
                out,
                r#"<th scope="col" class="num">{}</th>"#,
                esc(&series.label)
            );
        }
        out.push_str("</tr></thead><tbody>");
        for (i, bucket) in self.buckets.iter().enumerate() {
            if self
                .series
                .iter()
                .all(|s| s.values.get(i).copied().unwrap_or(0) == 0)
            {
                continue;
            }
            let label = jiff::Timestamp::from_second(*bucket)
                .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|_| bucket.to_string());
            let _ = write!(out, r#"<tr><th scope="row">{label}</th>"#);
            for series in self.series {
                let _ = write!(
                    out,
                    r#"<td class="num">{}</td>"#,
                    series.values.get(i).copied().unwrap_or(0)
                );
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div></details>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(svg: &str) -> Vec<(String, String, String)> {
        svg.split("<path ")
            .skip(1)
            .map(|rest| {
                let attr = |name: &str| {
                    let start = rest.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
                    let end = start + rest[start..].find('"').unwrap();
                    rest[start..end].to_owned()
                };
                (attr("data-series"), attr("data-values"), attr("d"))
            })
            .collect()
    }

    #[test]
    fn nice_maxima() {
        let cases = [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 5),
            (7, 10),
            (10, 10),
            (11, 20),
            (40, 50),
            (51, 100),
            (999, 1000),
            (1001, 2000),
        ];
        for (max, top) in cases {
            assert_eq!(nice_max(max), top, "{max}");
        }
    }

    #[test]
    fn one_path_per_series_with_points_scaled_to_the_axis() {
        let buckets = [0, 60, 120];
        let series = [
            Series {
                label: "1.0.0".into(),
                values: vec![10, 5, 0],
            },
            Series {
                label: "1.1.0".into(),
                values: vec![0, 5, 10],
            },
        ];
        let chart = LineChart {
            id: "versions",
            title: "Instances by version",
            buckets: &buckets,
            resolution: 60,
            series: &series,
        };
        let svg = chart.svg();
        let found = paths(&svg);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, "1.0.0");
        assert_eq!(found[0].1, "10,5,0");
        assert_eq!(found[1].1, "0,5,10");
        // Axis top 10: 10 is at the top edge, 0 on the x axis, 5 half way; the buckets span
        // the plot's width.
        let (top, bottom) = (TOP, HEIGHT - BOTTOM);
        let middle = (top + bottom) / 2.0;
        assert_eq!(
            found[0].2,
            format!(
                "M{LEFT:.1},{top:.1} L{:.1},{middle:.1} L{:.1},{bottom:.1}",
                LEFT + plot_width() / 2.0,
                WIDTH - RIGHT
            )
        );
        assert!(svg.contains(r#"data-max="10""#));
        assert!(svg.contains(">00:00<") && svg.contains(">00:02<"), "{svg}");
        assert!(svg.contains("<title id=\"versions-title\">Instances by version</title>"));
        let legend = chart.legend();
        assert_eq!(legend.matches("<li>").count(), 2);
        assert!(legend.contains("1.1.0 <span class=\"muted\">(latest 10)</span>"));
        let table = chart.table();
        assert_eq!(table.matches("<tr><th scope=\"row\">").count(), 3);
    }

    #[test]
    fn ten_versions_over_thirty_days_stay_apart_and_labelled() {
        let day = 86_400;
        let buckets: Vec<i64> = (0..30)
            .map(|d| 1_790_000_000 / day * day + d * day)
            .collect();
        let series: Vec<Series> = (0..10)
            .map(|v| Series {
                label: format!("1.{v}.0"),
                values: (0..30).map(|d| (d * (v + 1)) % 97).collect(),
            })
            .collect();
        let chart = LineChart {
            id: "many",
            title: "Many",
            buckets: &buckets,
            resolution: day,
            series: &series,
        };
        let svg = chart.svg();
        let found = paths(&svg);
        assert_eq!(found.len(), 10);
        let styles: std::collections::BTreeSet<_> = (0..10).map(style).collect();
        assert_eq!(styles.len(), 10, "ten distinct styles");
        for (s, (label, values, d)) in series.iter().zip(&found) {
            assert_eq!(&s.label, label);
            assert_eq!(values.split(',').count(), 30);
            assert_eq!(d.matches('L').count(), 29);
        }
        // At most seven date labels plus the axis title.
        let labels = svg.matches(r#"text-anchor="middle""#).count()
            + svg.matches(r#"text-anchor="start""#).count();
        assert!(labels <= 8, "{labels} labels");
        assert!(!svg.contains("NaN"));
        assert!(!style(10).1.is_empty(), "the eleventh series is dashed");
    }

    #[test]
    fn empty_and_single_bucket_charts_render() {
        let chart = LineChart {
            id: "e",
            title: "Empty",
            buckets: &[],
            resolution: 60,
            series: &[],
        };
        assert!(chart.svg().ends_with("</svg>"));
        assert!(chart.legend().contains("No data"));
        let series = [Series {
            label: "<x>".into(),
            values: vec![3],
        }];
        let one = LineChart {
            id: "o",
            title: "One",
            buckets: &[0],
            resolution: 60,
            series: &series,
        };
        let svg = one.svg();
        assert!(svg.contains("data-series=\"&lt;x&gt;\""));
        assert!(!svg.contains("NaN"));
    }
}
