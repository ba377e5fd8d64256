//! Times gshn-seg's Felzenszwalb and SLIC against scikit-image's on the same 512×512 image
//! (skimage's `astronaut`), single thread, in one run, and prints the ratios. The peer runs
//! through `scripts/peers/bench_seg.py`, which also writes the image both sides read.
//!
//! ```text
//! cargo test --workspace --no-run && target/debug/compare-seg --python .venv/bin/python
//! ```

use clap::Parser;
use gshn_bench::{median_time, PeerArgs};
use gshn_seg::felzenszwalb::{felzenszwalb, FelzenszwalbParams};
use gshn_seg::image_io::{read_rgb, ImageLimits};
use gshn_seg::slic::{slic, SlicParams};

#[derive(Parser)]
#[command(about = "gshn-seg vs scikit-image: Felzenszwalb and SLIC on a 512×512 image")]
struct Args {
    /// The peer's Python (scikit-image) and repetitions.
    #[command(flatten)]
    peer: PeerArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let image = std::env::temp_dir().join(format!("gshn-bench-astronaut-{}.png", std::process::id()));
    let peer = args.peer.run_peer("bench_seg.py", &["--image-out".as_ref(), image.as_os_str()])?;
    let img = read_rgb(&image, &ImageLimits::default())?;
    let fh = FelzenszwalbParams { scale: 100.0, sigma: 0.8, min_size: 50 };
    let sl = SlicParams::default();
    let mut n_fh = 0;
    let t_fh = median_time(args.peer.reps, || n_fh = felzenszwalb(&img, &fh).expect("valid").len()).as_secs_f64() * 1e3;
    let mut n_sl = 0;
    let t_sl = median_time(args.peer.reps, || n_sl = slic(&img, &sl).expect("valid").len()).as_secs_f64() * 1e3;
    std::fs::remove_file(&image).ok();
    println!(
        "{}×{} image (skimage astronaut), 1 thread, median of {} runs; skimage {}",
        img.width(),
        img.height(),
        args.peer.reps,
        peer["skimage"].as_str().unwrap_or("?")
    );
    println!("| method | gshn-seg (ms) | scikit-image (ms) | skimage / gshn | segments (gshn / skimage) |");
    println!("|---|---|---|---|---|");
    for (name, ours, n, key) in [("Felzenszwalb (scale 100, σ 0.8, min 50)", t_fh, n_fh, "felzenszwalb"), ("SLIC (n 100, compactness 10)", t_sl, n_sl, "slic")]
    {
        let theirs = peer[key]["ms"].as_f64().unwrap_or(f64::NAN);
        println!("| {name} | {ours:.1} | {theirs:.1} | {:.2} | {n} / {} |", theirs / ours, peer[key]["segments"]);
    }
    Ok(())
}
