//! A time-series chart drawn as SVG on the server, so it is in the first HTML; once the page is
//! live, pointing at it (or the arrow keys, Home and End) reads the values at that time. Vertical markers show
//! where the flag changed and the stage began.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::panels::{Chart, Line, Marker, Unit};
use crate::components::time::relative;

const WIDTH: f64 = 440.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 434.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 146.0;

/// The time axis: unix seconds at the left and right edges.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub struct Axis {
    pub from: i64,
    pub until: i64,
}

impl Axis {
    fn x(self, at: i64) -> f64 {
        let span = (self.until - self.from).max(1) as f64;
        LEFT + (at - self.from) as f64 / span * (RIGHT - LEFT)
    }

    /// The time at `fraction` (0–1) of the drawing's width.
    fn at(self, fraction: f64) -> i64 {
        let x = fraction * WIDTH;
        let share = ((x - LEFT) / (RIGHT - LEFT)).clamp(0.0, 1.0);
        self.from + (share * (self.until - self.from) as f64).round() as i64
    }
}

/// The top of the value axis: a round number above every value, so the lines never touch it.
fn ceiling(lines: &[Line]) -> f64 {
    let top = lines
        .iter()
        .flat_map(|line| line.points.iter().map(|(_, v)| *v))
        .fold(0.0_f64, f64::max);
    if top <= 0.0 {
        return 1.0;
    }
    let padded = top * 1.1;
    let power = 10f64.powf(padded.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|candidate| *candidate >= padded)
        .unwrap_or(10.0 * power)
}

fn y(value: f64, ceiling: f64) -> f64 {
    BOTTOM - (value / ceiling).clamp(0.0, 1.0) * (BOTTOM - TOP)
}

/// The line as SVG polylines, broken where points are missing (a gap of more than twice the
/// usual step), so a gap never reads as a straight ramp.
fn polylines(line: &Line, axis: Axis, ceiling: f64) -> Vec<String> {
    let step = line
        .points
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|d| *d > 0)
        .min()
        .unwrap_or(1);
    let mut runs: Vec<String> = Vec::new();
    let mut previous: Option<i64> = None;
    for (at, value) in &line.points {
        let (x, y) = (axis.x(*at), y(*value, ceiling));
        match (previous, runs.last_mut()) {
            (Some(before), Some(run)) if at - before <= 2 * step => {
                run.push(' ');
                push_point(run, x, y);
            }
            _ => {
                let mut run = String::new();
                push_point(&mut run, x, y);
                runs.push(run);
            }
        }
        previous = Some(*at);
    }
    runs
}

/// Appends "x,y", each to a tenth ("12.3,4.5"), as SVG points are written. Integer arithmetic,
/// not `{:.1}`: formatting floats took a fifth of the time of rendering the portfolio, whose 200
/// sparklines have 49 points each.
fn push_point(out: &mut String, x: f64, y: f64) {
    push_tenths(out, x);
    out.push(',');
    push_tenths(out, y);
}

/// `value` to a tenth, without a tenth of zero: "2", "17.3" (the portfolio's two hundred
/// sparklines are a third of its bytes).
fn push_tenths(out: &mut String, value: f64) {
    let tenths = (value * 10.0).round() as i64;
    if tenths < 0 {
        out.push('-');
    }
    let tenths = tenths.unsigned_abs();
    push_digits(out, tenths / 10);
    if !tenths.is_multiple_of(10) {
        out.push('.');
        out.push(char::from(b'0' + (tenths % 10) as u8));
    }
}

fn push_digits(out: &mut String, number: u64) {
    if number >= 10 {
        push_digits(out, number / 10);
    }
    out.push(char::from(b'0' + (number % 10) as u8));
}
/// The point of `line` nearest `at`.
fn nearest(line: &Line, at: i64) -> Option<(i64, f64)> {
    line.points
        .iter()
        .min_by_key(|(t, _)| (t - at).abs())
        .copied()
}

/// "flag on 312/s · flag off 20/s": each line's value at `at`, or its latest.
fn reading(lines: &[Line], unit: Unit, at: Option<i64>) -> String {
    lines
        .iter()
        .filter_map(|line| {
            let (_, value) = match at {
                Some(at) => nearest(line, at)?,
                None => *line.points.last()?,
            };
            Some(format!("{} {}", line.label, unit.format(value)))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// "6 h ago", for the time axis.
fn ago(at: i64, now: DateTime<Utc>) -> String {
    DateTime::from_timestamp(at, 0).map_or_else(String::new, |at| relative(at, now))
}

/// A chart that reads out the value under the pointer: an island, sent with its data.
#[island]
pub fn TimeChart(
    chart: Chart,
    axis: Axis,
    markers: Vec<Marker>,
    /// The server's clock when the data was read.
    now: DateTime<Utc>,
) -> impl IntoView {
    let top = ceiling(&chart.lines);
    let unit = chart.unit;
    let hovered = RwSignal::new(None::<i64>);
    let svg_ref = NodeRef::<leptos::svg::Svg>::new();
    let lines = chart.lines.clone();
    let cursor_step = lines
        .first()
        .and_then(|line| line.points.windows(2).next().map(|w| w[1].0 - w[0].0))
        .unwrap_or(60)
        .max(1);
    let move_to = move |client_x: f64| {
        let Some(svg) = svg_ref.get_untracked() else {
            return;
        };
        let rect = svg.get_bounding_client_rect();
        if rect.width() > 0.0 {
            hovered.set(Some(axis.at((client_x - rect.left()) / rect.width())));
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let from = hovered.get_untracked().unwrap_or(axis.until);
        let to = match ev.key().as_str() {
            "ArrowLeft" => from - cursor_step,
            "ArrowRight" => from + cursor_step,
            "Home" => axis.from,
            "End" => axis.until,
            "Escape" => {
                hovered.set(None);
                return;
            }
            _ => return,
        };
        ev.prevent_default();
        hovered.set(Some(to.clamp(axis.from, axis.until)));
    };
    let summary = format!(
        "{}, latest: {}",
        chart.title,
        reading(&chart.lines, unit, None)
    );
    let readout = {
        let lines = lines.clone();
        move || {
            let at = hovered.get();
            let when = at.map_or_else(|| "latest".to_owned(), |at| ago(at, now));
            format!("{when}: {}", reading(&lines, unit, at))
        }
    };
    let cursor = move || {
        hovered.get().map(|at| {
            let x = format!("{:.1}", axis.x(at));
            view! {
                <line class="chart__cursor" x1=x.clone() x2=x y1=TOP y2=BOTTOM></line>
            }
        })
    };
    let grid = [0.0, 0.5, 1.0]
        .into_iter()
        .map(|share| {
            let y = format!("{:.1}", y(top * share, top));
            view! {
                <line class="chart__grid" x1=LEFT x2=RIGHT y1=y.clone() y2=y.clone()></line>
                <text class="chart__label" x=LEFT - 6.0 y=y text-anchor="end" dy="4">
                    {unit.tick(top * share)}
                </text>
            }
        })
        .collect_view();
    let marks = markers
        .into_iter()
        .map(|marker| {
            let x = format!("{:.1}", axis.x(marker.at.timestamp()));
            view! {
                <line class="chart__marker" x1=x.clone() x2=x.clone() y1=TOP - 6.0 y2=BOTTOM></line>
                <text class="chart__label chart__marker-label" x=x dx="3" y=TOP - 8.0>
                    {marker.label}
                </text>
            }
        })
        .collect_view();
    let paths = chart
        .lines
        .iter()
        .enumerate()
        .flat_map(|(index, line)| {
            polylines(line, axis, top).into_iter().map(move |points| {
                view! {
                    <polyline class=format!("chart__line chart__line--{index}") points=points></polyline>
                }
            })
        })
        .collect_view();
    let legend = chart
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            view! {
                <span class="chart__key">
                    <span class=format!("chart__swatch chart__line--{index}") aria-hidden="true"></span>
                    {line.label.clone()}
                </span>
            }
        })
        .collect_view();
    let start_label = ago(axis.from, now);
    view! {
        <figure class="chart" data-chart=chart.key.clone()>
            <figcaption class="chart__head">
                <span class="chart__title">{chart.title.clone()}</span>
                {chart
                    .link
                    .clone()
                    .map(|link| {
                        view! {
                            <a class="chart__link" href=link.url title=link.label>
                                "Grafana ↗"
                            </a>
                        }
                    })}
            </figcaption>
            <div class="chart__legend">{legend}</div>
            <svg
                node_ref=svg_ref
                class="chart__plot"
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img"
                aria-label=summary
                tabindex="0"
                on:pointermove=move |ev| move_to(f64::from(ev.client_x()))
                on:pointerleave=move |_| hovered.set(None)
                on:keydown=on_key
                on:blur=move |_| hovered.set(None)
            >
                {grid}
                {marks}
                {paths}
                {cursor}
                <text class="chart__label" x=LEFT y=HEIGHT - 6.0>
                    {start_label}
                </text>
                <text class="chart__label" x=RIGHT y=HEIGHT - 6.0 text-anchor="end">
                    "now"
                </text>
            </svg>
            <p class="chart__readout" aria-live="polite">
                {readout}
            </p>
        </figure>
    }
}

/// A chart that has no lines: why, and where to look instead.
#[component]
pub fn ChartMessage(chart: Chart) -> impl IntoView {
    let message = chart
        .unavailable
        .clone()
        .unwrap_or_else(|| "No data in this window.".to_owned());
    view! {
        <figure class="chart chart--empty" data-chart=chart.key.clone()>
            <figcaption class="chart__head">
                <span class="chart__title">{chart.title.clone()}</span>
                {chart
                    .link
                    .clone()
                    .map(|link| {
                        view! {
                            <a class="chart__link" href=link.url title=link.label>
                                "Grafana ↗"
                            </a>
                        }
                    })}
            </figcaption>
            <p class="chart__message" role="status">
                {message}
            </p>
        </figure>
    }
}

/// A sparkline's plot, in the units of its SVG: twice its size on the page, so that whole units
/// are half a pixel.
const SPARK_WIDTH: i64 = 192;
const SPARK_HEIGHT: i64 = 44;

/// A day of a value in a table cell: the line, and the latest value in words beside it. The
/// scale reaches at least `floor`, so the usual noise of a healthy value stays a flat line and
/// a real rise stands out from row to row.
#[component]
pub fn Sparkline(points: Vec<f64>, unit: Unit, floor: f64, label: String) -> impl IntoView {
    let top = points
        .iter()
        .copied()
        .fold(floor, f64::max)
        .max(f64::EPSILON);
    let line = spark_path(&points, top);
    let latest = points.last().map(|value| unit.format(*value));
    let description = match &latest {
        Some(latest) => format!("{label}, latest {latest}"),
        None => format!("{label}: no data"),
    };
    view! {
        <span class="sparkline">
            <svg
                class="sparkline__plot"
                viewBox=format!("0 0 {SPARK_WIDTH} {SPARK_HEIGHT}")
                role="img"
                aria-label=description
            >
                <path d=line></path>
            </svg>
            <span class="sparkline__value">{latest.unwrap_or_else(|| "–".to_owned())}</span>
        </span>
    }
}

/// `points`, evenly spread across the plot and scaled to `top`, as a path of whole units each
/// relative to the one before: "M0 35l4-1 4 2…". Two hundred sparklines are a third of the
/// portfolio's HTML, and this is about half the bytes of the points written out whole.
fn spark_path(points: &[f64], top: f64) -> String {
    let count = points.len().max(2) as i64 - 1;
    let mut path = String::with_capacity(points.len() * 5);
    let mut previous: Option<(i64, i64)> = None;
    for (index, value) in points.iter().enumerate() {
        let x = index as i64 * SPARK_WIDTH / count;
        let y = SPARK_HEIGHT - 2 - (value / top * (SPARK_HEIGHT - 4) as f64).round() as i64;
        match previous {
            None => {
                path.push('M');
                push_integer(&mut path, x);
                path.push(' ');
                push_integer(&mut path, y);
            }
            Some((last_x, last_y)) => {
                path.push(if index == 1 { 'l' } else { ' ' });
                push_integer(&mut path, x - last_x);
                // A minus sign parts two numbers as well as a space does.
                if y >= last_y {
                    path.push(' ');
                }
                push_integer(&mut path, y - last_y);
            }
        }
        previous = Some((x, y));
    }
    path
}

fn push_integer(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    push_digits(out, value.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(points: &[(i64, f64)]) -> Line {
        Line {
            label: "calls".to_owned(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn the_value_axis_ends_at_a_round_number_above_the_data() {
        assert_eq!(ceiling(&[line(&[(0, 0.0), (60, 312.0)])]), 500.0);
        assert_eq!(ceiling(&[line(&[(0, 0.0041)])]), 0.005);
        assert_eq!(ceiling(&[line(&[(0, 0.0)])]), 1.0);
        assert_eq!(ceiling(&[]), 1.0);
    }

    #[test]
    fn points_are_written_to_a_tenth_as_float_formatting_would_without_a_zero_tenth() {
        for (x, y, expected) in [
            (0.0, 17.34, "0,17.3"),
            (95.96, 0.05, "96,0.1"),
            (433.999, 146.0, "434,146"),
            (-2.36, 12.25, "-2.4,12.3"),
            (2.0, 0.0, "2,0"),
        ] {
            let mut written = String::new();
            push_point(&mut written, x, y);
            let tenth = |v: f64| {
                let text = format!("{:.1}", (v * 10.0).round() / 10.0);
                text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
            };
            assert_eq!(written, format!("{},{}", tenth(x), tenth(y)));
            assert_eq!(written, expected);
        }
    }

    #[test]
    fn a_sparkline_is_a_path_of_whole_steps_each_from_the_last() {
        // Three points over the plot's width: x 0, 96, 192; y from the bottom (42) up to 2.
        assert_eq!(spark_path(&[0.0, 1.0, 0.5], 1.0), "M0 42l96-40 96 20");
        assert_eq!(spark_path(&[0.5], 1.0), "M0 22");
        assert_eq!(spark_path(&[], 1.0), "");
    }

    #[test]
    fn a_gap_in_the_data_breaks_the_line() {
        let axis = Axis {
            from: 0,
            until: 600,
        };
        let runs = polylines(
            &line(&[(0, 1.0), (60, 1.0), (120, 1.0), (480, 1.0), (540, 1.0)]),
            axis,
            2.0,
        );
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0].split(' ').count(), 3);
    }

    #[test]
    fn the_reading_is_the_nearest_point_or_the_latest() {
        let lines = [line(&[(0, 10.0), (60, 20.0), (120, 30.0)])];
        assert_eq!(reading(&lines, Unit::PerSecond, None), "calls 30.0/s");
        assert_eq!(reading(&lines, Unit::PerSecond, Some(70)), "calls 20.0/s");
        let axis = Axis {
            from: 1000,
            until: 2000,
        };
        assert_eq!(axis.at(LEFT / WIDTH), 1000);
        assert_eq!(axis.at(1.0), 2000);
    }
}
