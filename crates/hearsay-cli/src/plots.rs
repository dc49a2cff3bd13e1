//! Figures of a run: the overlay's degree distribution (§7, §8: preferential attachment should
//! give a power law) and the delivery latency of gossip (§11), each written as an 800×600 SVG
//! and PNG.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (`assets/DejaVuSans.ttf`, licence in
//! `assets/DejaVuSans-LICENSE.txt`), so plotting needs no system fonts or fontconfig. The SVGs
//! name the `sans-serif` family and leave the glyphs to the viewer.
//!
//! Empty input is not an error: every function still writes its files, with the same title and
//! axes and a "no data" line under the title, so a caller always gets the paths it expects.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, Context};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Width and height of every plot, in pixels.
const SIZE: (u32, u32) = (800, 600);
/// The family every text style names; the embedded font is registered under it.
const FONT: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// A fitted power law line to draw on the CCDF: model CCDF values at given x.
#[derive(Debug, Clone, PartialEq)]
pub struct FitLine {
    /// The exponent of the power law.
    pub alpha: f64,
    /// The smallest degree the fit covers.
    pub x_min: u64,
    /// The model's P(X ≥ x) at each x. Points with x = 0, with a value that is not a positive
    /// number within 1e±100, or beyond the x axis (the degrees observed, with a little room)
    /// are not drawn.
    pub points: Vec<(u64, f64)>,
}

impl FitLine {
    /// The legend entry, e.g. `α = 2.41, x_min = 3`.
    fn label(&self) -> String {
        format!("α = {:.2}, x_min = {}", self.alpha, self.x_min)
    }
}

/// Writes `<stem>.svg` and `<stem>.png` (both) for each plot into `dir`; returns the paths written.
///
/// The plots are `degree-histogram` (how many peers have each degree) and `degree-ccdf`
/// (P(X ≥ x), with `fit` drawn over it when given), both log-log. Degree 0 cannot sit on a log
/// axis: such peers count towards the CCDF's denominator but are not drawn, and the line under
/// the title says how many there were. With no degree ≥ 1 the plots say "no data".
/// `dir` is created if missing.
pub fn degree_plots(
    dir: &Path,
    degrees: &[u64],
    fit: Option<&FitLine>,
) -> anyhow::Result<Vec<PathBuf>> {
    let note = degree_note(degrees);
    let histogram = LogLog {
        title: "Degree histogram",
        x_desc: "degree",
        y_desc: "number of peers",
        note: note.clone(),
        points: histogram(degrees)
            .into_iter()
            .filter(|&(degree, _)| degree > 0)
            .map(|(degree, count)| (degree as f64, count as f64))
            .collect(),
        points_label: None,
        fit: None,
        empty_y: (1.0, 100.0),
    };
    let ccdf = LogLog {
        title: "Degree CCDF",
        x_desc: "degree x",
        y_desc: "P(X ≥ x)",
        note,
        points: ccdf(degrees)
            .into_iter()
            .filter(|&(degree, _)| degree > 0)
            .map(|(degree, share)| (degree as f64, share))
            .collect(),
        points_label: Some("peers"),
        fit: fit.map(|fit| {
            let points = fit
                .points
                .iter()
                .map(|&(x, y)| (x as f64, y))
                .filter(|&(x, y)| on_log_axis(x) && on_log_axis(y))
                .collect();
            (fit.label(), points)
        }),
        empty_y: (0.01, 1.0),
    };
    let mut written = write(dir, "degree-histogram", &histogram)?;
    written.extend(write(dir, "degree-ccdf", &ccdf)?);
    Ok(written)
}

/// Writes `latency-cdf.svg` and `latency-cdf.png` into `dir`; returns the paths written.
///
/// The plot is the empirical CDF of delivery latency (x: ms, linear; y: fraction of deliveries
/// 0..1), with p50 and p99 drawn as vertical lines, named in the legend and in the line under
/// the title. Percentiles are the nearest rank `sorted[round((p/100)·(n−1))]`, as
/// `scripts/gossip_figures.py` prints them. With no latencies the plot says "no data".
/// `dir` is created if missing.
pub fn latency_cdf(dir: &Path, latencies_ms: &[u64]) -> anyhow::Result<Vec<PathBuf>> {
    let mut sorted = latencies_ms.to_vec();
    sorted.sort_unstable();
    let marks = match (percentile(&sorted, 50), percentile(&sorted, 99)) {
        (Some(p50), Some(p99)) => vec![
            (format!("p50 = {p50} ms"), p50),
            (format!("p99 = {p99} ms"), p99),
        ],
        _ => Vec::new(),
    };
    let note = match sorted.last() {
        None => "no data".to_string(),
        Some(max) => {
            let marks: Vec<&str> = marks.iter().map(|(label, _)| label.as_str()).collect();
            format!(
                "{} deliveries · {} · max = {max} ms",
                sorted.len(),
                marks.join(" · ")
            )
        }
    };
    let plot = LatencyCdf {
        steps: ecdf(&sorted),
        marks,
        note,
    };
    write(dir, "latency-cdf", &plot)
}

/// Writes `coverage-over-time.svg` and `.png` into `dir`; returns the paths written.
///
/// `per_message` holds, per message, when it was generated (ms from the start), the
/// deliveries it owed and those made. The plot shows, for the messages generated in each
/// second, the share of their owed deliveries made, with the fault window (`faults`, in ms)
/// marked. With no messages the plot says "no data".
pub fn coverage_over_time(
    dir: &Path,
    per_message: &[(u64, u32, u32)],
    faults: Option<(u64, u64)>,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut buckets: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for &(born, owed, made) in per_message {
        let b = buckets.entry(born / 1000).or_default();
        (b.0, b.1) = (b.0 + u64::from(owed), b.1 + u64::from(made));
    }
    let points: Vec<(f64, f64)> = (buckets.into_iter())
        .filter(|(_, (owed, _))| *owed > 0)
        .map(|(s, (owed, made))| (s as f64, made as f64 / owed as f64))
        .collect();
    let (owed, made) = per_message.iter().fold((0u64, 0u64), |(o, m), x| {
        (o + u64::from(x.1), m + u64::from(x.2))
    });
    let note = if owed == 0 {
        "no data".to_string()
    } else {
        format!(
            "{} messages · coverage {:.4} overall · by second of generation",
            per_message.len(),
            made as f64 / owed as f64
        )
    };
    let plot = Coverage {
        points,
        faults: faults.map(|(a, b)| (a as f64 / 1000.0, b as f64 / 1000.0)),
        note,
    };
    write(dir, "coverage-over-time", &plot)
}

/// Coverage by second of generation, with the fault window.
struct Coverage {
    points: Vec<(f64, f64)>,
    faults: Option<(f64, f64)>,
    note: String,
}

impl Plot for Coverage {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let area = titled(root, "Gossip coverage over time", &self.note)?;
        let max = (self.points.iter().map(|p| p.0))
            .chain(self.faults.map(|f| f.1))
            .fold(10.0_f64, f64::max);
        let low = self.points.iter().map(|p| p.1).fold(1.0_f64, f64::min);
        let y_low = (low - 0.05).clamp(0.0, 0.95);
        let mut chart = ChartBuilder::on(&area)
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..max * 1.05, y_low..1.01)?;
        chart
            .configure_mesh()
            .x_desc("generated at (s of virtual time)")
            .y_desc("share of owed deliveries made")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 14))
            .draw()?;
        chart
            .draw_series(LineSeries::new(self.points.clone(), BLUE.stroke_width(2)))?
            .label("coverage")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        if let Some((a, b)) = self.faults {
            let colour = RED.mix(0.8);
            for (x, label) in [(a, "faults begin"), (b, "faults end")] {
                chart
                    .draw_series(LineSeries::new(
                        [(x, y_low), (x, 1.0)],
                        colour.stroke_width(2),
                    ))?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                    });
            }
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

/// The line under the degree plots' titles.
fn degree_note(degrees: &[u64]) -> String {
    let zeros = degrees.iter().filter(|&&d| d == 0).count();
    match (degrees.iter().min(), degrees.iter().max()) {
        (None, _) | (_, None) => "no data".to_string(),
        (_, Some(0)) => format!("no data: all {zeros} peers have degree 0"),
        (Some(min), Some(max)) => {
            let mut note = format!("{} peers, degree {min}–{max}", degrees.len());
            if zeros > 0 {
                note.push_str(&format!(", {zeros} with degree 0 not shown"));
            }
            note
        }
    }
}

/// How many times each degree occurs, by degree.
fn histogram(degrees: &[u64]) -> BTreeMap<u64, u64> {
    let mut counts = BTreeMap::new();
    for &degree in degrees {
        *counts.entry(degree).or_insert(0) += 1;
    }
    counts
}

/// P(X ≥ x) for each distinct x in the sample, ascending.
fn ccdf(degrees: &[u64]) -> Vec<(u64, f64)> {
    let n = degrees.len() as f64;
    let mut at_least = degrees.len() as u64;
    histogram(degrees)
        .into_iter()
        .map(|(degree, count)| {
            let point = (degree, at_least as f64 / n);
            at_least -= count;
            point
        })
        .collect()
}

/// P(X ≤ x) for each distinct x of an ascending sample, ascending.
fn ecdf(sorted: &[u64]) -> Vec<(u64, f64)> {
    let n = sorted.len() as f64;
    let mut steps: Vec<(u64, f64)> = Vec::new();
    for (i, &x) in sorted.iter().enumerate() {
        let share = (i + 1) as f64 / n;
        match steps.last_mut() {
            Some(last) if last.0 == x => last.1 = share,
            _ => steps.push((x, share)),
        }
    }
    steps
}

/// The nearest-rank `p`th percentile of an ascending sample; `None` when it is empty.
fn percentile(sorted: &[u64], p: u8) -> Option<u64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (f64::from(p) / 100.0 * last as f64).round_ties_even() as usize;
    sorted.get(rank.min(last)).copied()
}

/// Something that draws itself on any plotters backend, so one description gives SVG and PNG.
trait Plot {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Draws `plot` into `<dir>/<stem>.svg` and `<dir>/<stem>.png`.
fn write(dir: &Path, stem: &str, plot: &impl Plot) -> anyhow::Result<Vec<PathBuf>> {
    register_font()?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let svg = dir.join(format!("{stem}.svg"));
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        plot.draw(&root)
            .and_then(|()| root.present())
            .map_err(|e| anyhow!("cannot write {}: {e}", svg.display()))?;
    }
    let png = dir.join(format!("{stem}.png"));
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        plot.draw(&root)
            .and_then(|()| root.present())
            .map_err(|e| anyhow!("cannot write {}: {e}", png.display()))?;
    }
    Ok(vec![svg, png])
}

/// Registers the embedded font with plotters, once per process. Without the `ttf` feature
/// plotters finds no font of its own, and every text fails with `FontUnavailable`.
fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded font DejaVuSans.ttf does not parse"))
    }
}

/// A log-log scatter plot, with an optional line over it.
struct LogLog {
    title: &'static str,
    x_desc: &'static str,
    y_desc: &'static str,
    /// The line under the title.
    note: String,
    /// Only positive x and y; anything else has no place on a log axis.
    points: Vec<(f64, f64)>,
    /// The legend entry for the points. There is a legend when this or `fit` is set and
    /// something is drawn.
    points_label: Option<&'static str>,
    /// The legend entry and the points of a line.
    fit: Option<(String, Vec<(f64, f64)>)>,
    /// The y span to show when there is nothing to draw.
    empty_y: (f64, f64),
}

impl Plot for LogLog {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let area = titled(root, self.title, &self.note)?;
        let x_range = log_range(self.points.iter().map(|p| p.0), (1.0, 100.0));
        // The fit is drawn over the x axis the data sets, so its tail cannot squash the data.
        let fit = self.fit.as_ref().map(|(label, points)| {
            let inside: Vec<(f64, f64)> = points
                .iter()
                .copied()
                .filter(|p| x_range.contains(&p.0))
                .collect();
            (label, inside)
        });
        let fit_ys = fit
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.1));
        let y_range = log_range(self.points.iter().map(|p| p.1).chain(fit_ys), self.empty_y);

        let mut chart = ChartBuilder::on(&area)
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range.log_scale(), y_range.log_scale())?;
        let (x_ticks, y_ticks) = (LogTicks::default(), LogTicks::default());
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .x_label_formatter(&|v| x_ticks.label(*v))
            .y_label_formatter(&|v| y_ticks.label(*v))
            // plotters' minor lines on a log axis crowd towards each decade's end.
            .max_light_lines(1)
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 14))
            .draw()?;

        let drawn = !self.points.is_empty() || fit.as_ref().is_some_and(|f| !f.1.is_empty());
        let dots = chart.draw_series(
            self.points
                .iter()
                .map(|&p| Circle::new(p, 4, BLUE.mix(0.7).filled())),
        )?;
        if let Some(label) = self.points_label {
            dots.label(label)
                .legend(|(x, y)| Circle::new((x + 10, y), 4, BLUE.mix(0.7).filled()));
        }
        if let Some((label, points)) = fit {
            chart
                .draw_series(LineSeries::new(points, RED.stroke_width(2)))?
                .label(label.as_str())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        }
        if drawn && (self.points_label.is_some() || self.fit.is_some()) {
            // The CCDF falls from upper left to lower right, leaving the lower left empty.
            legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        }
        Ok(())
    }
}

/// A step plot of an empirical CDF, with percentile lines.
struct LatencyCdf {
    /// (latency ms, P(X ≤ latency)), ascending.
    steps: Vec<(u64, f64)>,
    /// Legend entry and position of each vertical line.
    marks: Vec<(String, u64)>,
    /// The line under the title.
    note: String,
}

impl Plot for LatencyCdf {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let area = titled(root, "Delivery latency CDF", &self.note)?;
        let max = self.steps.last().map_or(0.0, |s| s.0 as f64);
        let x_range = 0.0..(max * 1.05).max(10.0);

        let mut chart = ChartBuilder::on(&area)
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            // A little above 1, so the top of the CDF does not vanish into the frame.
            .build_cartesian_2d(x_range, 0.0..1.02)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .y_desc("fraction of deliveries")
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 14))
            .draw()?;

        // Each step rises at its x, from the previous share to its own.
        let mut line = Vec::with_capacity(self.steps.len() * 2 + 1);
        let mut below = 0.0;
        for &(x, share) in &self.steps {
            line.push((x as f64, below));
            line.push((x as f64, share));
            below = share;
        }
        if !line.is_empty() {
            line.push((max * 1.05, 1.0));
        }
        chart
            .draw_series(LineSeries::new(line, BLUE.stroke_width(2)))?
            .label("CDF")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        let colours = [GREEN.mix(0.8), RED.mix(0.8)];
        for ((label, at), colour) in self.marks.iter().zip(colours) {
            let x = *at as f64;
            chart
                .draw_series(LineSeries::new(
                    [(x, 0.0), (x, 1.0)],
                    colour.stroke_width(2),
                ))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        // The CDF rises from lower left to upper right, leaving the lower right empty.
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

/// Fills `root` white and writes the title and, under it, the note; returns the area left.
fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    root.titled(title, (FONT, 28))?.titled(note, (FONT, 16))
}

/// Draws the series labels at `position`, which the caller knows the data leaves free.
fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// Whether a log axis can show `v`. The bounds keep the axis's ends finite and non-zero, so
/// plotters' walk over the decades ends.
fn on_log_axis(v: f64) -> bool {
    (1e-100..=1e100).contains(&v)
}

/// A log axis spanning the `values` it can show, or `empty` when there are none, with room
/// either side.
fn log_range(values: impl Iterator<Item = f64>, empty: (f64, f64)) -> Range<f64> {
    let (lo, hi) = values
        .filter(|&v| on_log_axis(v))
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .unwrap_or(empty);
    lo / 1.5..hi * 1.5
}

/// Labels the ticks of one log axis, in the order plotters asks for them.
#[derive(Default)]
struct LogTicks {
    last: std::cell::Cell<Option<f64>>,
}

impl LogTicks {
    /// The label of `v`, or an empty one when `v` repeats the tick before it: plotters 0.3.7
    /// lists each decade twice when it adds in-between ticks (1, 2, … 9, 10, 10, 20, …), and
    /// the label drawn twice comes out bold.
    fn label(&self, v: f64) -> String {
        if self.last.replace(Some(v)) == Some(v) {
            String::new()
        } else {
            tick(v)
        }
    }
}

/// A tick label on a log axis: whole numbers from 1 up, just enough decimals below.
fn tick(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        let decimals = (-v.log10()).ceil().clamp(1.0, 12.0) as usize;
        format!("{v:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The width and height a PNG's IHDR declares, after checking it decodes in full.
    fn png_size(path: &Path) -> (u32, u32) {
        let file = std::fs::File::open(path).expect("png exists");
        let mut reader = png::Decoder::new(file).read_info().expect("png header");
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).expect("png pixels");
        let pixel = info.line_size / info.width as usize;
        let first = &pixels[..pixel];
        assert!(
            pixels.chunks_exact(pixel).any(|px| px != first),
            "{} is one flat colour",
            path.display()
        );
        (info.width, info.height)
    }

    /// The contents of the SVG's `<text>` elements, after checking it is a whole document.
    fn svg_texts(path: &Path) -> Vec<String> {
        let svg = std::fs::read_to_string(path).expect("svg exists");
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "{svg:.80}"
        );
        assert!(
            svg.trim_end().ends_with("</svg>"),
            "{} is cut short",
            path.display()
        );
        svg.split("<text")
            .skip(1)
            .filter_map(|element| {
                let body = &element[element.find('>')? + 1..];
                Some(body[..body.find("</text>")?].trim().to_string())
            })
            .collect()
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| {
                p.file_name()
                    .expect("a file")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn degree_plots_write_an_svg_and_a_png_of_each_plot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let degrees: Vec<u64> = (1..=300u64).map(|i| 1 + 600 / (i * i) % 40).collect();
        let fit = FitLine {
            alpha: 2.41,
            x_min: 3,
            points: (3..=40)
                .map(|x| (x, (x as f64 / 3.0).powf(-1.41) * 0.4))
                .collect(),
        };
        let paths = degree_plots(dir.path(), &degrees, Some(&fit)).expect("plots");

        assert_eq!(
            names(&paths),
            [
                "degree-histogram.svg",
                "degree-histogram.png",
                "degree-ccdf.svg",
                "degree-ccdf.png"
            ]
        );
        for path in &paths {
            assert!(path.starts_with(dir.path()), "{}", path.display());
            if path.extension().is_some_and(|e| e == "png") {
                assert_eq!(png_size(path), SIZE);
            } else {
                let texts = svg_texts(path);
                assert!(texts.iter().any(|t| t.contains("degree")), "{texts:?}");
            }
        }
        let ccdf = svg_texts(&dir.path().join("degree-ccdf.svg"));
        assert!(ccdf.iter().any(|t| t == "α = 2.41, x_min = 3"), "{ccdf:?}");
    }

    #[test]
    fn latency_cdf_writes_an_svg_and_a_png_with_p50_and_p99() {
        let dir = tempfile::tempdir().expect("temp dir");
        let latencies: Vec<u64> = (1..=100).collect();
        let paths = latency_cdf(dir.path(), &latencies).expect("plot");

        assert_eq!(names(&paths), ["latency-cdf.svg", "latency-cdf.png"]);
        assert_eq!(png_size(&paths[1]), SIZE);
        let texts = svg_texts(&paths[0]);
        assert!(texts.iter().any(|t| t == "latency (ms)"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "p50 = 51 ms"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "p99 = 99 ms"), "{texts:?}");
    }

    #[test]
    fn empty_input_still_writes_every_plot_saying_no_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fit = FitLine {
            alpha: f64::NAN,
            x_min: 0,
            points: vec![(0, 1.0), (2, -1.0)],
        };
        let mut paths = degree_plots(dir.path(), &[], Some(&fit)).expect("degree plots");
        paths.extend(latency_cdf(dir.path(), &[]).expect("latency plot"));

        assert_eq!(paths.len(), 6);
        for svg in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        {
            let texts = svg_texts(svg);
            assert!(
                texts.iter().any(|t| t == "no data"),
                "{}: {texts:?}",
                svg.display()
            );
        }
        for png in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
        {
            assert_eq!(png_size(png), SIZE);
        }
    }

    #[test]
    fn peers_of_degree_zero_alone_give_no_data_and_otherwise_are_counted_but_not_drawn() {
        assert_eq!(degree_note(&[0, 0]), "no data: all 2 peers have degree 0");
        assert_eq!(
            degree_note(&[0, 2, 5]),
            "3 peers, degree 0–5, 1 with degree 0 not shown"
        );
        assert_eq!(degree_note(&[2, 5]), "2 peers, degree 2–5");

        let dir = tempfile::tempdir().expect("temp dir");
        let paths = degree_plots(dir.path(), &[0, 0, 0], None).expect("plots");
        assert_eq!(paths.len(), 4);
    }

    #[test]
    fn fit_points_no_log_axis_can_show_are_left_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fit = FitLine {
            alpha: 2.0,
            x_min: 1,
            points: vec![(1, 1e-300), (2, f64::MAX), (3, f64::INFINITY), (4, 0.5)],
        };
        let paths = degree_plots(dir.path(), &[1, 2, 4], Some(&fit)).expect("plots");
        let texts = svg_texts(&paths[2]);
        assert!(
            texts.iter().any(|t| t == "α = 2.00, x_min = 1"),
            "{texts:?}"
        );
        // The y axis spans the data and the one fit point it can show, not 1e-300..1e308.
        assert!(!texts.iter().any(|t| t.starts_with("0.0000")), "{texts:?}");
    }

    #[test]
    fn ccdf_starts_at_one_and_falls_by_each_degree_share() {
        assert_eq!(ccdf(&[3, 1, 1, 2]), [(1, 1.0), (2, 0.5), (3, 0.25)]);
        assert_eq!(ccdf(&[]), []);
    }

    #[test]
    fn ecdf_reaches_one_at_the_largest_latency() {
        assert_eq!(ecdf(&[5, 5, 7, 9]), [(5, 0.5), (7, 0.75), (9, 1.0)]);
        assert_eq!(ecdf(&[]), []);
    }

    #[test]
    fn percentiles_are_nearest_rank_as_the_figures_script_prints_them() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50), Some(51)); // round(49.5) = 50 (ties to even)
        assert_eq!(percentile(&sorted, 99), Some(99)); // round(98.01) = 98
        assert_eq!(percentile(&[4, 8], 50), Some(4)); // round(0.5) = 0, as Python rounds
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn log_ticks_show_whole_numbers_and_just_enough_decimals() {
        assert_eq!(tick(100.0), "100");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(0.05), "0.05");
        assert_eq!(tick(0.0010000000000000002), "0.001");
    }

    #[test]
    fn a_decade_listed_twice_is_labelled_once() {
        let ticks = LogTicks::default();
        let labels: Vec<String> = [9.0, 10.0, 10.0, 20.0].map(|v| ticks.label(v)).into();
        assert_eq!(labels, ["9", "10", "", "20"]);
    }

    #[test]
    fn a_log_axis_without_positive_values_spans_the_empty_default_with_room() {
        assert_eq!(
            log_range(
                [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300].into_iter(),
                (1.0, 10.0)
            ),
            1.0 / 1.5..15.0
        );
        assert_eq!(
            log_range([2.0, 8.0].into_iter(), (1.0, 10.0)),
            2.0 / 1.5..12.0
        );
    }
}
