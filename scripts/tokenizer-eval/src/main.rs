//! HuggingFace's `tokenizers` (pure Rust, fancy-regex) against gshn's WordPiece on the 1,001
//! fixture texts: equal ids, and time per pass.
mod wordpiece;
use std::time::Instant;

fn main() {
    let root = std::path::PathBuf::from(std::env::var("GSHN_ROOT").expect("run through run.sh"));
    let weights = root.join("data/weights/minilm-l6");
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join("gshn-train/tests/fixtures/minilm_l6.json")).unwrap()).unwrap();
    let texts: Vec<&str> = fx["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let want: Vec<Vec<u32>> = fx["ids"].as_array().unwrap().iter().map(|v| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()).collect();
    let t0 = Instant::now();
    let mut hf = tokenizers::Tokenizer::from_file(weights.join("tokenizer.json")).unwrap();
    hf.with_truncation(Some(tokenizers::TruncationParams { max_length: 256, ..Default::default() })).unwrap();
    hf.with_padding(None);
    let hf_load = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let ours = wordpiece::WordPiece::from_vocab_text(&std::fs::read_to_string(weights.join("vocab.txt")).unwrap()).unwrap();
    let our_load = t0.elapsed().as_secs_f64();
    let (mut hf_bad, mut our_bad) = (0, 0);
    for (t, w) in texts.iter().zip(&want) {
        let h = hf.encode(*t, true).unwrap().get_ids().to_vec();
        if &h != w { hf_bad += 1; }
        if &ours.encode(t, 256) != w { our_bad += 1; }
    }
    println!("texts {}: tokenizers differ on {hf_bad}, ours on {our_bad}; load {:.1} ms vs {:.1} ms", texts.len(), hf_load * 1e3, our_load * 1e3);
    let reps = 20;
    let mut times = vec![];
    for r in 0..2 * reps {
        let t0 = Instant::now();
        let mut n = 0usize;
        if r % 2 == 0 {
            for t in &texts { n += hf.encode(*t, true).unwrap().get_ids().len(); }
        } else {
            for t in &texts { n += ours.encode(t, 256).len(); }
        }
        times.push((r % 2, t0.elapsed().as_secs_f64(), n));
    }
    let med = |k: usize| { let mut v: Vec<f64> = times.iter().filter(|x| x.0 == k).map(|x| x.1).collect(); v.sort_by(f64::total_cmp); v[v.len() / 2] };
    println!("per pass of {} texts (median of {reps}, alternating, one thread): tokenizers {:.2} ms, ours {:.2} ms, ratio ours/tokenizers speed {:.2}", texts.len(), med(0) * 1e3, med(1) * 1e3, med(0) / med(1));
}
