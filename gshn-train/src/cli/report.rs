//! The report folder of a run: `report.md` with the metrics table and the plots — loss and
//! validation curves, firing rate per spiking layer, and test images with their segments,
//! graph edges and the VQA head's attention drawn on them.

use std::fmt::Write as _;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use gshn_seg::overlay::{overlay, OverlayStyle};
use image::imageops::{resize, FilterType};
use image::{Rgb, RgbImage};

use crate::batch::GshnBatcher;
use crate::cli::eval::EvalReport;
use crate::cli::experiment::ExperimentConfig;
use crate::cli::plot::{self, Bar, BarChart, LineChart, Series};
use crate::cli::run_error::{io_at, DataError, RunError};
use crate::cli::run_log::{hms, LogRow};
use crate::data::shapeworld_ve::LABELS;
use crate::dataset::{Dataset, QaItem};
use crate::model::Gshn;
use crate::task::{argmax_rows, to_vec};

/// Pixels per side of an example picture.
const PANEL: u32 = 256;
/// Characters per line of a panel's text (DejaVu Sans at 12 px averages under 7 px a character).
const LINE_CHARS: usize = (PANEL / 7) as usize;

/// Draws test images `0..k` with segment colours and boundaries, the graph's edges (yellow)
/// and the first task the model learns that the data carries: the image's first question
/// (VQA) or hypothesis (visual entailment) with the head's attention (red discs, area ∝
/// weight), or the first statement about its pair (NLVR², the left image drawn), with the
/// text, the model's answer and the truth underneath; else its first caption.
pub fn example_pictures(model: &Gshn, data: &Dataset, batcher: &GshnBatcher, answers: &[String], k: usize, device: &Device) -> Result<RgbImage, RunError> {
    let k = k.min(data.len());
    if k == 0 {
        return Err(DataError::Unfit("no images to draw (eval.report_images = 0 or an empty test split)".into()).into());
    }
    let model = model.clone().valid();
    let idx: Vec<usize> = (0..k).collect();
    let batch = batcher.images(&data.refs(&idx), device)?;
    let out = model.encode_images(&batch)?;
    let w = &model.config.loss;
    let mut attention = vec![vec![]; k];
    // Per image: (text, the model's answer, the truth).
    let mut shown: Vec<Option<(String, String, String)>> = vec![None; k];
    let questions: Vec<(usize, &QaItem)> = idx.iter().filter_map(|&i| data[i].questions.first().map(|q| (i, q))).collect();
    let hypotheses: Vec<(usize, &QaItem)> = idx.iter().filter_map(|&i| data[i].hypotheses.first().map(|q| (i, q))).collect();
    let m = batch.max_nodes;
    if w.vqa > 0.0 && !questions.is_empty() {
        let v = model.answer(&batch, &out, &batcher.questions(&questions, device));
        let (att, pred) = (to_vec(v.attention)?, argmax_rows(v.logits)?);
        for (r, (i, q)) in questions.iter().enumerate() {
            attention[*i] = att[r * m..r * m + data[*i].tokens.n].to_vec();
            let name = |a: usize| answers.get(a).cloned().unwrap_or_else(|| "?".into());
            shown[*i] = Some((q.text.clone(), name(pred[r]), name(q.answer)));
        }
    } else if w.entailment > 0.0 && !hypotheses.is_empty() {
        if let Some(e) = model.entail(&batch, &out, &batcher.questions(&hypotheses, device)) {
            let (att, pred) = (to_vec(e.attention)?, argmax_rows(e.logits)?);
            for (r, (i, h)) in hypotheses.iter().enumerate() {
                attention[*i] = att[r * m..r * m + data[*i].tokens.n].to_vec();
                let name = |a: usize| LABELS.get(a).copied().unwrap_or("?").to_string();
                shown[*i] = Some((h.text.clone(), name(pred[r]), name(h.answer)));
            }
        }
    } else if w.nlvr > 0.0 && data.has_statements() {
        let items = data.refs(&idx);
        let chosen: Vec<(usize, &crate::dataset::PairStatement, bool)> =
            items.iter().enumerate().filter_map(|(r, p)| p.statements.first().map(|s| (r, s, false))).collect();
        if let Some(o) = model.judge_pairs(&batch, &out, &batcher.pair_statements(&items, &chosen, device)?)? {
            let pred = argmax_rows(o.logits)?;
            let name = |a: usize| if a == 1 { "true" } else { "false" }.to_string();
            for (r, (i, s, _)) in chosen.iter().enumerate() {
                shown[*i] = Some((format!("{} (left image shown)", s.text), name(pred[r]), name(s.answer)));
            }
        }
    }
    let text_h = 60;
    let mut sheet = RgbImage::from_pixel(k as u32 * (PANEL + 8) + 8, PANEL + text_h + 16, Rgb([255, 255, 255]));
    for (slot, &i) in idx.iter().enumerate() {
        let style = OverlayStyle { alpha: 0.35, ids: false, ..Default::default() };
        let pic = overlay(&data[i].image, &data[i].segmentation, &style, None).map_err(crate::GshnError::from)?;
        let mut pic = resize(&pic, PANEL, PANEL, FilterType::Nearest);
        let t = &data[i].tokens;
        let centre = |n: usize| (t.geometry[n * 7 + 4] as f64 * PANEL as f64, t.geometry[n * 7 + 5] as f64 * PANEL as f64);
        for (&s, &d) in t.edges.src.iter().zip(&t.edges.dst) {
            plot::draw_line(&mut pic, centre(s), centre(d), [255, 220, 0], 1);
        }
        for (n, &a) in attention[i].iter().enumerate() {
            let r = 2.0 + 14.0 * (a as f64).sqrt();
            let (x, y) = centre(n);
            disc(&mut pic, x, y, r, [220, 20, 60]);
        }
        let x0 = 8 + slot as u32 * (PANEL + 8);
        image::imageops::replace(&mut sheet, &pic, x0 as i64, 8);
        let mut y = PANEL as f64 + 20.0;
        if let Some((text, predicted, truth)) = &shown[i] {
            for line in wrap(text, LINE_CHARS).into_iter().take(3) {
                write(&mut sheet, x0, y, &line, [0, 0, 0]);
                y += 11.0;
            }
            let colour = if predicted == truth { [0, 130, 0] } else { [200, 0, 0] };
            let answer = format!("model: {predicted}  truth: {truth}");
            if answer.chars().count() <= LINE_CHARS {
                write(&mut sheet, x0, y, &answer, colour);
            } else {
                write(&mut sheet, x0, y, &format!("model: {predicted}"), colour);
                write(&mut sheet, x0, y + 11.0, &format!("truth: {truth}"), colour);
            }
        } else {
            for line in data[i].captions.first().map(|c| wrap(c, LINE_CHARS)).unwrap_or_default().into_iter().take(4) {
                write(&mut sheet, x0, y, &line, [0, 0, 0]);
                y += 11.0;
            }
        }
    }
    Ok(sheet)
}

/// One line of the sheet's text, vertically centred on `y`.
fn write(sheet: &mut RgbImage, x: u32, y: f64, text: &str, colour: [u8; 3]) {
    plot::draw_text(sheet, x as i32, (y - 6.0).round() as i32, text, colour, 12);
}

fn disc(img: &mut RgbImage, x: f64, y: f64, r: f64, colour: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for yy in (y - r).floor() as i64..=(y + r).ceil() as i64 {
        for xx in (x - r).floor() as i64..=(x + r).ceil() as i64 {
            let d2 = (xx as f64 - x).powi(2) + (yy as f64 - y).powi(2);
            if d2 <= r * r && xx >= 0 && yy >= 0 && xx < w && yy < h {
                let p = img.get_pixel_mut(xx as u32, yy as u32);
                let edge = d2 >= (r - 1.5).max(0.0).powi(2);
                *p = if edge { Rgb([255, 255, 255]) } else { Rgb(colour) };
            }
        }
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for w in text.split_whitespace() {
        let last = lines.last_mut().expect("non-empty");
        if !last.is_empty() && last.len() + 1 + w.len() > width {
            lines.push(w.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(w);
        }
    }
    lines
}

/// Everything the report shows.
pub struct ReportInput<'a> {
    /// The config.
    pub config: &'a ExperimentConfig,
    /// The metrics log.
    pub log: &'a [LogRow],
    /// The test evaluation.
    pub test: &'a EvalReport,
    /// The command that made the run.
    pub command: &'a str,
    /// The device it ran on.
    pub device: &'a str,
}

/// Writes `dir/report.md` and its plots; `examples` is the picture sheet (if any).
pub fn write_report(dir: &Path, input: &ReportInput, examples: Option<&RgbImage>) -> Result<(), RunError> {
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let (cfg, log, test) = (input.config, input.log, input.test);
    let pts = |f: &dyn Fn(&LogRow) -> Option<f64>| -> Vec<(f64, f64)> { log.iter().filter_map(|r| f(r).map(|v| (r.step as f64, v))).collect() };
    let mut loss = vec![Series::line("total", pts(&|r| Some(r.loss)))];
    // Each loss term in the stages where it was computed.
    for c in crate::task::loss_columns() {
        let stages: std::collections::BTreeSet<&str> = log.iter().filter(|r| r.term(c.key) > 0.0).map(|r| r.stage.as_str()).collect();
        if !stages.is_empty() {
            let points = log.iter().filter(|r| stages.contains(&r.stage.as_str())).map(|r| (r.step as f64, r.term(c.key))).collect();
            loss.push(Series::line(c.label, points));
        }
    }
    let chart = LineChart { title: "training loss".into(), x_label: "step".into(), y_label: "loss".into(), series: loss, y_range: None };
    plot::save(&dir.join("loss"), &chart)?;
    let curves: Vec<Series> = crate::task::val_columns()
        .into_iter()
        .filter(|c| log.iter().any(|r| r.val(c.key).is_some()))
        .map(|c| Series::line(c.label, pts(&|r| r.val(c.key))))
        .collect();
    let chart =
        LineChart { title: "validation".into(), x_label: "step".into(), y_label: "recall / accuracy".into(), series: curves, y_range: Some((0.0, 1.0)) };
    plot::save(&dir.join("validation"), &chart)?;
    let has_spikes = !test.layers.is_empty();
    if has_spikes {
        let chart = BarChart {
            title: "firing rate per spiking layer (test)".into(),
            y_label: "spikes / neuron / step".into(),
            bars: test.layers.iter().map(|l| Bar { label: l.name.clone(), value: l.firing_rate(), error: None }).collect(),
        };
        plot::save(&dir.join("firing_rates"), &chart)?;
    }
    if let Some(pic) = examples {
        plot::save_png(pic, &dir.join("examples.png"))?;
    }

    let mut md = String::new();
    let _ = writeln!(md, "# GSHN run `{}`\n", cfg.name);
    let _ = writeln!(md, "Command: `{}`  \nDevice: {}  ", input.command, input.device);
    if let Some(last) = log.last() {
        let _ = writeln!(md, "Steps: {} ({} STL + {} main), training time {}\n", last.step, cfg.train.stl_steps, cfg.train.steps, hms(last.elapsed_s));
    }
    let m = &cfg.model;
    let _ = writeln!(
        md,
        "Data: {:?}, {} train images; segments: {:?} on a {:?} graph; model: {:?}, fusion {:?} (r₀ = {}), T = {}, {} neurons with the {} surrogate; seed {}.\n",
        cfg.data.source,
        cfg.data.train_images,
        cfg.data.segments.source,
        m.tokens.graph,
        m.fusion.branches,
        m.fusion.mode,
        m.fusion.r,
        m.snn.time_steps,
        m.snn.neuron.name(),
        m.snn.neuron.base().surrogate.config_name(),
        cfg.seed
    );
    let _ = writeln!(md, "## Test metrics\n\n{}", test.markdown());
    if test.tasks.retrieval.is_some() {
        let _ = writeln!(md, "Chance R@1 is {:.4} (text→image) — one image in {}.\n", 1.0 / test.images as f64, test.images);
    }
    let _ = writeln!(md, "## Training\n\n![loss](loss.png)\n\n![validation](validation.png)\n");
    if has_spikes {
        let _ = writeln!(md, "## Spiking activity\n\n![firing rates](firing_rates.png)\n");
    }
    if examples.is_some() {
        let _ = writeln!(
            md,
            "## Test images\n\nSegments (colours, white boundaries), graph edges (yellow) and the first task the model learns: the image's first question (VQA) or hypothesis (visual entailment) with the head's attention (red discs, area ∝ weight), or the first statement about its pair (NLVR², left image shown); green answer = right, red = wrong.\n\n![examples](examples.png)\n"
        );
    }
    let _ = writeln!(md, "Files: `metrics.csv` / `metrics.jsonl` (the log), `eval.json` (these metrics), `config.toml` (the resolved config), `checkpoints/` (model, optimiser, state).");
    let p = dir.join("report.md");
    std::fs::write(&p, md).map_err(io_at(&p))
}
