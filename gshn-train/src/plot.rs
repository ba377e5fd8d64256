//! Small, dependency-light charts for reports: line charts (loss, R@K curves) and bar charts
//! with error bars (firing rates, ablations), each drawn once onto a [`Canvas`] that renders
//! either a PNG (pixels, an 8×8 bitmap font) or an SVG (vector, real text).

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::run_error::{io_at, RunError};

/// Series colours (colour-blind-safe Okabe–Ito palette).
pub const PALETTE: [[u8; 3]; 8] = [[0, 114, 178], [213, 94, 0], [0, 158, 115], [204, 121, 167], [230, 159, 0], [86, 180, 233], [240, 228, 66], [0, 0, 0]];

/// Where text hangs from its anchor point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Text starts at the point.
    Start,
    /// Text is centred on the point.
    Middle,
    /// Text ends at the point.
    End,
}

/// A drawing surface with the few primitives the charts need (pixel coordinates, y down).
pub trait Canvas {
    /// A straight line `width` pixels wide.
    fn line(&mut self, a: (f64, f64), b: (f64, f64), colour: [u8; 3], width: f64);
    /// A filled rectangle.
    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, colour: [u8; 3]);
    /// One line of text whose vertical centre is at `y`.
    fn text(&mut self, x: f64, y: f64, s: &str, colour: [u8; 3], anchor: Anchor);
}

/// Glyph width of the PNG font (pixels).
const GLYPH: f64 = 8.0;

/// A PNG canvas.
pub struct PngCanvas(pub RgbImage);

impl PngCanvas {
    /// A white canvas.
    pub fn new(w: u32, h: u32) -> Self {
        Self(RgbImage::from_pixel(w, h, Rgb([255, 255, 255])))
    }

    fn dot(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as u32) < self.0.width() && (y as u32) < self.0.height() {
            self.0.put_pixel(x as u32, y as u32, Rgb(c));
        }
    }
}

impl Canvas for PngCanvas {
    fn line(&mut self, a: (f64, f64), b: (f64, f64), colour: [u8; 3], width: f64) {
        let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
        let r = ((width - 1.0) / 2.0).max(0.0).round() as i64;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let (x, y) = ((a.0 + t * (b.0 - a.0)).round() as i64, (a.1 + t * (b.1 - a.1)).round() as i64);
            for dy in -r..=r {
                for dx in -r..=r {
                    self.dot(x + dx, y + dy, colour);
                }
            }
        }
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, colour: [u8; 3]) {
        for yy in y.round() as i64..(y + h).round() as i64 {
            for xx in x.round() as i64..(x + w).round() as i64 {
                self.dot(xx, yy, colour);
            }
        }
    }

    fn text(&mut self, x: f64, y: f64, s: &str, colour: [u8; 3], anchor: Anchor) {
        // The bitmap font is ASCII: spell out the few non-ASCII symbols our labels use.
        let mut chars = Vec::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '→' => chars.extend(['-', '>']),
                '←' => chars.extend(['<', '-']),
                '±' => chars.extend(['+', '/', '-']),
                'τ' => chars.push('t'),
                'Δ' => chars.push('D'),
                c if c.is_ascii() => chars.push(c),
                _ => chars.push('?'),
            }
        }
        let w = chars.len() as f64 * GLYPH;
        let x0 = match anchor {
            Anchor::Start => x,
            Anchor::Middle => x - w / 2.0,
            Anchor::End => x - w,
        }
        .round() as i64;
        let y0 = (y - 4.0).round() as i64;
        for (i, c) in chars.iter().enumerate() {
            let glyph = font8x8::legacy::BASIC_LEGACY[(*c as usize).min(127)];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        self.dot(x0 + i as i64 * 8 + col, y0 + row as i64, colour);
                    }
                }
            }
        }
    }
}

/// An SVG canvas.
pub struct SvgCanvas {
    body: String,
    w: u32,
    h: u32,
}

impl SvgCanvas {
    /// An empty canvas.
    pub fn new(w: u32, h: u32) -> Self {
        Self { body: String::new(), w, h }
    }

    /// The SVG document.
    pub fn finish(self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n{}</svg>\n",
            self.body,
            w = self.w,
            h = self.h
        )
    }
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl Canvas for SvgCanvas {
    fn line(&mut self, a: (f64, f64), b: (f64, f64), colour: [u8; 3], width: f64) {
        self.body +=
            &format!("<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"{width}\"/>\n", a.0, a.1, b.0, b.1, hex(colour));
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, colour: [u8; 3]) {
        self.body += &format!("<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\"/>\n", hex(colour));
    }

    fn text(&mut self, x: f64, y: f64, s: &str, colour: [u8; 3], anchor: Anchor) {
        let a = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        self.body += &format!("<text x=\"{x:.1}\" y=\"{:.1}\" fill=\"{}\" text-anchor=\"{a}\">{}</text>\n", y + 4.0, hex(colour), escape(s));
    }
}

/// About five round tick values covering `[lo, hi]`.
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).abs().max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| span / s <= 6.0).unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = vec![];
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn tick_label(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.0e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

/// One named line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// `(x, y)` points in order.
    pub points: Vec<(f64, f64)>,
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
    /// Fixed y range (else the data's).
    pub y_range: Option<(f64, f64)>,
}

const W: u32 = 720;
const H: u32 = 420;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 52.0;
const BOTTOM: f64 = 55.0;

struct Frame {
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0).max(1e-12) * (W as f64 - LEFT - RIGHT)
    }
    fn py(&self, y: f64) -> f64 {
        H as f64 - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0).max(1e-12) * (H as f64 - TOP - BOTTOM)
    }
}

fn axes(c: &mut dyn Canvas, f: &Frame, title: &str, x_label: &str, y_label: &str, x_ticks: bool) {
    let grey = [200, 200, 200];
    let black = [0, 0, 0];
    for t in ticks(f.y.0, f.y.1) {
        let y = f.py(t);
        c.line((LEFT, y), (W as f64 - RIGHT, y), grey, 1.0);
        c.text(LEFT - 6.0, y, &tick_label(t), black, Anchor::End);
    }
    if x_ticks {
        for t in ticks(f.x.0, f.x.1) {
            let x = f.px(t);
            c.line((x, H as f64 - BOTTOM), (x, H as f64 - BOTTOM + 4.0), black, 1.0);
            c.text(x, H as f64 - BOTTOM + 14.0, &tick_label(t), black, Anchor::Middle);
        }
    }
    c.line((LEFT, TOP), (LEFT, H as f64 - BOTTOM), black, 1.0);
    c.line((LEFT, H as f64 - BOTTOM), (W as f64 - RIGHT, H as f64 - BOTTOM), black, 1.0);
    c.text(W as f64 / 2.0 - (RIGHT - LEFT) / 2.0, 14.0, title, black, Anchor::Middle);
    c.text(LEFT, TOP - 14.0, y_label, black, Anchor::Start);
    c.text((LEFT + W as f64 - RIGHT) / 2.0, H as f64 - 14.0, x_label, black, Anchor::Middle);
}

impl LineChart {
    /// Draws the chart.
    pub fn draw(&self, c: &mut dyn Canvas) {
        let pts = self.series.iter().flat_map(|s| s.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
        let (mut x, mut y) = ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN));
        for &(px, py) in pts {
            x = (x.0.min(px), x.1.max(px));
            y = (y.0.min(py), y.1.max(py));
        }
        if x.0 > x.1 {
            x = (0.0, 1.0);
            y = (0.0, 1.0);
        }
        if let Some(r) = self.y_range {
            y = r;
        } else {
            let pad = (y.1 - y.0).max(1e-6) * 0.05;
            y = ((y.0 - pad).min(if y.0 >= 0.0 { 0.0 } else { y.0 - pad }), y.1 + pad);
        }
        if x.1 - x.0 < 1e-12 {
            x = (x.0 - 1.0, x.1 + 1.0);
        }
        let f = Frame { x, y };
        axes(c, &f, &self.title, &self.x_label, &self.y_label, true);
        for (k, s) in self.series.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let p: Vec<(f64, f64)> = s.points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()).map(|&(a, b)| (f.px(a), f.py(b))).collect();
            for w in p.windows(2) {
                c.line(w[0], w[1], colour, 2.0);
            }
            if p.len() <= 30 {
                for &q in &p {
                    c.rect(q.0 - 2.5, q.1 - 2.5, 5.0, 5.0, colour);
                }
            }
            let ly = TOP + 10.0 + 18.0 * k as f64;
            c.line((W as f64 - RIGHT + 12.0, ly), (W as f64 - RIGHT + 32.0, ly), colour, 3.0);
            c.text(W as f64 - RIGHT + 38.0, ly, &s.name, [0, 0, 0], Anchor::Start);
        }
    }
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

impl BarChart {
    /// Draws the chart.
    pub fn draw(&self, c: &mut dyn Canvas) {
        let top = self.bars.iter().map(|b| b.value + b.error.unwrap_or(0.0)).fold(0.0f64, f64::max);
        let bottom = self.bars.iter().map(|b| b.value - b.error.unwrap_or(0.0)).fold(0.0f64, f64::min);
        let f = Frame { x: (0.0, self.bars.len().max(1) as f64), y: (bottom, if top > bottom { top * 1.08 } else { 1.0 }) };
        axes(c, &f, &self.title, "", &self.y_label, false);
        let slot = (W as f64 - LEFT - RIGHT) / self.bars.len().max(1) as f64;
        for (k, b) in self.bars.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let (x0, x1) = (f.px(k as f64) + slot * 0.15, f.px(k as f64 + 1.0) - slot * 0.15);
            c.text((x0 + x1) / 2.0, H as f64 - BOTTOM + 14.0, &b.label, [0, 0, 0], Anchor::Middle);
            if b.value.is_nan() {
                continue;
            }
            let (y0, y1) = (f.py(b.value.max(0.0)), f.py(b.value.min(0.0)));
            c.rect(x0, y0, x1 - x0, y1 - y0, colour);
            if let Some(e) = b.error {
                let xm = (x0 + x1) / 2.0;
                let (ya, yb) = (f.py(b.value + e), f.py(b.value - e));
                c.line((xm, ya), (xm, yb), [0, 0, 0], 1.5);
                c.line((xm - 6.0, ya), (xm + 6.0, ya), [0, 0, 0], 1.5);
                c.line((xm - 6.0, yb), (xm + 6.0, yb), [0, 0, 0], 1.5);
            }
            c.text((x0 + x1) / 2.0, f.py(b.value + b.error.unwrap_or(0.0)) - 10.0, &format!("{:.3}", b.value), [60, 60, 60], Anchor::Middle);
        }
    }
}

/// Writes a chart drawn by `draw` as `stem.png` and `stem.svg`.
pub fn save(stem: &Path, draw: impl Fn(&mut dyn Canvas)) -> Result<(), RunError> {
    let mut png = PngCanvas::new(W, H);
    draw(&mut png);
    save_png(&png.0, &stem.with_extension("png"))?;
    let mut svg = SvgCanvas::new(W, H);
    draw(&mut svg);
    let p = stem.with_extension("svg");
    std::fs::write(&p, svg.finish()).map_err(io_at(&p))
}

/// Writes `image` as a PNG at `path`.
pub fn save_png(image: &RgbImage, path: &Path) -> Result<(), RunError> {
    image.save(path).map_err(|e| RunError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 1.0), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(ticks(0.0, 1500.0), vec![0.0, 250.0, 500.0, 750.0, 1000.0, 1250.0, 1500.0]);
        let t = ticks(2.3, 7.9);
        assert!(t.first().unwrap() >= &2.3 && t.last().unwrap() <= &7.9 && t.len() >= 3);
    }

    #[test]
    fn charts_draw_their_data() {
        let chart = LineChart {
            title: "loss".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series: vec![Series { name: "train".into(), points: vec![(0.0, 4.0), (10.0, 1.0)] }],
            y_range: None,
        };
        let mut png = PngCanvas::new(W, H);
        chart.draw(&mut png);
        // The series colour appears (the line was drawn) and text was written.
        assert!(png.0.pixels().any(|p| p.0 == PALETTE[0]));
        let mut svg = SvgCanvas::new(W, H);
        chart.draw(&mut svg);
        let doc = svg.finish();
        assert!(doc.contains(">train</text>") && doc.contains("<line"));
        let bars = BarChart {
            title: "t".into(),
            y_label: "R@1".into(),
            bars: vec![Bar { label: "a".into(), value: 0.5, error: Some(0.1) }, Bar { label: "b<".into(), value: 0.2, error: None }],
        };
        let mut svg = SvgCanvas::new(W, H);
        bars.draw(&mut svg);
        let doc = svg.finish();
        assert!(doc.contains("b&lt;") && doc.contains("0.500"));
        // A bar without data (NaN) keeps its label but draws no bar and no value.
        let empty = BarChart { bars: vec![Bar { label: "gone".into(), value: f64::NAN, error: None }], ..bars };
        let mut svg = SvgCanvas::new(W, H);
        empty.draw(&mut svg);
        let doc = svg.finish();
        assert!(doc.contains(">gone</text>") && !doc.contains("NaN") && !doc.contains("<rect x="), "{doc}");
    }
}
