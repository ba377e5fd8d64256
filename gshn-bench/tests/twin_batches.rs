//! The batch file `compare-train` writes for the PyTorch twin holds exactly what gshn's
//! batcher produced: it reads back equal to what was written, its arrays equal the batch's
//! tensors, its pixels are the images', its masks and edges describe the same nodes as the
//! padded layout gshn trains on; and the twin's meta refuses configs it does not implement.

use burn::tensor::{Bool, Device, Int, Tensor};
use gshn_bench::twin::{batch_arrays, read_batches, twin_meta, write_batches, ArrayData, NamedArray, TwinFileError};
use gshn_snn::rng::SeedRng;
use gshn_train::batch::GshnBatch;
use gshn_train::cli::experiment::TrainConfig;
use gshn_train::data::segments::{shapeworld_dataset, SegmentsConfig};
use gshn_train::data::shapeworld::{generate, ShapeWorldConfig, Split};
use gshn_train::dataset::Dataset;
use gshn_train::model::config::{Backbone, Encoding, TextEncoderChoice};
use gshn_train::model::{GshnConfig, Vocab};
use gshn_train::GshnBatcher;

fn floats<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn ints<const D: usize>(t: &Tensor<D, Int>) -> Vec<i64> {
    t.to_data().convert::<i64>().try_to_vec::<i64>().unwrap()
}

fn flags<const D: usize>(t: &Tensor<D, Bool>) -> Vec<u8> {
    ints(&t.clone().int()).into_iter().map(|x| x as u8).collect()
}

fn get<'a>(arrays: &'a [NamedArray], name: &str) -> &'a NamedArray {
    arrays.iter().find(|a| a.name == name).unwrap_or_else(|| panic!("no array `{name}`"))
}

fn f32s<'a>(arrays: &'a [NamedArray], name: &str) -> &'a [f32] {
    match &get(arrays, name).data {
        ArrayData::F32(v) => v,
        other => panic!("`{name}` is not f32: {other:?}"),
    }
}

fn i64s<'a>(arrays: &'a [NamedArray], name: &str) -> &'a [i64] {
    match &get(arrays, name).data {
        ArrayData::I64(v) => v,
        other => panic!("`{name}` is not i64: {other:?}"),
    }
}

fn u8s<'a>(arrays: &'a [NamedArray], name: &str) -> &'a [u8] {
    match &get(arrays, name).data {
        ArrayData::U8(v) => v,
        other => panic!("`{name}` is not u8: {other:?}"),
    }
}

fn setup(n: usize) -> (Dataset, GshnConfig, GshnBatcher) {
    let cfg = GshnConfig::default();
    let data = shapeworld_dataset(&generate(&ShapeWorldConfig::default(), 3, Split::Train, n), &SegmentsConfig::default(), &cfg.tokens).unwrap();
    let vocab = Vocab::build(data.texts());
    let cfg = cfg.with_vocab_size(vocab.len()).with_answers(18);
    let batcher = GshnBatcher::new(&cfg, vocab);
    (data, cfg, batcher)
}

fn batch(data: &Dataset, batcher: &GshnBatcher, idx: &[usize], seed: u64) -> GshnBatch {
    batcher.batch(&data.refs(idx), &mut SeedRng::new(seed), &Device::flex()).unwrap()
}

#[test]
fn the_batch_file_holds_what_the_batcher_produced() {
    let (data, cfg, batcher) = setup(12);
    let batches = [batch(&data, &batcher, &[0, 1, 2, 3, 4, 5], 1), batch(&data, &batcher, &[6, 7, 8, 9, 10, 11], 2)];
    let written: Vec<Vec<NamedArray>> = batches.iter().map(|b| batch_arrays(b).unwrap()).collect();
    let meta = twin_meta(&cfg, &TrainConfig::default()).unwrap();
    let path = std::env::temp_dir().join(format!("gshn-twin-test-{}.bin", std::process::id()));
    write_batches(&path, &meta, &written).unwrap();
    let read = read_batches(&path);
    std::fs::remove_file(&path).ok();
    let (meta_back, read) = read.unwrap();
    assert_eq!(meta_back, meta);
    assert_eq!(read, written, "what is read is what was written");

    for (b, (arrays, batch)) in read.iter().zip(&batches).enumerate() {
        let images = &batch.images;
        let (n, m) = (images.len(), images.max_nodes);
        // Every array equals the batch's tensor, with its shape.
        for (name, tensor) in [("pixels", floats(&images.pixels)), ("masks", floats(&images.masks)), ("geometry", floats(&images.geometry))] {
            assert_eq!(f32s(arrays, name), tensor.as_slice(), "batch {b}: {name}");
        }
        assert_eq!(get(arrays, "pixels").shape, vec![n, 3, 64, 64]);
        assert_eq!(get(arrays, "masks").shape, images.masks.dims().to_vec());
        assert_eq!(get(arrays, "geometry").shape, vec![n, m, 7]);
        assert_eq!(u8s(arrays, "node_mask"), flags(&images.mask).as_slice());
        let ptr: Vec<usize> = i64s(arrays, "ptr").iter().map(|&p| p as usize).collect();
        assert_eq!(ptr, images.graph.ptr);
        let (src, dst) = (i64s(arrays, "edge_src"), i64s(arrays, "edge_dst"));
        assert_eq!(src.len(), images.graph.edges.len());
        assert!(!src.is_empty(), "ShapeWorld scenes have adjacent segments");
        let captions = batch.captions.as_ref().unwrap();
        assert_eq!(i64s(arrays, "caption_ids"), ints(&captions.ids).as_slice());
        assert_eq!(u8s(arrays, "caption_pad"), flags(&captions.pad).as_slice());
        assert_eq!(get(arrays, "caption_ids").shape, captions.ids.dims().to_vec());
        let q = batch.questions.as_ref().unwrap();
        assert_eq!(i64s(arrays, "question_ids"), ints(&q.text.ids).as_slice());
        assert_eq!(u8s(arrays, "question_pad"), flags(&q.text.pad).as_slice());
        assert_eq!(i64s(arrays, "question_image"), ints(&q.image).as_slice());
        assert_eq!(i64s(arrays, "answers"), ints(&q.answers).as_slice());

        // The values are the data's: the first pixels are the first image's, scaled.
        let first = &data[b * 6].image;
        let px = f32s(arrays, "pixels");
        for x in [0u32, 17, 63] {
            let want = first.get_pixel(x, 0).0[0] as f32 / 255.0 - 0.5;
            assert_eq!(px[x as usize], want, "pixel ({x}, 0) of batch {b}'s first image");
        }
        // The twin selects real nodes with node_mask and numbers them by ptr: the two agree,
        // the real mask rows sum to 1 and the padding rows are empty.
        let node_mask = u8s(arrays, "node_mask");
        let masks = f32s(arrays, "masks");
        let cells = get(arrays, "masks").shape[2];
        for g in 0..n {
            let count = ptr[g + 1] - ptr[g];
            assert_eq!(count, data[b * 6 + g].tokens.n);
            for k in 0..m {
                assert_eq!(node_mask[g * m + k] == 1, k < count, "image {g} slot {k}");
                let sum: f32 = masks[(g * m + k) * cells..(g * m + k + 1) * cells].iter().sum();
                assert!(if k < count { (sum - 1.0).abs() < 1e-4 } else { sum == 0.0 }, "image {g} slot {k}: mask sums to {sum}");
            }
        }
        // The real edges stay within their image and are the padded layout's edges.
        let slots = ints(&images.slots);
        for (e, (&s, &t)) in src.iter().zip(dst).enumerate() {
            let image_of = |v: i64| ptr.windows(2).position(|w| (w[0]..w[1]).contains(&(v as usize))).unwrap();
            assert_eq!(image_of(s), image_of(t), "edge {e} crosses images");
            assert_ne!(s, t, "edge {e} is a self loop");
            assert_eq!((slots[s as usize] as usize, slots[t as usize] as usize), (images.edges.src[e], images.edges.dst[e]), "edge {e}");
        }
    }
}

#[test]
fn the_twin_meta_carries_the_sizes_and_refuses_what_the_twin_lacks() {
    let (_, cfg, _) = setup(2);
    let mut sized = cfg.clone();
    sized.snn.time_steps = 8;
    sized.gat.heads = 2;
    let meta = twin_meta(&sized, &TrainConfig::default()).unwrap();
    assert_eq!(meta["snn"]["time_steps"], 8);
    assert_eq!(meta["gat"]["heads"], 2);
    assert_eq!(meta["vocab_size"], cfg.vocab_size);
    assert_eq!(meta["branches"], "hybrid");
    assert_eq!(meta["loss"]["vqa"], 0.5);
    let mut rate = cfg.clone();
    rate.snn.encoding = Encoding::Rate;
    rate.loss.stl = 1.0;
    match twin_meta(&rate, &TrainConfig::default()) {
        Err(TwinFileError::Unsupported(fields)) => assert_eq!(fields, "model.loss.stl, model.snn.encoding"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    // The twin has only the CNN backbone and the scratch text encoder.
    let mut pretrained = cfg.clone();
    pretrained.tokens.backbone = Backbone::EfficientnetLite0(Default::default());
    pretrained.text.encoder = TextEncoderChoice::MinilmL6(Default::default());
    match twin_meta(&pretrained, &TrainConfig::default()) {
        Err(TwinFileError::Unsupported(fields)) => assert!(fields.contains("model.tokens.backbone") && fields.contains("model.text.encoder"), "{fields}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn the_exported_batches_are_deterministic() {
    let (data, cfg, batcher) = setup(6);
    let meta = twin_meta(&cfg, &TrainConfig::default()).unwrap();
    let file = |k: usize| {
        let arrays = batch_arrays(&batch(&data, &batcher, &[5, 0, 3, 1], 7)).unwrap();
        let path = std::env::temp_dir().join(format!("gshn-twin-det-{}-{k}.bin", std::process::id()));
        write_batches(&path, &meta, &[arrays]).unwrap();
        let bytes = std::fs::read(&path);
        std::fs::remove_file(&path).ok();
        bytes.unwrap()
    };
    assert_eq!(file(0), file(1), "the same examples and seed give the same file, byte for byte");
}

#[test]
fn a_damaged_batch_file_is_an_error() {
    let path = std::env::temp_dir().join(format!("gshn-twin-bad-{}.bin", std::process::id()));
    std::fs::write(&path, b"not a batch file at all").unwrap();
    let magic = read_batches(&path);
    let a = NamedArray::new("x", vec![2, 2], ArrayData::F32(vec![1.0, 2.0, 3.0, 4.0])).unwrap();
    write_batches(&path, &serde_json::json!({}), &[vec![a]]).unwrap();
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..whole.len() - 4]).unwrap();
    let truncated = read_batches(&path);
    std::fs::remove_file(&path).ok();
    assert!(matches!(magic, Err(TwinFileError::Format(ref m)) if m.contains("magic")), "{magic:?}");
    assert!(matches!(truncated, Err(TwinFileError::Format(ref m)) if m.contains("beyond the data")), "{truncated:?}");
    assert!(NamedArray::new("y", vec![3], ArrayData::I64(vec![1])).is_err());
}

/// The parameter names of gshn's default model that `scripts/peers/gshn_torch.py`
/// (`gshn_state_dict`) maps onto the twin for `compare-train --same-weights`; a renamed
/// parameter fails here, without Python, before it fails in the twin.
#[test]
fn the_weights_the_twin_maps_are_the_models_parameter_names() {
    use burn::store::{ModuleSnapshot, SafetensorsStore};
    let (_, cfg, _) = setup(2);
    let device = Device::flex();
    let model = cfg.init(&device).unwrap();
    let path = std::env::temp_dir().join(format!("gshn-twin-weights-{}.safetensors", std::process::id()));
    model.save_into(&mut SafetensorsStore::from_file(&path)).unwrap();
    let bytes = std::fs::read(&path);
    std::fs::remove_file(&path).ok();
    let bytes = bytes.unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut names: Vec<String> = header.as_object().unwrap().keys().filter(|k| *k != "__metadata__").cloned().collect();
    names.sort();

    let mut want: Vec<String> = Vec::new();
    fn linear(want: &mut Vec<String>, name: &str, bias: bool) {
        want.push(format!("{name}.weight"));
        if bias {
            want.push(format!("{name}.bias"));
        }
    }
    for l in [
        "node_in",
        "geometry",
        "image_proj",
        "text_proj",
        "stl_words",
        "stl_segments",
        "node_snn",
        "node_gat",
        "vqa.query",
        "vqa.key",
        "vqa.fuse",
        "vqa.out",
        "snn.readout",
    ] {
        linear(&mut want, l, true);
    }
    for i in 0..3 {
        linear(&mut want, &format!("backbone.Cnn.convs.{i}"), true);
    }
    for i in 0..2 {
        linear(&mut want, &format!("gat.layers.{i}.lin"), false);
        linear(&mut want, &format!("snn.layers.{i}.linear"), true);
        let b = format!("text.Scratch.encoder.layers.{i}");
        for l in ["mha.query", "mha.key", "mha.value", "mha.output", "pwff.linear_inner", "pwff.linear_outer"] {
            linear(&mut want, &format!("{b}.{l}"), true);
        }
        for p in ["norm_1.gamma", "norm_1.beta", "norm_2.gamma", "norm_2.beta"] {
            want.push(format!("{b}.{p}"));
        }
        for p in ["att_src", "att_dst", "bias"] {
            want.push(format!("gat.layers.{i}.{p}"));
        }
        for p in ["norm.gamma", "norm.beta"] {
            want.push(format!("snn.layers.{i}.{p}"));
        }
    }
    want.extend(["fusion.r", "logit_scale.log_scale", "text.Scratch.words.weight", "text.Scratch.positions.weight"].map(String::from));
    want.sort();
    assert_eq!(names, want);
}
