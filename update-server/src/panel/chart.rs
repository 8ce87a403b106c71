//! Line charts as server-side SVG: axes with ticks, one line per series, markers for what
//! happened (pauses, promotions, automatic pauses, rollout frames), and an HTML legend and
//! data table beside the chart. The browser draws the text, so no font is needed here.
//!
//! Colours mean something and never alone: an error is red, a completion green, the target
//! version green, each with its own dash pattern, named in the legend. The y axis is an SVG
//! of its own that stays in view (`position: sticky`) while a narrow screen scrolls the plot
//! sideways.
//!
//! Each line is a `<path>` carrying `data-series` (its label), `data-values` (the counts it
//! is drawn from, one per bucket), `data-colour` and `data-dash`; each marker a `<g>` with
//! `data-marker` (its kind), `data-at` (unix seconds) and `data-label`; so the page states
//! exactly what it plots.

use super::html::esc;
use std::fmt::Write as _;

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Style {
    /// The stroke colour.
    pub colour: &'static str,
    /// The SVG dash pattern, empty for a solid line.
    pub dash: &'static str,
}

/// One line: a label, a value per bucket and how it is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// The legend's label (a version, an event).
    pub label: String,
    /// One count per bucket.
    pub values: Vec<i64>,
    /// Its fixed style; `None` takes the next of the palette.
    pub style: Option<Style>,
}

/// Something that happened, drawn as a vertical line at its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// When, unix seconds.
    pub at: i64,
    /// What kind: `pause`, `unpause`, `autopause`, `resume`, `promotion`, `frame`.
    pub kind: &'static str,
    /// What it says.
    pub label: String,
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
    /// The markers (those outside the buckets' time are left out).
    pub markers: &'a [Marker],
}

/// The view box.
pub const WIDTH: f64 = 800.0;
/// The view box.
pub const HEIGHT: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 40.0;

/// Red: errors, failures, automatic pauses.
pub const RED: &str = "#c62828";
/// Green: completions, the target version.
pub const GREEN: &str = "#2e7d32";

/// Colours for lines without a meaning of their own: neither red nor green, apart from
/// each other.
const PALETTE: [&str; 8] = [
    "#1f5fbf", "#e07b00", "#7b4fa6", "#00838f", "#8d6e63", "#c2185b", "#5d6d7e", "#9e9d24",
];
const DASHES: [&str; 4] = ["", "6 3", "2 3", "8 3 2 3"];

/// The style of the `i`th series without one of its own: eight colours, then the same
/// colours dashed.
pub fn style(i: usize) -> Style {
    Style {
        colour: PALETTE[i % PALETTE.len()],
        dash: DASHES[(i / PALETTE.len()) % DASHES.len()],
    }
}

/// The fixed style of an event (type, result): error red and dashed, complete green and
/// solid, the steps in between in colours and dashes of their own. `None` for an event
/// without one.
pub fn event_style(event: (i64, i64)) -> Option<Style> {
    let (colour, dash) = match event {
        (3, 2) => (GREEN, ""),
        (3, 0) => (RED, "6 3"),
        (13, 1) => ("#1f5fbf", "2 3"),
        (14, 1) => ("#00838f", "8 3 2 3"),
        (3, 1) => ("#7b4fa6", "4 2"),
        (800, 1) => ("#8d6e63", "1 3"),
        (2, 1) => ("#e07b00", "10 4"),
        (3, 9) => ("#5d6d7e", "3 6"),
        (-3, -3) => ("#5d6d7e", ""),
        _ => return None,
    };
    Some(Style { colour, dash })
}

/// The style of a marker kind.
pub fn marker_style(kind: &str) -> Style {
    let (colour, dash) = match kind {
        "autopause" => (RED, "4 3"),
        "pause" => ("#8a5a00", "4 3"),
        "resume" | "unpause" => (GREEN, "4 3"),
        "promotion" => ("#1f5fbf", ""),
        _ => ("#5d6d7e", "2 4"),
    };
    Style { colour, dash }
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
    x_at(i as f64, n)
}

/// The x coordinate of a fractional bucket position of `n`.
fn x_at(position: f64, n: usize) -> f64 {
    if n <= 1 {
        LEFT + plot_width() / 2.0
    } else {
        LEFT + plot_width() * position / ((n - 1) as f64)
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

fn dash_attr(dash: &str) -> String {
    if dash.is_empty() {
        String::new()
    } else {
        format!(r#" stroke-dasharray="{dash}""#)
    }
}

impl LineChart<'_> {
    /// The style each series is drawn with.
    pub fn styles(&self) -> Vec<Style> {
        let mut next = 0;
        self.series
            .iter()
            .map(|s| {
                s.style.unwrap_or_else(|| {
                    next += 1;
                    style(next - 1)
                })
            })
            .collect()
    }

    /// The markers within the buckets' time, with their fractional bucket positions.
    fn visible_markers(&self) -> Vec<(f64, &Marker)> {
        let (Some(first), Some(last)) = (self.buckets.first(), self.buckets.last()) else {
            return Vec::new();
        };
        let resolution = self.resolution.max(1);
        self.markers
            .iter()
            .filter(|m| m.at >= *first && m.at < last + resolution)
            .map(|m| (((m.at - first) as f64 / resolution as f64), m))
            .map(|(p, m)| (p.min((self.buckets.len().saturating_sub(1)) as f64), m))
            .collect()
    }

    /// The chart: a y axis that stays in view and the plot, side by side in a
    /// `div.chart-scroll` (put it in a `div.chart-wrap`, which scrolls sideways).
    pub fn svg(&self) -> String {
        let n = self.buckets.len();
        let max = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0);
        let top = nice_max(max);
        let step = (top / 5).max(1);
        let mut out = format!(
            r#"<div class="chart-scroll" data-chart-box="{id}">"#,
            id = esc(self.id)
        );
        // The y axis: its labels, in an SVG of its own (sticky on narrow screens).
        let _ = write!(
            out,
            r#"<svg class="chart-y" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {LEFT} {HEIGHT}" aria-hidden="true" data-axis="y">"#
        );
        let mut tick = 0;
        while tick <= top {
            let _ = write!(
                out,
                r#"<text x="{tx}" y="{ty:.1}" text-anchor="end">{tick}</text>"#,
                tx = LEFT - 6.0,
                ty = y_of(tick, top) + 4.0,
            );
            tick += step;
        }
        out.push_str("</svg>");
        let _ = write!(
            out,
            r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="{LEFT} 0 {pw} {HEIGHT}" role="img" aria-labelledby="{id}-title" data-chart="{id}" data-max="{top}" data-first="{first}"><title id="{id}-title">{title}</title>"#,
            pw = WIDTH - LEFT,
            id = esc(self.id),
            title = esc(self.title),
            first = self.buckets.first().copied().unwrap_or(0),
        );
        // Gridlines at the y axis's steps.
        out.push_str(r#"<g class="grid">"#);
        let mut tick = 0;
        while tick <= top {
            let y = y_of(tick, top);
            let _ = write!(
                out,
                r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e7ee"/>"##,
                x2 = WIDTH - RIGHT,
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
        // Markers: a vertical line, a short tag above the plot, the whole text as a title.
        out.push_str(r#"<g class="markers">"#);
        let mut drawn: Vec<f64> = Vec::new();
        for (position, marker) in self.visible_markers() {
            let x = x_at(position, n);
            let st = marker_style(marker.kind);
            // Tags of markers at (nearly) the same place stack downwards; a tag at an edge
            // of the plot leans inwards.
            let stacked = drawn.iter().filter(|d| (**d - x).abs() < 10.0).count();
            drawn.push(x);
            let anchor = if x < LEFT + 10.0 {
                "start"
            } else if x > WIDTH - RIGHT - 10.0 {
                "end"
            } else {
                "middle"
            };
            let _ = write!(
                out,
                r#"<g data-marker="{kind}" data-at="{at}" data-label="{label}" data-colour="{colour}"><title>{label}</title><line x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{y2}" stroke="{colour}" stroke-width="1.5"{dash}/><text x="{x:.1}" y="{ty}" text-anchor="{anchor}" fill="{colour}">{tag}</text></g>"#,
                kind = esc(marker.kind),
                at = marker.at,
                label = esc(&marker.label),
                colour = st.colour,
                dash = dash_attr(st.dash),
                y1 = TOP,
                y2 = HEIGHT - BOTTOM,
                ty = TOP - 8.0 + 14.0 * (stacked as f64),
                tag = marker_tag(marker.kind),
            );
        }
        out.push_str("</g>");
        // The lines.
        out.push_str(r#"<g class="series">"#);
        for (series, st) in self.series.iter().zip(self.styles()) {
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
            let _ = write!(
                out,
                r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"{dash} data-series="{label}" data-values="{values}" data-colour="{colour}" data-dash="{dash_value}"><title>{label}</title></path>"#,
                colour = st.colour,
                dash = dash_attr(st.dash),
                dash_value = st.dash,
                label = esc(&series.label),
                values = values.join(","),
            );
            if n <= 61 {
                for (j, value) in series.values.iter().enumerate().take(n) {
                    if *value > 0 {
                        let _ = write!(
                            out,
                            r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#,
                            x_of(j, n),
                            y_of(*value, top),
                            st.colour
                        );
                    }
                }
            }
        }
        out.push_str("</g></svg></div>");
        out
    }

    /// The legend: a swatch with the line's dash pattern, the label and the latest value of
    /// each series; then the markers' kinds.
    pub fn legend(&self) -> String {
        let mut out = String::from(r#"<ul class="legend">"#);
        for (series, st) in self.series.iter().zip(self.styles()) {
            let _ = write!(
                out,
                r#"<li data-series="{label}" data-colour="{colour}"><svg width="28" height="12" aria-hidden="true"><line x1="1" x2="27" y1="6" y2="6" stroke="{colour}" stroke-width="3"{dash}/></svg> {label} <span class="muted">(latest {latest})</span></li>"#,
                label = esc(&series.label),
                colour = st.colour,
                dash = dash_attr(st.dash),
                latest = series.values.last().copied().unwrap_or(0)
            );
        }
        if self.series.is_empty() {
            out.push_str(r#"<li class="muted">No data in this period.</li>"#);
        }
        out.push_str("</ul>");
        let markers = self.visible_markers();
        if !markers.is_empty() {
            out.push_str(r#"<ul class="legend markers">"#);
            for (_, m) in markers {
                let st = marker_style(m.kind);
                let at = jiff::Timestamp::from_second(m.at)
                    .map(|t| t.strftime("%H:%M").to_string())
                    .unwrap_or_default();
                let _ = write!(
                    out,
                    r#"<li data-marker="{kind}"><svg width="12" height="14" aria-hidden="true"><line x1="6" x2="6" y1="0" y2="14" stroke="{colour}" stroke-width="2"{dash}/></svg> <span class="tag">{tag}</span> {at} {label}</li>"#,
                    kind = esc(m.kind),
                    colour = st.colour,
                    dash = dash_attr(st.dash),
                    tag = marker_tag(m.kind),
                    label = esc(&m.label),
                );
            }
            out.push_str("</ul>");
        }
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

/// The short tag drawn above a marker's line (the legend says what it means).
fn marker_tag(kind: &str) -> &'static str {
    match kind {
        "autopause" => "A",
        "pause" => "P",
        "resume" | "unpause" => "R",
        "promotion" => "V",
        _ => "F",
    }
}

/// The first bucket worth drawing: the first with a count in any of the series (a group's
/// graphs start where its data does, not with zeros before it existed); 0 when none has.
pub fn first_with_data(series: &[&[Series]]) -> usize {
    series
        .iter()
        .flat_map(|s| s.iter())
        .filter_map(|s| s.values.iter().position(|v| *v != 0))
        .min()
        .unwrap_or(0)
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
                style: None,
            },
            Series {
                label: "1.1.0".into(),
                values: vec![0, 5, 10],
                style: None,
            },
        ];
        let chart = LineChart {
            id: "versions",
            title: "Instances by version",
            buckets: &buckets,
            resolution: 60,
            series: &series,
            markers: &[],
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
        assert_eq!(legend.matches("<li data-series=").count(), 2);
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
                style: None,
            })
            .collect();
        let chart = LineChart {
            id: "many",
            title: "Many",
            buckets: &buckets,
            resolution: day,
            series: &series,
            markers: &[],
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
        assert!(!style(10).dash.is_empty(), "the ninth series on is dashed");
    }

    #[test]
    fn empty_and_single_bucket_charts_render() {
        let chart = LineChart {
            id: "e",
            title: "Empty",
            buckets: &[],
            resolution: 60,
            series: &[],
            markers: &[],
        };
        assert!(chart.svg().ends_with("</svg></div>"));
        assert!(chart.legend().contains("No data"));
        let series = [Series {
            label: "<x>".into(),
            values: vec![3],
            style: None,
        }];
        let one = LineChart {
            id: "o",
            title: "One",
            buckets: &[0],
            resolution: 60,
            series: &series,
            markers: &[],
        };
        let svg = one.svg();
        assert!(svg.contains("data-series=\"&lt;x&gt;\""));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn events_have_fixed_colours_whatever_their_order() {
        let buckets = [0, 60];
        let series = [
            Series {
                label: "error (3/0)".into(),
                values: vec![1, 2],
                style: event_style((3, 0)),
            },
            Series {
                label: "complete (3/2)".into(),
                values: vec![0, 1],
                style: event_style((3, 2)),
            },
            Series {
                label: "event (99/1)".into(),
                values: vec![1, 1],
                style: event_style((99, 1)),
            },
        ];
        let chart = LineChart {
            id: "events",
            title: "Events",
            buckets: &buckets,
            resolution: 60,
            series: &series,
            markers: &[],
        };
        let svg = chart.svg();
        assert!(svg.contains(&format!(
            r#"data-series="error (3/0)" data-values="1,2" data-colour="{RED}" data-dash="6 3""#
        )));
        assert!(svg.contains(&format!(
            r#"data-series="complete (3/2)" data-values="0,1" data-colour="{GREEN}" data-dash="""#
        )));
        // A pair without a meaning takes the palette, never red or green.
        let other = chart.styles()[2];
        assert!(other.colour != RED && other.colour != GREEN);
        // Every named event is told apart by more than its colour.
        let named = [
            (3, 2),
            (3, 0),
            (13, 1),
            (14, 1),
            (3, 1),
            (800, 1),
            (2, 1),
            (3, 9),
        ];
        let dashes: std::collections::BTreeSet<_> = named
            .iter()
            .map(|e| event_style(*e).unwrap().dash)
            .collect();
        assert_eq!(dashes.len(), named.len());
        assert!(chart.legend().contains(&format!(r#"data-colour="{RED}""#)));
    }

    #[test]
    fn markers_within_the_range_are_drawn_at_their_time() {
        let buckets = [600, 660, 720];
        let series = [Series {
            label: "1.0.0".into(),
            values: vec![1, 1, 1],
            style: None,
        }];
        let markers = [
            Marker {
                at: 630,
                kind: "pause",
                label: "paused".into(),
            },
            Marker {
                at: 500,
                kind: "promotion",
                label: "before the range".into(),
            },
            Marker {
                at: 770,
                kind: "autopause",
                label: "paused automatically".into(),
            },
        ];
        let chart = LineChart {
            id: "v",
            title: "V",
            buckets: &buckets,
            resolution: 60,
            series: &series,
            markers: &markers,
        };
        let svg = chart.svg();
        assert_eq!(svg.matches("data-marker=").count(), 2, "{svg}");
        let x = LEFT + plot_width() * 0.25;
        assert!(svg.contains(&format!(r#"x1="{x:.1}""#)), "{svg}");
        assert!(svg.contains(&format!(
            r#"data-marker="autopause" data-at="770" data-label="paused automatically" data-colour="{RED}""#
        )));
        assert!(!svg.contains("before the range"));
        let legend = chart.legend();
        assert!(legend.contains("paused automatically") && !legend.contains("before the range"));
    }

    #[test]
    fn the_y_axis_is_an_svg_of_its_own_with_the_same_height() {
        let chart = LineChart {
            id: "v",
            title: "V",
            buckets: &[0, 60],
            resolution: 60,
            series: &[],
            markers: &[],
        };
        let svg = chart.svg();
        assert!(
            svg.starts_with(r#"<div class="chart-scroll" data-chart-box="v"><svg class="chart-y""#)
        );
        assert!(svg.contains(&format!(r#"viewBox="0 0 {LEFT} {HEIGHT}""#)));
        assert!(svg.contains(&format!(r#"viewBox="{LEFT} 0 {} {HEIGHT}""#, WIDTH - LEFT)));
    }

    #[test]
    fn the_time_axis_starts_with_the_first_count() {
        let a = [Series {
            label: "a".into(),
            values: vec![0, 0, 0, 4, 5],
            style: None,
        }];
        let b = [Series {
            label: "b".into(),
            values: vec![0, 0, 1, 0, 0],
            style: None,
        }];
        assert_eq!(first_with_data(&[&a]), 3);
        assert_eq!(first_with_data(&[&a, &b]), 2);
        assert_eq!(first_with_data(&[&[]]), 0);
    }
}
