//! Times gshn-seg's Felzenszwalb and SLIC against scikit-image's on the same 512×512 image
//! (skimage's `astronaut`), single thread, in one run, and prints the ratios. The peer runs
//! through `scripts/peers/bench_seg.py`, which also writes the image both sides read.
//!
//! ```text
//! cargo run --release -p gshn-bench --bin compare-seg -- --python .venv/bin/python
//! ```

use std::process::Command;

use anyhow::{bail, Context};
use clap::Parser;
use gshn_bench::median_time;
use gshn_seg::felzenszwalb::{felzenszwalb, FelzenszwalbParams};
use gshn_seg::image_io::{read_rgb, ImageLimits};
use gshn_seg::slic::{slic, SlicParams};

#[derive(Parser)]
#[command(about = "gshn-seg vs scikit-image: Felzenszwalb and SLIC on a 512×512 image")]
struct Args {
    /// Timed repetitions (median reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Python with scikit-image installed.
    #[arg(long, default_value = "python3")]
    python: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/peers/bench_seg.py");
    let image = std::env::temp_dir().join(format!("gshn-bench-astronaut-{}.png", std::process::id()));
    eprintln!("running the peer: {} {script}", args.python);
    let out = Command::new(&args.python)
        .arg(script)
        .args(["--reps", &args.reps.to_string(), "--image-out"])
        .arg(&image)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .with_context(|| format!("could not run `{}` (pass --python PATH to a Python with scikit-image)", args.python))?;
    if !out.status.success() {
        bail!("the peer script failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).context("peer output is not JSON")?;
    let img = read_rgb(&image, &ImageLimits::default())?;
    let fh = FelzenszwalbParams { scale: 100.0, sigma: 0.8, min_size: 50 };
    let sl = SlicParams::default();
    let mut n_fh = 0;
    let t_fh = median_time(args.reps, || n_fh = felzenszwalb(&img, &fh).expect("valid").len()).as_secs_f64() * 1e3;
    let mut n_sl = 0;
    let t_sl = median_time(args.reps, || n_sl = slic(&img, &sl).expect("valid").len()).as_secs_f64() * 1e3;
    std::fs::remove_file(&image).ok();
    println!("{}×{} image (skimage astronaut), 1 thread, median of {} runs; skimage {}", img.width(), img.height(), args.reps, peer["skimage"].as_str().unwrap_or("?"));
    println!("| method | gshn-seg (ms) | scikit-image (ms) | skimage / gshn | segments (gshn / skimage) |");
    println!("|---|---|---|---|---|");
    for (name, ours, n, key) in [("Felzenszwalb (scale 100, σ 0.8, min 50)", t_fh, n_fh, "felzenszwalb"), ("SLIC (n 100, compactness 10)", t_sl, n_sl, "slic")] {
        let theirs = peer[key]["ms"].as_f64().unwrap_or(f64::NAN);
        println!("| {name} | {ours:.1} | {theirs:.1} | {:.2} | {n} / {} |", theirs / ours, peer[key]["segments"]);
    }
    Ok(())
}
