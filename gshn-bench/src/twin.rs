//! The batch file that `compare-train` writes for the PyTorch twin of the whole model
//! (`scripts/peers/gshn_torch.py`): gshn's own batches, read back from the device, so that
//! the twin trains on exactly the images, segment masks, geometry, graphs, captions and
//! questions that gshn's batcher produced.
//!
//! The format is small enough to read with NumPy alone:
//!
//! ```text
//! MAGIC (10 bytes) | u64 LE: header length | header (UTF-8 JSON) | data
//! header = {"meta": {…}, "batches": [[{"name", "dtype", "shape", "offset", "bytes"}, …], …]}
//! ```
//!
//! `dtype` is `f32`, `i64` or `u8` (little-endian); `offset` counts bytes from the start of
//! the data and is a multiple of 8. The arrays of one batch ([`batch_arrays`]):
//!
//! | name | dtype | shape | what |
//! |---|---|---|---|
//! | `pixels` | f32 | `[B, 3, H, W]` | the images, scaled to `[−0.5, 0.5]` |
//! | `masks` | f32 | `[B, M, cells]` | segment masks at the feature-map resolution, rows summing to 1, padding rows 0 |
//! | `geometry` | f32 | `[B, M, 7]` | box, centroid, area over the image size |
//! | `node_mask` | u8 | `[B, M]` | 1 on real nodes |
//! | `ptr` | i64 | `[B + 1]` | node offsets of the real (unpadded) nodes per image |
//! | `edge_src`, `edge_dst` | i64 | `[E]` | the real edges over the `ΣN` real nodes, no self loops |
//! | `caption_ids`, `caption_pad` | i64, u8 | `[B, L]` | one caption per image; pad 1 on padding |
//! | `question_ids`, `question_pad` | i64, u8 | `[Q, Lq]` | the questions |
//! | `question_image`, `answers` | i64 | `[Q]` | each question's image row and answer index |
//!
//! Captions and questions are left out when the batch has none.

use std::io::{Read, Write};
use std::path::Path;

use burn::tensor::{Bool, Int, Tensor};
use gshn_train::cli::experiment::TrainConfig;
use gshn_train::model::config::{TextConfig, TokensConfig};
use gshn_train::{GshnBatch, GshnConfig};

/// The file's first bytes.
pub const MAGIC: &[u8; 10] = b"GSHNTWIN1\n";

/// What went wrong writing or reading a batch file.
#[derive(Debug, thiserror::Error)]
pub enum TwinFileError {
    /// The file could not be read or written.
    #[error("batch file: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a batch file, or is damaged.
    #[error("batch file: {0}")]
    Format(String),
    /// A tensor could not be read back from the device.
    #[error("reading a tensor back from the device: {0}")]
    Tensor(String),
    /// The model config asks for something the twin does not implement.
    #[error("the PyTorch twin implements the default model with its sizes free; these fields differ from the defaults: {0}")]
    Unsupported(String),
}

/// The values of an array.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// Bytes (booleans as 0/1).
    U8(Vec<u8>),
}

impl ArrayData {
    fn dtype(&self) -> &'static str {
        match self {
            Self::F32(_) => "f32",
            Self::I64(_) => "i64",
            Self::U8(_) => "u8",
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::U8(v) => v.len(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Self::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Self::U8(v) => v.clone(),
        }
    }

    fn from_bytes(dtype: &str, b: &[u8]) -> Result<Self, TwinFileError> {
        Ok(match dtype {
            "f32" => Self::F32(b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()),
            "i64" => Self::I64(b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()),
            "u8" => Self::U8(b.to_vec()),
            other => return Err(TwinFileError::Format(format!("unknown dtype `{other}`"))),
        })
    }

    fn item_size(dtype: &str) -> usize {
        match dtype {
            "f32" => 4,
            "i64" => 8,
            _ => 1,
        }
    }
}

/// A named array with its shape (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray {
    /// The name the twin looks it up by.
    pub name: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, `shape.iter().product()` of them.
    pub data: ArrayData,
}

impl NamedArray {
    /// An array; fails when the values do not fill the shape.
    pub fn new(name: &str, shape: Vec<usize>, data: ArrayData) -> Result<Self, TwinFileError> {
        let want: usize = shape.iter().product();
        if data.len() != want {
            return Err(TwinFileError::Format(format!("array `{name}` of shape {shape:?} needs {want} values, got {}", data.len())));
        }
        Ok(Self { name: name.to_string(), shape, data })
    }
}

fn floats<const D: usize>(name: &str, t: &Tensor<D>) -> Result<NamedArray, TwinFileError> {
    let v = t.to_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| TwinFileError::Tensor(format!("{name}: {e:?}")))?;
    NamedArray::new(name, t.dims().to_vec(), ArrayData::F32(v))
}

fn ints<const D: usize>(name: &str, t: &Tensor<D, Int>) -> Result<NamedArray, TwinFileError> {
    let v = t.to_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| TwinFileError::Tensor(format!("{name}: {e:?}")))?;
    NamedArray::new(name, t.dims().to_vec(), ArrayData::I64(v))
}

fn bools<const D: usize>(name: &str, t: &Tensor<D, Bool>) -> Result<NamedArray, TwinFileError> {
    let v = t.clone().int().to_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| TwinFileError::Tensor(format!("{name}: {e:?}")))?;
    NamedArray::new(name, t.dims().to_vec(), ArrayData::U8(v.into_iter().map(|x| u8::from(x != 0)).collect()))
}

fn host_ints(name: &str, v: &[usize]) -> Result<NamedArray, TwinFileError> {
    NamedArray::new(name, vec![v.len()], ArrayData::I64(v.iter().map(|&x| x as i64).collect()))
}

/// The arrays of `batch` that the twin needs (the table in the module docs), read back from
/// the device.
pub fn batch_arrays(batch: &GshnBatch) -> Result<Vec<NamedArray>, TwinFileError> {
    let i = &batch.images;
    let mut out = vec![
        floats("pixels", &i.pixels)?,
        floats("masks", &i.masks)?,
        floats("geometry", &i.geometry)?,
        bools("node_mask", &i.mask)?,
        host_ints("ptr", &i.graph.ptr)?,
        host_ints("edge_src", &i.graph.edges.src)?,
        host_ints("edge_dst", &i.graph.edges.dst)?,
    ];
    if let Some(c) = &batch.captions {
        out.push(ints("caption_ids", &c.ids)?);
        out.push(bools("caption_pad", &c.pad)?);
    }
    if let Some(q) = &batch.questions {
        out.push(ints("question_ids", &q.text.ids)?);
        out.push(bools("question_pad", &q.text.pad)?);
        out.push(ints("question_image", &q.image)?);
        out.push(ints("answers", &q.answers)?);
    }
    Ok(out)
}

/// Writes `batches` (each a list of arrays) with `meta` (anything the reader needs: the model's
/// sizes, the loss weights) to `path`.
pub fn write_batches(path: &Path, meta: &serde_json::Value, batches: &[Vec<NamedArray>]) -> Result<(), TwinFileError> {
    let mut data: Vec<u8> = Vec::new();
    let mut index = Vec::with_capacity(batches.len());
    for arrays in batches {
        let mut entries = Vec::with_capacity(arrays.len());
        for a in arrays {
            let bytes = a.data.bytes();
            entries.push(serde_json::json!({"name": a.name, "dtype": a.data.dtype(), "shape": a.shape, "offset": data.len(), "bytes": bytes.len()}));
            data.extend_from_slice(&bytes);
            data.resize(data.len().next_multiple_of(8), 0);
        }
        index.push(serde_json::Value::Array(entries));
    }
    let header = serde_json::json!({"meta": meta, "batches": index}).to_string();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(MAGIC)?;
    f.write_all(&(header.len() as u64).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    f.write_all(&data)?;
    f.flush()?;
    Ok(())
}

/// Reads a file [`write_batches`] wrote: its `meta` and its batches.
pub fn read_batches(path: &Path) -> Result<(serde_json::Value, Vec<Vec<NamedArray>>), TwinFileError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    let bad = |m: &str| TwinFileError::Format(m.to_string());
    if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not a gshn twin batch file (wrong magic)"));
    }
    let len = u64::from_le_bytes(bytes[MAGIC.len()..MAGIC.len() + 8].try_into().expect("8 bytes")) as usize;
    let start = MAGIC.len() + 8;
    let header = bytes.get(start..start.saturating_add(len)).ok_or_else(|| bad("truncated header"))?;
    let header: serde_json::Value = serde_json::from_slice(header).map_err(|e| TwinFileError::Format(format!("header: {e}")))?;
    let data = &bytes[start + len..];
    let mut batches = Vec::new();
    for entries in header["batches"].as_array().ok_or_else(|| bad("no batch index"))? {
        let mut arrays = Vec::new();
        for e in entries.as_array().ok_or_else(|| bad("a batch is not a list"))? {
            let name = e["name"].as_str().ok_or_else(|| bad("an array without a name"))?;
            let dtype = e["dtype"].as_str().ok_or_else(|| bad("an array without a dtype"))?;
            let shape: Vec<usize> =
                e["shape"].as_array().ok_or_else(|| bad("an array without a shape"))?.iter().filter_map(|d| d.as_u64().map(|d| d as usize)).collect();
            let (offset, n) = (e["offset"].as_u64().unwrap_or(u64::MAX) as usize, e["bytes"].as_u64().unwrap_or(u64::MAX) as usize);
            let raw = data.get(offset..offset.saturating_add(n)).ok_or_else(|| TwinFileError::Format(format!("array `{name}` lies beyond the data")))?;
            if n % ArrayData::item_size(dtype) != 0 {
                return Err(TwinFileError::Format(format!("array `{name}`: {n} bytes are not whole {dtype} values")));
            }
            arrays.push(NamedArray::new(name, shape, ArrayData::from_bytes(dtype, raw)?)?);
        }
        batches.push(arrays);
    }
    Ok((header["meta"].clone(), batches))
}

/// Paths (`a.b.c`) where two JSON values differ.
fn differences(a: &serde_json::Value, b: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = serde_json::Value::Null;
                differences(x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), &format!("{path}.{k}"), out);
            }
        }
        _ if a != b => out.push(path.to_string()),
        _ => {}
    }
}

/// What the twin needs to build the same model and optimiser as gshn: the sizes of `model`
/// (its vocabulary size and answers set) and the optimiser settings of `train`. Fails with
/// [`TwinFileError::Unsupported`] when `model` differs from [`GshnConfig::default`] in
/// anything but what the twin reads: the widths, layers, heads and time steps, the tokens
/// (stride, channels, geometry, graph; the backbone stays the CNN), the GAT path, which
/// branches run, the initial `r`, the sizes of the scratch text encoder and the CLIP and VQA
/// loss weights.
pub fn twin_meta(model: &GshnConfig, train: &TrainConfig) -> Result<serde_json::Value, TwinFileError> {
    let m = model;
    let mut reference = GshnConfig::default();
    reference.d_model = m.d_model;
    reference.embed_dim = m.embed_dim;
    // The graph and the segments come with the batches; the backbone must be the CNN.
    reference.tokens = TokensConfig { backbone: reference.tokens.backbone.clone(), ..m.tokens.clone() };
    (reference.gat.layers, reference.gat.heads, reference.gat.negative_slope, reference.gat.path) =
        (m.gat.layers, m.gat.heads, m.gat.negative_slope, m.gat.path);
    (reference.snn.time_steps, reference.snn.layers) = (m.snn.time_steps, m.snn.layers);
    (reference.fusion.branches, reference.fusion.r) = (m.fusion.branches, m.fusion.r);
    // The text encoder's sizes are free; it must be the one trained from scratch.
    reference.text = TextConfig { encoder: reference.text.encoder.clone(), ..m.text.clone() };
    (reference.loss.clip, reference.loss.vqa) = (m.loss.clip, m.loss.vqa);
    (reference.vocab_size, reference.answers) = (m.vocab_size, m.answers);
    if &reference != m {
        let to_json = |c: &GshnConfig| serde_json::to_value(c).map_err(|e| TwinFileError::Format(e.to_string()));
        let mut diff = Vec::new();
        differences(&to_json(&reference)?, &to_json(m)?, "model", &mut diff);
        return Err(TwinFileError::Unsupported(diff.join(", ")));
    }
    let branches = serde_json::to_value(m.fusion.branches).map_err(|e| TwinFileError::Format(e.to_string()))?;
    Ok(serde_json::json!({
        "d_model": m.d_model,
        "embed_dim": m.embed_dim,
        "cnn_channels": m.tokens.cnn_channels,
        "stride": m.tokens.stride,
        "geometry": m.tokens.geometry,
        "gat": {"layers": m.gat.layers, "heads": m.gat.heads, "negative_slope": m.gat.negative_slope},
        // The default neuron (checked above): gshn-snn's LIF, τ = 2 with decay_input,
        // V_th = 1, hard reset to 0 right after the spike, spikes at v ≥ V_th, ATan α = 2.
        "snn": {"time_steps": m.snn.time_steps, "layers": m.snn.layers, "tau": 2.0, "threshold": 1.0, "reset_value": 0.0, "alpha": 2.0},
        "branches": branches,
        "r": m.fusion.r,
        "text": {"width": m.text.width, "layers": m.text.layers, "heads": m.text.heads, "max_len": m.text.max_len, "dropout": m.text.dropout},
        "vocab_size": m.vocab_size,
        "answers": m.answers,
        "loss": {"clip": m.loss.clip, "vqa": m.loss.vqa},
        // Burn's AdamW defaults (β₁ 0.9, β₂ 0.999, ε 1e-5); gradient clipping by each
        // parameter tensor's own norm, as Burn's optimiser applies it.
        "optim": {"lr": train.lr, "weight_decay": train.weight_decay, "grad_clip": train.grad_clip, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-5},
        "batch_size": train.batch_size,
    }))
}
