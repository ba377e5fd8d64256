//! Charts for reports and ablations, drawn with `plotters`: line charts (loss, recall curves,
//! learning curves with a band per series — the 95 % confidence interval over seeds) and bar
//! charts with error bars (firing rates, ablation metrics). Each is written as a PNG (plotters'
//! bitmap backend, anti-aliased) and an SVG. Text is DejaVu Sans from the `dejavu` crate,
//! registered with plotters' `ab_glyph` loader, so no system font or fontconfig is needed.
//! [`draw_text`] and [`draw_line`] put the same text and lines on pictures (the example
//! sheets).

use std::path::Path;
use std::sync::Once;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::cli::run_error::{io_at, RunError};

/// Series colours (colour-blind-safe Okabe–Ito palette).
pub const PALETTE: [[u8; 3]; 8] = [[0, 114, 178], [213, 94, 0], [0, 158, 115], [204, 121, 167], [230, 159, 0], [86, 180, 233], [240, 228, 66], [0, 0, 0]];

/// The chart size in pixels (PNG) and user units (SVG).
pub const SIZE: (u32, u32) = (800, 460);

/// The font family every chart uses: DejaVu Sans, registered once.
const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped inside the `dejavu` crate.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

fn colour(k: usize) -> RGBColor {
    let [r, g, b] = PALETTE[k % PALETTE.len()];
    RGBColor(r, g, b)
}

fn failed(what: &str, e: impl std::fmt::Display) -> RunError {
    RunError::Io { path: what.into(), source: std::io::Error::other(e.to_string()) }
}

/// One named line, optionally with a band (e.g. the 95 % CI over seeds) around it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// `(x, y)` points in order.
    pub points: Vec<(f64, f64)>,
    /// `(x, low, high)` of a shaded band, in order; empty draws none.
    pub band: Vec<(f64, f64, f64)>,
}

impl Series {
    /// A line without a band.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { name: name.into(), points, band: vec![] }
    }
}

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Lines.
    pub series: Vec<Series>,
    /// Fixed y range (else the data's, bands included).
    pub y_range: Option<(f64, f64)>,
}

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Height; NaN (no data) draws the label alone, no bar and no value.
    pub value: f64,
    /// Half-length of the error bar (e.g. a 95 % confidence half-width), if any.
    pub error: Option<f64>,
}

/// A bar chart with optional error bars.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Title.
    pub title: String,
    /// Y axis label.
    pub y_label: String,
    /// Bars, left to right.
    pub bars: Vec<Bar>,
}

/// A chart plotters can draw on any backend.
pub trait Chart {
    /// Draws the chart on `area`.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// A tick value as a reader writes it: `300`, `0.25`, `1e-4`.
fn tick_label(v: &f64) -> String {
    let v = *v;
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.0e}")
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

impl LineChart {
    /// The x and y ranges the chart shows.
    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let (mut x, mut y) = ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN));
        let band = self.series.iter().flat_map(|s| s.band.iter().flat_map(|&(bx, lo, hi)| [(bx, lo), (bx, hi)]));
        for (px, py) in self.series.iter().flat_map(|s| s.points.iter().copied()).chain(band).filter(finite) {
            x = (x.0.min(px), x.1.max(px));
            y = (y.0.min(py), y.1.max(py));
        }
        if x.0 > x.1 {
            (x, y) = ((0.0, 1.0), (0.0, 1.0));
        }
        if x.1 - x.0 < 1e-12 {
            x = (x.0 - 1.0, x.1 + 1.0);
        }
        let y = self.y_range.unwrap_or_else(|| {
            let pad = (y.1 - y.0).max(1e-6) * 0.05;
            ((y.0 - pad).min(if y.0 >= 0.0 { 0.0 } else { y.0 - pad }), y.1 + pad)
        });
        (x, y)
    }
}

impl LineChart {
    /// The legend's corner: away from where the lines end (lower right when they end high,
    /// as rising recall curves do; upper right when they end low, as losses do).
    fn legend_position(&self, (y0, y1): (f64, f64)) -> SeriesLabelPosition {
        let ends: Vec<f64> = self.series.iter().filter_map(|s| s.points.iter().rev().find(|p| finite(p)).map(|p| p.1)).collect();
        let mean = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
        if !ends.is_empty() && mean > (y0 + y1) / 2.0 {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        }
    }
}

impl Chart for LineChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        area.fill(&WHITE).map_err(e)?;
        let ((x0, x1), (y0, y1)) = self.ranges();
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FONT, 20))
            .margin(14)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&tick_label)
            .y_label_formatter(&tick_label)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(e)?;
        for (k, s) in self.series.iter().enumerate() {
            let c = colour(k);
            let band: Vec<(f64, f64, f64)> = s.band.iter().copied().filter(|b| b.0.is_finite() && b.1.is_finite() && b.2.is_finite()).collect();
            if band.len() >= 2 {
                let outline: Vec<(f64, f64)> = band.iter().map(|b| (b.0, b.2)).chain(band.iter().rev().map(|b| (b.0, b.1))).collect();
                chart.draw_series(std::iter::once(Polygon::new(outline, c.mix(0.18).filled()))).map_err(e)?;
            }
            let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(finite).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(e)?
                .label(&s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3)));
            if pts.len() <= 30 {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(e)?;
            }
        }
        if !self.series.is_empty() {
            chart
                .configure_series_labels()
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .position(self.legend_position((y0, y1)))
                .draw()
                .map_err(e)?;
        }
        Ok(())
    }
}

impl Chart for BarChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        area.fill(&WHITE).map_err(e)?;
        let shown = self.bars.iter().filter(|b| b.value.is_finite());
        let top = shown.clone().map(|b| b.value + b.error.unwrap_or(0.0)).fold(0.0f64, f64::max);
        let bottom = shown.map(|b| b.value - b.error.unwrap_or(0.0)).fold(0.0f64, f64::min);
        let (y0, y1) = (bottom * 1.1, if top > bottom { top * 1.12 } else { 1.0 });
        let n = self.bars.len().max(1) as u32;
        let labels: Vec<String> = self.bars.iter().map(|b| b.label.clone()).collect();
        let label_size = if n > 6 { 12 } else { 14 };
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FONT, 20))
            .margin(14)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d((0u32..n - 1).into_segmented(), y0..y1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(&self.y_label)
            .y_label_formatter(&tick_label)
            .x_labels(n as usize)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .label_style((FONT, label_size))
            .axis_desc_style((FONT, 15))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(e)?;
        for (k, b) in self.bars.iter().enumerate().filter(|(_, b)| b.value.is_finite()) {
            let i = k as u32;
            let c = colour(k);
            chart.draw_series(Histogram::vertical(&chart).margin(18).style(c.filled()).data([(i, b.value)])).map_err(e)?;
            if let Some(err) = b.error.filter(|x| x.is_finite()) {
                chart
                    .draw_series(std::iter::once(ErrorBar::new_vertical(
                        SegmentValue::CenterOf(i),
                        b.value - err,
                        b.value,
                        b.value + err,
                        BLACK.stroke_width(2),
                        12,
                    )))
                    .map_err(e)?;
            }
            let at = b.value.max(0.0) + b.error.unwrap_or(0.0).max(0.0);
            let grey = RGBColor(60, 60, 60);
            let style = TextStyle::from((FONT, 13).into_font()).color(&grey).pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(std::iter::once(Text::new(format!("{:.3}", b.value), (SegmentValue::CenterOf(i), at + (y1 - y0) * 0.01), style))).map_err(e)?;
        }
        Ok(())
    }
}

/// Writes `chart` as `stem.png` and `stem.svg`.
pub fn save(stem: &Path, chart: &impl Chart) -> Result<(), RunError> {
    register_font();
    let png = stem.with_extension("png");
    let mut pixels = RgbImage::new(SIZE.0, SIZE.1);
    {
        let area = BitMapBackend::with_buffer(pixels.as_mut(), SIZE).into_drawing_area();
        chart.draw(&area).map_err(|m| failed(&png.display().to_string(), m))?;
        area.present().map_err(|m| failed(&png.display().to_string(), m))?;
    }
    save_png(&pixels, &png)?;
    let svg = stem.with_extension("svg");
    let mut text = String::new();
    {
        let area = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        chart.draw(&area).map_err(|m| failed(&svg.display().to_string(), m))?;
        area.present().map_err(|m| failed(&svg.display().to_string(), m))?;
    }
    std::fs::write(&svg, text).map_err(io_at(&svg))
}

/// Writes one line of text on `image` with its top-left corner at `(x, y)`, `size` pixels
/// high, in the charts' font.
pub fn draw_text(image: &mut RgbImage, x: i32, y: i32, text: &str, colour: [u8; 3], size: u32) {
    register_font();
    let (w, h) = image.dimensions();
    let area = BitMapBackend::with_buffer(image.as_mut(), (w, h)).into_drawing_area();
    let fill = RGBColor(colour[0], colour[1], colour[2]);
    let style = TextStyle::from((FONT, size).into_font()).color(&fill);
    // Drawing into memory cannot fail; a glyph the font lacks is skipped.
    let _ = area.draw_text(text, &style, (x, y));
    let _ = area.present();
}

/// Draws an anti-aliased line `width` pixels wide on `image`.
pub fn draw_line(image: &mut RgbImage, a: (f64, f64), b: (f64, f64), colour: [u8; 3], width: u32) {
    let (w, h) = image.dimensions();
    let area = BitMapBackend::with_buffer(image.as_mut(), (w, h)).into_drawing_area();
    let style = RGBColor(colour[0], colour[1], colour[2]).stroke_width(width);
    let _ = area.draw(&PathElement::new(vec![(a.0.round() as i32, a.1.round() as i32), (b.0.round() as i32, b.1.round() as i32)], style));
    let _ = area.present();
}

/// Writes `image` as a PNG at `path`.
pub fn save_png(image: &RgbImage, path: &Path) -> Result<(), RunError> {
    image.save(path).map_err(|e| RunError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the SVG holds a text element reading `s`.
    fn has_text(svg: &str, s: &str) -> bool {
        svg.contains(&format!(">\n{s}\n</text>"))
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("gshn-plot-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn charts_draw_their_data_as_png_and_svg() {
        let dir = scratch("charts");
        let chart = LineChart {
            title: "loss".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series: vec![Series { name: "train".into(), points: vec![(0.0, 4.0), (10.0, 1.0)], band: vec![(0.0, 3.5, 4.5), (10.0, 0.5, 1.5)] }],
            y_range: None,
        };
        save(&dir.join("line"), &chart).unwrap();
        let png = image::open(dir.join("line.png")).unwrap().to_rgb8();
        assert_eq!(png.dimensions(), SIZE);
        // The series colour appears (the line was drawn), and so does the band's lighter tint.
        assert!(png.pixels().any(|p| p.0 == PALETTE[0]));
        let svg = std::fs::read_to_string(dir.join("line.svg")).unwrap();
        assert!(has_text(&svg, "train") && svg.contains("<polygon") && has_text(&svg, "step"), "{svg}");
        let bars = BarChart {
            title: "t".into(),
            y_label: "R@1".into(),
            bars: vec![Bar { label: "a".into(), value: 0.5, error: Some(0.1) }, Bar { label: "b<".into(), value: 0.2, error: None }],
        };
        save(&dir.join("bars"), &bars).unwrap();
        let svg = std::fs::read_to_string(dir.join("bars.svg")).unwrap();
        assert!(has_text(&svg, "b&lt;") && has_text(&svg, "0.500"), "{svg}");
        // A bar without data (NaN) keeps its label but draws no bar and no value.
        let empty = BarChart { bars: vec![Bar { label: "gone".into(), value: f64::NAN, error: None }], ..bars };
        save(&dir.join("empty"), &empty).unwrap();
        let svg = std::fs::read_to_string(dir.join("empty.svg")).unwrap();
        assert!(has_text(&svg, "gone") && !svg.contains("NaN") && !has_text(&svg, "NaN"), "{svg}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn text_and_lines_land_on_pictures() {
        let mut img = RgbImage::from_pixel(120, 40, image::Rgb([255, 255, 255]));
        draw_text(&mut img, 4, 4, "model: red", [200, 0, 0], 14);
        assert!(img.pixels().any(|p| p.0[0] > 150 && p.0[1] < 100), "red text was drawn");
        draw_line(&mut img, (0.0, 35.0), (119.0, 35.0), [0, 0, 255], 1);
        assert!(img.get_pixel(60, 35).0[2] > 200 && img.get_pixel(60, 35).0[0] < 100);
    }
}
