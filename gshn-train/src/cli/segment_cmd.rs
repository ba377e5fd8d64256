//! `gshn segment`: cut one image into segments and draw them.

use std::path::{Path, PathBuf};

use gshn_seg::baselines::grid_patches;
use gshn_seg::descriptors::{region_adjacency, Adjacency};
use gshn_seg::felzenszwalb::{felzenszwalb, FelzenszwalbParams};
use gshn_seg::image_io::{read_rgb, ImageLimits};
use gshn_seg::overlay::{overlay, OverlayStyle};
use gshn_seg::panoptic::{read_categories, read_panoptic, read_panoptic_json};
use gshn_seg::slic::{slic, SlicParams};
use gshn_seg::{SegmentInfo, Segmentation};
use serde::Serialize;

use crate::cli::experiment::ConfigError;
use crate::cli::plot::save_png;
use crate::cli::run_error::{io_at, RunError};
use crate::GshnError;

fn usage(flag: &str, message: impl Into<String>) -> RunError {
    ConfigError::Parse { origin: flag.into(), message: message.into() }.into()
}

fn seg_err(e: gshn_seg::SegError) -> RunError {
    GshnError::from(e).into()
}

/// A count given on the command line: a whole number ≥ 0, with a message naming what is wrong
/// (clap adds the flag).
pub fn whole<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    if s.trim_start().starts_with('-') {
        return Err(format!("`{s}` is negative; this flag takes a whole number ≥ 0"));
    }
    s.trim().parse().map_err(|_| format!("`{s}` is not a whole number (or is too large)"))
}

/// Which tokenizer `gshn segment` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Felzenszwalb–Huttenlocher (scikit-image semantics).
    Fh,
    /// SLIC superpixels (scikit-image semantics).
    Slic,
    /// Regular grid patches.
    Grid,
    /// Ground-truth COCO panoptic PNG + JSON.
    Panoptic,
}

/// Everything `gshn segment` needs.
#[derive(Debug, Clone, clap::Args)]
pub struct SegmentArgs {
    /// The image (PNG or JPEG).
    pub image: PathBuf,
    /// The tokenizer.
    #[arg(long, value_enum, default_value = "fh")]
    pub method: Method,
    /// Where to write the overlay picture (PNG).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the segments as JSON (info and adjacency).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw region-adjacency edges between centroids.
    #[arg(long)]
    pub edges: bool,
    /// Felzenszwalb scale.
    #[arg(long, default_value_t = 100.0)]
    pub scale: f64,
    /// Felzenszwalb/SLIC Gaussian sigma (default: 0.8 for FH, 0 for SLIC).
    #[arg(long)]
    pub sigma: Option<f64>,
    /// Felzenszwalb minimum segment size.
    #[arg(long, default_value_t = 50, value_parser = whole::<usize>)]
    pub min_size: usize,
    /// SLIC number of segments.
    #[arg(long, default_value_t = 100, value_parser = whole::<usize>)]
    pub n_segments: usize,
    /// SLIC compactness.
    #[arg(long, default_value_t = 10.0)]
    pub compactness: f64,
    /// Grid rows × columns, e.g. `4x4`.
    #[arg(long, default_value = "4x4", allow_hyphen_values = true)]
    pub grid: String,
    /// Panoptic: the PNG label map.
    #[arg(long)]
    pub panoptic_png: Option<PathBuf>,
    /// Panoptic: the JSON with `annotations` (and `categories`).
    #[arg(long)]
    pub panoptic_json: Option<PathBuf>,
    /// Panoptic: a separate categories file (`panoptic_coco_categories.json`).
    #[arg(long)]
    pub categories: Option<PathBuf>,
    /// Largest accepted image (and panoptic PNG) in pixels, width × height; a larger one is
    /// refused before decoding. Felzenszwalb holds about 130 bytes per pixel, SLIC about 40.
    #[arg(long, default_value_t = gshn_seg::image_io::DEFAULT_MAX_PIXELS, value_parser = whole::<u64>)]
    pub max_pixels: u64,
    /// Overwrite --out and --json if they exist (an input is never overwritten).
    #[arg(long)]
    pub force: bool,
}

impl SegmentArgs {
    /// Checks every numeric flag against the bounds of its twin in the experiment config
    /// (`data.segments.*`, `data.max_pixels`) and the output files (never an input, never an
    /// existing file without `--force`), before anything is read or allocated.
    pub fn validate(&self) -> Result<(), RunError> {
        use crate::data::segments::SegmentsConfig;
        let twin = SegmentsConfig {
            fh_scale: self.scale,
            fh_sigma: self.sigma.unwrap_or(0.8),
            fh_min_size: self.min_size,
            slic_segments: self.n_segments,
            slic_compactness: self.compactness,
            ..SegmentsConfig::default()
        };
        let flag_of = |field: &str| match field {
            "fh_scale" => "--scale",
            "fh_sigma" => "--sigma",
            "fh_min_size" => "--min-size",
            "slic_segments" => "--n-segments",
            "slic_compactness" => "--compactness",
            _ => "--grid",
        };
        twin.validate().map_err(|e| match e {
            GshnError::InvalidConfig { field, reason } => usage(flag_of(&field), reason),
            other => other.into(),
        })?;
        let ceiling = crate::cli::experiment::MAX_PIXELS_CEILING;
        if !(1..=ceiling).contains(&self.max_pixels) {
            return Err(usage("--max-pixels", format!("{} must lie in 1..={ceiling} (16384²), as data.max_pixels", self.max_pixels)));
        }
        let (r, c) = self.grid_shape()?;
        for (what, n) in [("rows", r), ("columns", c)] {
            if !(1..=1024).contains(&n) {
                return Err(usage("--grid", format!("{n} {what} must lie in 1..=1024, as data.segments.grid")));
            }
        }
        let mut inputs: Vec<&Path> = vec![&self.image];
        inputs.extend([&self.panoptic_png, &self.panoptic_json, &self.categories].into_iter().flatten().map(PathBuf::as_path));
        crate::cli::output::check_output_file(&self.out, "--out", &inputs, self.force)?;
        if let Some(json) = &self.json {
            if json == &self.out {
                return Err(usage("--json", "names the same file as --out"));
            }
            crate::cli::output::check_output_file(json, "--json", &inputs, self.force)?;
        }
        Ok(())
    }

    fn grid_shape(&self) -> Result<(u32, u32), RunError> {
        self.grid
            .split_once('x')
            .and_then(|(r, c)| Some((r.trim().parse().ok()?, c.trim().parse().ok()?)))
            .ok_or_else(|| usage("--grid", format!("must look like 4x4 (rows x columns, whole numbers), got `{}`", self.grid)))
    }
}

#[derive(Serialize)]
struct SegmentsJson<'a> {
    image: &'a Path,
    method: String,
    width: u32,
    height: u32,
    segments: &'a [SegmentInfo],
    adjacency: &'a Adjacency,
}

fn panoptic(args: &SegmentArgs, limits: &ImageLimits) -> Result<Segmentation, RunError> {
    let (Some(png), Some(json)) = (&args.panoptic_png, &args.panoptic_json) else {
        return Err(usage("--method panoptic", "needs --panoptic-png PNG and --panoptic-json JSON"));
    };
    let file = read_panoptic_json(json).map_err(seg_err)?;
    let mut cats = file.categories.clone();
    if let Some(c) = &args.categories {
        cats = read_categories(c).map_err(seg_err)?;
    }
    let name = png.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let ann = file
        .annotations
        .iter()
        .find(|a| a.file_name == name)
        .ok_or_else(|| usage("--panoptic-json", format!("{} has no annotation for `{name}`", json.display())))?;
    read_panoptic(png, ann, &cats, limits).map_err(seg_err)
}

/// Runs the command; returns the segmentation it drew.
pub fn run(args: &SegmentArgs) -> Result<Segmentation, RunError> {
    args.validate()?;
    let limits = ImageLimits { max_pixels: args.max_pixels, knob: "--max-pixels", ..Default::default() };
    let img = read_rgb(&args.image, &limits).map_err(seg_err)?;
    let seg = match args.method {
        Method::Fh => {
            felzenszwalb(&img, &FelzenszwalbParams { scale: args.scale, sigma: args.sigma.unwrap_or(0.8), min_size: args.min_size }).map_err(seg_err)?
        }
        Method::Slic => {
            slic(&img, &SlicParams { n_segments: args.n_segments, compactness: args.compactness, sigma: args.sigma.unwrap_or(0.0), ..Default::default() })
                .map_err(seg_err)?
        }
        Method::Grid => {
            let (r, c) = args.grid_shape()?;
            grid_patches(img.width(), img.height(), r, c).map_err(seg_err)?
        }
        Method::Panoptic => panoptic(args, &limits)?,
    };
    if seg.width != img.width() || seg.height != img.height() {
        return Err(usage("--panoptic-png", format!("the segmentation is {}×{} but the image {}×{}", seg.width, seg.height, img.width(), img.height())));
    }
    let adj = region_adjacency(&seg);
    let picture = overlay(&img, &seg, &OverlayStyle::default(), args.edges.then_some(&adj)).map_err(seg_err)?;
    save_png(&picture, &args.out)?;
    if let Some(path) = &args.json {
        let doc = SegmentsJson {
            image: &args.image,
            method: format!("{:?}", args.method).to_lowercase(),
            width: seg.width,
            height: seg.height,
            segments: &seg.segments,
            adjacency: &adj,
        };
        std::fs::write(path, serde_json::to_string_pretty(&doc).expect("segments serialise")).map_err(io_at(path))?;
    }
    Ok(seg)
}
