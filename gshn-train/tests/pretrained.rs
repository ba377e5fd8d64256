//! The pretrained encoders against their references: MiniLM-L6's WordPiece ids, per-layer hidden
//! states and sentence embeddings against HuggingFace's tokenizer and sentence-transformers;
//! EfficientNet-Lite0's logits and tapped feature map against a PyTorch reference network;
//! the weights' error messages; the frozen-feature cache.
//!
//! The weights are not in the repository: `bash scripts/fetch-weights.sh all` puts them in
//! `data/weights/`. Without them these tests skip and say which command fetches them; CI sets
//! `GSHN_REQUIRE_WEIGHTS=1`, under which missing weights fail instead.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use gshn_train::model::backbone::EfficientNetBackbone;
use gshn_train::model::config::EfficientNetChoice;
use gshn_train::model::efficientnet::{self, EfficientNetLite0};
use gshn_train::model::minilm::MiniLm;
use gshn_train::model::weights::{WeightsError, EFFICIENTNET_LITE0_DIR, MINILM_DIR, MINILM_VOCAB};
use gshn_train::model::wordpiece::WordPiece;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The weights folder `rel` (under the repository), or `None` (skip) when it lacks `file` —
/// a failure under `GSHN_REQUIRE_WEIGHTS=1`.
fn weights(rel: &str, package: &str, file: &str) -> Option<PathBuf> {
    let dir = repo().join(rel);
    if dir.join(file).is_file() {
        return Some(dir);
    }
    let msg = format!("{} is missing: fetch it with `bash scripts/fetch-weights.sh {package}`", dir.join(file).display());
    assert!(std::env::var("GSHN_REQUIRE_WEIGHTS").map_or(true, |v| v != "1"), "GSHN_REQUIRE_WEIGHTS=1 but {msg}");
    eprintln!("skipped: {msg}");
    None
}

fn minilm_dir() -> Option<PathBuf> {
    weights(MINILM_DIR, "minilm-l6", "model.safetensors")
}

fn effnet_dir() -> Option<PathBuf> {
    weights(EFFICIENTNET_LITE0_DIR, "efficientnet-lite0", "efficientnet-lite0-57934424.pth")
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn fixture(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// Standard base64 (the fixtures' packed arrays).
fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    } as u32;
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &c)| acc | val(c) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn f32s(v: &Value) -> Vec<f32> {
    base64(v.as_str().unwrap()).chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn f16_to_f32(h: u16) -> f32 {
    let (sign, exp, frac) = ((h >> 15) as u32, ((h >> 10) & 0x1f) as i32, (h & 0x3ff) as f32);
    let mag = match exp {
        0 => frac * 2f32.powi(-24),
        31 => f32::INFINITY,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    };
    if sign == 1 {
        -mag
    } else {
        mag
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn ids_tensor(rows: &[Vec<u32>], device: &Device) -> (Tensor<2, Int>, Tensor<2, burn::tensor::Bool>) {
    let l = rows.iter().map(Vec::len).max().unwrap();
    let mut ids = vec![0i64; rows.len() * l];
    let mut pad = vec![true; rows.len() * l];
    for (b, r) in rows.iter().enumerate() {
        for (i, &id) in r.iter().enumerate() {
            ids[b * l + i] = id as i64;
            pad[b * l + i] = false;
        }
    }
    (Tensor::from_data(TensorData::new(ids, [rows.len(), l]), device), Tensor::from_data(TensorData::new(pad, [rows.len(), l]), device))
}

fn wordpiece(dir: &Path) -> WordPiece {
    WordPiece::from_vocab_file(&MINILM_VOCAB.verified(dir).unwrap()).unwrap()
}

#[test]
fn wordpiece_ids_equal_huggingface_on_a_thousand_texts() {
    let Some(dir) = minilm_dir() else { return };
    let tok = wordpiece(&dir);
    let fx = fixture("minilm_l6.json");
    let (texts, ids) = (fx["texts"].as_array().unwrap(), fx["ids"].as_array().unwrap());
    assert!(texts.len() >= 1000, "{} texts", texts.len());
    let mut wrong = Vec::new();
    for (t, want) in texts.iter().zip(ids) {
        let want: Vec<u32> = want.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(t.as_str().unwrap(), 256);
        if got != want {
            wrong.push(format!("{:?}\n  ours {:?}\n  HF   {:?}", t.as_str().unwrap(), tok.tokens(t.as_str().unwrap()), want));
        }
    }
    eprintln!("WordPiece: {} of {} texts differ from HuggingFace's tokenizer", wrong.len(), texts.len());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn minilm_embeddings_match_sentence_transformers() {
    let Some(dir) = minilm_dir() else { return };
    let device = Device::flex();
    let tok = wordpiece(&dir);
    let model = MiniLm::load(&dir, &device).unwrap();
    let fx = fixture("minilm_l6.json");
    let texts: Vec<&str> = fx["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let bits = base64(fx["embedding_f16"].as_str().unwrap());
    let want: Vec<f32> = bits.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect();
    assert_eq!(want.len(), texts.len() * 384);
    // Batches of similar lengths (as few padded positions as possible).
    let enc: Vec<Vec<u32>> = texts.iter().map(|t| tok.encode(t, 256)).collect();
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| enc[i].len());
    let (mut min_cos, mut worst, mut max_diff) = (f32::INFINITY, 0, 0f32);
    for chunk in order.chunks(64) {
        let rows: Vec<Vec<u32>> = chunk.iter().map(|&i| enc[i].clone()).collect();
        let (ids, pad) = ids_tensor(&rows, &device);
        let emb = values(model.forward(ids, pad).1);
        for (k, &i) in chunk.iter().enumerate() {
            let (a, b) = (&emb[k * 384..(k + 1) * 384], &want[i * 384..(i + 1) * 384]);
            let nb = b.iter().map(|v| v * v).sum::<f32>().sqrt();
            let cos = a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / nb;
            max_diff = max_diff.max(max_abs_diff(a, b));
            if cos < min_cos {
                (min_cos, worst) = (cos, i);
            }
        }
    }
    eprintln!("MiniLM on {} texts: min cosine {min_cos:.7} ({:?}), max |Δ| {max_diff:.2e} (reference stored as float16)", texts.len(), texts[worst]);
    assert!(min_cos >= 0.9999, "cosine {min_cos} on {:?}", texts[worst]);
}

#[test]
fn minilm_hidden_states_match_transformers() {
    let Some(dir) = minilm_dir() else { return };
    let device = Device::flex();
    let tok = wordpiece(&dir);
    let model = MiniLm::load(&dir, &device).unwrap();
    let h = &fx_hidden();
    let texts: Vec<&str> = h["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let shape: Vec<usize> = h["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let (ids, pad) = tok.batch(&texts, 256, false, &device);
    let want_ids: Vec<i64> = h["ids"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_i64().unwrap())).collect();
    assert_eq!(ids.to_data().convert::<i64>().try_to_vec::<i64>().unwrap(), want_ids);
    let states = model.hidden_states(ids.clone(), pad.clone());
    assert_eq!(states.len(), shape[0]);
    let want = f32s(&h["states_f32"]);
    let per = shape[1] * shape[2] * shape[3];
    for (layer, s) in states.into_iter().enumerate() {
        let d = max_abs_diff(&values(s), &want[layer * per..(layer + 1) * per]);
        eprintln!("hidden state {layer}: max |Δ| {d:.2e}");
        assert!(d <= 1e-4, "hidden state {layer}: max |Δ| {d}");
    }
    let d = max_abs_diff(&values(model.forward(ids, pad).1), &f32s(&h["sentence_f32"]));
    eprintln!("sentence embeddings: max |Δ| {d:.2e}");
    assert!(d <= 1e-5, "{d}");
}

fn fx_hidden() -> Value {
    fixture("minilm_l6.json")["hidden"].clone()
}

#[test]
fn minilm_matches_the_numpy_reference() {
    let Some(dir) = minilm_dir() else { return };
    let device = Device::flex();
    let tok = WordPiece::from_vocab_file(&MINILM_VOCAB.verified(&dir).unwrap()).unwrap();
    let model = MiniLm::load(&dir, &device).unwrap();
    let texts = ["This is an example sentence", "Each sentence is converted"];
    assert_eq!(tok.encode(texts[0], 256), [101, 2023, 2003, 2019, 2742, 6251, 102]);
    assert_eq!(tok.encode(texts[1], 256), [101, 2169, 6251, 2003, 4991, 102]);
    assert_eq!(tok.encode("Héllo, WORLD!! naïve café 東京 tokenization", 256), [101, 7592, 1010, 2088, 999, 999, 15743, 7668, 1879, 1755, 19204, 3989, 102]);
    let (ids, pad) = tok.batch(&texts, 256, false, &device);
    let (_, emb) = model.forward(ids, pad);
    let e = values(emb);
    let first8 = [0.067657, 0.063496, 0.048713, 0.079305, 0.037448, 0.002653, 0.039375, -0.007098];
    for (a, b) in e[..8].iter().zip(first8) {
        assert!((a - b).abs() < 2e-5, "{:?}", &e[..8]);
    }
    let sum: f32 = e[..384].iter().sum();
    assert!((sum - 0.271751).abs() < 1e-4, "{sum}");
    let cos: f32 = e[..384].iter().zip(&e[384..]).map(|(a, b)| a * b).sum();
    assert!((cos - 0.404559).abs() < 1e-4, "{cos}");
}

/// The COCO-mini image as gshn decodes it, cropped as the fixture, checked against the
/// fixture's SHA-256; `None` (skip) without ../shared.
fn fixture_crop(case: &Value) -> Option<image::RgbImage> {
    use sha2::Digest;
    if let Some(n) = case.get("synthetic") {
        let n = n.as_u64().unwrap() as u32;
        return Some(image::RgbImage::from_fn(n, n, |x, y| image::Rgb([(x * 255 / (n - 1)) as u8, (y * 255 / (n - 1)) as u8, ((x * 7 + y * 13) % 256) as u8])));
    }
    let name = case["file"].as_str().unwrap();
    let Some(img) = coco_image(name) else {
        eprintln!("skipped {name}: ../shared/data/coco-mini is absent");
        return None;
    };
    let crop = centre_square(&img);
    let sha = gshn_train::model::weights::hex(&sha2::Sha256::digest(crop.as_raw()));
    assert_eq!(
        sha,
        case["crop_sha256"].as_str().unwrap(),
        "{name} decodes to other pixels than when the fixture was made (another JPEG decoder?): rerun scripts/peers/pretrained_fixtures.py"
    );
    Some(crop)
}

fn pixels(img: &image::RgbImage, device: &Device) -> Tensor<4> {
    let (w, h) = img.dimensions();
    Tensor::from_data(TensorData::new(gshn_train::dataset::planar_pixels(img).collect::<Vec<f32>>(), [1, 3, h as usize, w as usize]), device)
}

#[test]
fn efficientnet_matches_pytorch_on_coco_images() {
    let Some(dir) = effnet_dir() else { return };
    let device = Device::flex();
    let net = EfficientNetLite0::load(&dir, &device).unwrap();
    let choice = EfficientNetChoice { weights: dir.clone(), input_size: 224, ..Default::default() };
    let tap16 = EfficientNetBackbone::load(&choice, 16, &device).unwrap();
    let tap8 = EfficientNetBackbone::load(&choice, 8, &device).unwrap();
    let fx = fixture("efficientnet_lite0.json");
    let (mut worst_logit, mut worst_map, mut worst_rel, mut n) = (0f32, 0f32, 0f32, 0);
    for case in fx["cases"].as_array().unwrap() {
        let Some(crop) = fixture_crop(case) else { continue };
        let name = case.get("file").unwrap_or(&case["synthetic"]);
        let x = pixels(&crop, &device);
        let logits = values(net.forward(efficientnet::preprocess(x.clone(), 224)));
        let want = f32s(&case["logits_f32"]);
        let d = max_abs_diff(&logits, &want);
        worst_logit = worst_logit.max(d);
        let mut top: Vec<usize> = (0..1000).collect();
        top.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        let want_top: Vec<usize> = case["top5"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        eprintln!("{}: top-1 {} ({}), max |Δ logit| {d:.2e}", name, top[0], case["top5_names"][0]);
        assert_eq!(top[0], want_top[0], "{}: top-1", name);
        assert_eq!(&top[..5], &want_top[..], "{}: top-5", name);
        assert!(d <= 1e-4, "{}: max |Δ logit| {d}", name);
        for (key, backbone) in [("tap16", &tap16), ("tap8", &tap8)] {
            if let Some(v) = case.get(format!("{key}_f32")) {
                let shape: Vec<usize> = case[format!("{key}_shape")].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
                let f = backbone.forward(x.clone());
                assert_eq!(f.dims()[1..], shape[..]);
                let (got, want) = (values(f), f32s(v));
                let d = max_abs_diff(&got, &want);
                // The maps reach ~40, where float32 itself resolves ~4e-6: 1e-4 relative to
                // max(1, |v|) per element (absolute below 1).
                let rel = got.iter().zip(&want).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0, f32::max);
                eprintln!("  {key} {shape:?}: max |Δ| {d:.2e}, max |Δ|/max(1,|v|) {rel:.2e}, max |v| {:.1}", want.iter().fold(0f32, |m, v| m.max(v.abs())));
                worst_map = worst_map.max(d);
                worst_rel = worst_rel.max(rel);
                assert!(rel <= 1e-4, "{}: {key} max |Δ|/max(1,|v|) {rel}", name);
            }
        }
        n += 1;
    }
    assert!(n >= 2, "the synthetic cases always run");
    eprintln!("EfficientNet-Lite0 on {n} images (COCO-mini and synthetic): max |Δ logit| {worst_logit:.2e}, max |Δ feature| {worst_map:.2e} (relative {worst_rel:.2e})");
}

#[test]
fn missing_and_damaged_weights_name_the_fetch_command() {
    let dir = std::env::temp_dir().join(format!("gshn-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = MiniLm::load(&dir, &Device::flex()).unwrap_err();
    assert!(matches!(err, WeightsError::Missing { .. }), "{err}");
    assert!(err.to_string().contains(&format!("bash scripts/fetch-weights.sh minilm-l6 {}", dir.display())), "{err}");
    std::fs::write(dir.join("efficientnet-lite0-57934424.pth"), b"not a pickle").unwrap();
    let err = EfficientNetLite0::load(&dir, &Device::flex()).unwrap_err();
    assert!(matches!(err, WeightsError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("bash scripts/fetch-weights.sh efficientnet-lite0"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The centre square of an image, as the fixture script crops it.
fn centre_square(img: &image::RgbImage) -> image::RgbImage {
    let (w, h) = img.dimensions();
    let s = w.min(h);
    image::imageops::crop_imm(img, (w - s) / 2, (h - s) / 2, s, s).to_image()
}

fn coco_image(name: &str) -> Option<image::RgbImage> {
    let p = repo().join("../shared/data/coco-mini/train2017").join(name);
    p.is_file().then(|| gshn_seg::image_io::read_rgb(&p, &gshn_seg::image_io::ImageLimits::unlimited()).unwrap())
}

/// For scripts/peers/pretrained_fixtures.py: writes the centre-square crops of the COCO-mini
/// images named in `GSHN_EXPORT_FILES` (comma-separated), decoded by gshn's loader, as PNG
/// into `GSHN_EXPORT_CROPS`, so that the PyTorch reference sees exactly these pixels.
#[test]
#[ignore]
fn export_decoded_crops() {
    let out = PathBuf::from(std::env::var("GSHN_EXPORT_CROPS").expect("GSHN_EXPORT_CROPS"));
    for name in std::env::var("GSHN_EXPORT_FILES").expect("GSHN_EXPORT_FILES").split(',') {
        let img = coco_image(name).unwrap_or_else(|| panic!("{name} is not in ../shared/data/coco-mini/train2017"));
        centre_square(&img).save(out.join(format!("{name}.png"))).unwrap();
    }
}

fn tiny_experiment(root: &Path, effnet: &Path, minilm: &Path, extra: &str) -> gshn_train::cli::experiment::ExperimentConfig {
    let toml = format!(
        r#"
name = "pretrained"
seed = 3
device = "flex"
[data]
train_images = 16
val_images = 4
test_images = 8
[model]
d_model = 16
embed_dim = 16
[model.tokens]
stride = 16
[model.tokens.backbone.efficientnet-lite0]
weights = "{}"
input_size = 64
cache_dir = "{}"
[model.text.encoder.minilm-l6]
weights = "{}"
[train]
steps = 6
stl_steps = 2
batch_size = 8
warmup = 2
log_every = 1
eval_every = 3
checkpoint_every = 1
[eval]
report_images = 0
{extra}
"#,
        effnet.display(),
        root.join("cache").display(),
        minilm.display()
    );
    gshn_train::cli::experiment::ExperimentConfig::from_toml(&toml, "tiny", &[]).unwrap()
}

fn temp_root(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("gshn-pretrained-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    std::fs::create_dir_all(&root).unwrap();
    root
}

#[test]
fn frozen_backbone_features_are_cached_keyed_and_equal_to_the_backbone() {
    use burn::module::Module;
    use gshn_train::model::backbone::ImageBackbone;
    use gshn_train::model::config::Backbone;
    let (Some(effnet), Some(minilm)) = (effnet_dir(), minilm_dir()) else { return };
    let root = temp_root("cache");
    let cfg = tiny_experiment(&root, &effnet, &minilm, "");
    let device = Device::flex();
    let data = gshn_train::cli::train::load_data(&cfg).unwrap();
    let model = cfg.model.clone().with_vocab_size(data.vocab.len()).with_answers(18).init(&device).unwrap();
    let mut train = data.train.clone();
    let first = model.attach_features(&mut train, 5, &device).unwrap().unwrap();
    assert_eq!((first.hits, first.computed), (0, 16));
    let mut again = data.train.clone();
    let second = model.attach_features(&mut again, 5, &device).unwrap().unwrap();
    assert_eq!((second.hits, second.computed), (16, 0));
    assert_eq!(train.items.iter().map(|p| p.features.clone()).collect::<Vec<_>>(), again.items.iter().map(|p| p.features.clone()).collect::<Vec<_>>());
    eprintln!("feature cache: 16 computed in {:.2} s, read back in {:.3} s", first.seconds, second.seconds);
    // An entry with its header intact and its values zeroed, and one moved under another
    // image's name, are refused, computed again and counted; the maps stay the backbone's.
    let entries: Vec<std::path::PathBuf> = walk(&root.join("cache")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "f32")).collect();
    assert_eq!(entries.len(), 16);
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    bytes[80..].fill(0);
    std::fs::write(&entries[0], bytes).unwrap();
    std::fs::copy(&entries[2], &entries[1]).unwrap();
    let mut third = data.train.clone();
    let repaired = model.attach_features(&mut third, 5, &device).unwrap().unwrap();
    assert_eq!((repaired.hits, repaired.computed, repaired.rejected), (14, 2, 2), "{repaired:?}");
    assert!(repaired.first_rejection.as_deref().is_some_and(|w| w.contains(".f32")), "{repaired:?}");
    assert_eq!(train.items.iter().map(|p| p.features.clone()).collect::<Vec<_>>(), third.items.iter().map(|p| p.features.clone()).collect::<Vec<_>>());

    // The cached maps give the tokens the backbone gives.
    let batcher = data.batcher(&cfg).unwrap();
    let idx: Vec<usize> = (0..8).collect();
    let with = batcher.images(&train.refs(&idx), &device).unwrap();
    let without = batcher.images(&data.train.refs(&idx), &device).unwrap();
    assert!(with.features.is_some() && without.features.is_none());
    let d = max_abs_diff(&values(model.tokens(&with).unwrap()), &values(model.tokens(&without).unwrap()));
    assert!(d < 1e-5, "tokens from cached maps differ by {d}");

    // Another input size or other weights: other keys.
    let ImageBackbone::EfficientNet(net) = &model.backbone else { panic!("efficientnet") };
    let cache = gshn_train::model::feature_cache::FeatureCache::new(net, None);
    let mut other = net.clone();
    other.input_size = 96;
    let img = &data.train[0].image;
    assert_ne!(cache.key(img), gshn_train::model::feature_cache::FeatureCache::new(&other, None).key(img));
    let mut changed = net.clone();
    changed.net.bn0 = changed.net.bn0.clone().map(&mut ScaleFirst);
    assert_ne!(cache.key(img), gshn_train::model::feature_cache::FeatureCache::new(&changed, None).key(img));
    assert_ne!(cache.key(img), cache.key(&data.train[1].image));

    // Fine-tuning: no cache, the convolutions train, BatchNorm keeps ImageNet's statistics.
    let mut fine = cfg.model.clone().with_vocab_size(data.vocab.len()).with_answers(18);
    let Backbone::EfficientnetLite0(e) = &mut fine.tokens.backbone else { panic!() };
    e.frozen = false;
    let tuned = fine.init(&device.clone().autodiff()).unwrap();
    assert!(tuned.attach_features(&mut data.train.clone(), 5, &device).unwrap().is_none());
    let ImageBackbone::EfficientNet(t) = &tuned.backbone else { panic!() };
    assert!(t.net.conv_stem.weight.is_require_grad() && !t.net.bn0.training.is_enabled() && !t.net.bn0.gamma.is_require_grad());
    assert!(!net.net.conv_stem.weight.is_require_grad());
    std::fs::remove_dir_all(&root).ok();
}

/// Scales the first float parameter a module mapper meets (to change a weight).
struct ScaleFirst;

impl burn::module::ModuleMapper for ScaleFirst {
    fn map_float<const D: usize>(&mut self, param: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
        param.map(|t| t.mul_scalar(1.5))
    }
}

#[test]
fn frozen_text_features_from_the_memo_equal_the_encoder() {
    let (Some(effnet), Some(minilm)) = (effnet_dir(), minilm_dir()) else { return };
    let root = temp_root("text");
    let cfg = tiny_experiment(&root, &effnet, &minilm, "");
    let device = Device::flex();
    let data = gshn_train::cli::train::load_data(&cfg).unwrap();
    let model = cfg.model.clone().with_vocab_size(data.vocab.len()).with_answers(18).init(&device).unwrap();
    let plain = data.batcher(&cfg).unwrap();
    let memo = plain.clone().with_frozen_text(&model, &device);
    let texts = ["a red circle above a blue square", "Crème brûlée, naïve café!", "what colour is the triangle?", "x"];
    let (a, b) = (plain.texts(&texts, &device), memo.texts(&texts, &device));
    assert!(a.frozen.is_none() && b.frozen.is_some());
    let ((wa, sa), (wb, sb)) = (model.text_features(&a), model.text_features(&b));
    let keep = a.pad.clone().bool_not().float().unsqueeze_dim::<3>(2);
    let dw = max_abs_diff(&values(wa.mul(keep.clone())), &values(wb.mul(keep)));
    let ds = max_abs_diff(&values(sa), &values(sb));
    assert!(dw < 1e-5 && ds < 1e-6, "token features differ by {dw}, sentences by {ds}");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn a_pretrained_run_resumes_to_the_uninterrupted_result() {
    use gshn_train::cli::train::{run, RunOptions};
    let (Some(effnet), Some(minilm)) = (effnet_dir(), minilm_dir()) else { return };
    let root = temp_root("resume");
    let cfg = tiny_experiment(&root, &effnet, &minilm, "");
    let device = Device::flex().autodiff();
    let opts = |out: &str, resume, stop_after| RunOptions { out: root.join(out), resume, stop_after, progress: false };
    let whole = run(&cfg, &device, &opts("whole", false, None)).unwrap();
    let part = run(&cfg, &device, &opts("part", false, Some(5))).unwrap();
    assert!(part.test.is_none());
    let rest = run(&cfg, &device, &opts("part", true, None)).unwrap();
    let json = |r: &gshn_train::cli::train::RunResult| serde_json::to_string(r.test.as_ref().unwrap()).unwrap();
    assert_eq!(json(&rest), json(&whole), "the resumed run's test metrics differ");
    // The frozen encoders stayed frozen through the checkpoint.
    let loaded = gshn_train::cli::checkpoint::load(&root.join("part"), &device).unwrap();
    assert!(loaded.model.backbone.frozen_pretrained().is_some());
    let gshn_train::model::TextModel::MiniLm(m) = &loaded.model.text else { panic!("minilm") };
    assert!(!m.embeddings.word_embeddings.weight.is_require_grad());
    assert!(loaded.model.node_in.weight.is_require_grad());
    std::fs::remove_dir_all(&root).ok();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
