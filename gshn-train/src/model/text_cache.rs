//! A frozen pretrained text encoder's outputs, computed once per distinct text: the batcher
//! looks each caption or question up here and hands the model its features, so that a
//! training step with a frozen MiniLM runs only the GSHN part.
//!
//! Each text is encoded on its own (no padding, no batch neighbours), so its features depend
//! on the text alone: a resumed run, which meets the texts in another order, gets the same
//! numbers. Kept in memory (about 1.5 KB per word piece); nothing is written to disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::tensor::{Bool, Device, Tensor, TensorData};

use super::minilm::MiniLm;

/// One text's features: the last layer's token features `[len, width]` (row-major) and the
/// sentence embedding `[width]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TextFeatures {
    /// Word pieces, `[CLS]` and `[SEP]` included.
    pub len: usize,
    /// `len × width` token features.
    pub tokens: Vec<f32>,
    /// The unit-norm sentence embedding.
    pub sentence: Vec<f32>,
}

/// The memo of a frozen MiniLM.
pub struct FrozenTextCache {
    model: MiniLm,
    device: Device,
    width: usize,
    memo: Mutex<HashMap<Vec<u32>, Arc<TextFeatures>>>,
}

impl std::fmt::Debug for FrozenTextCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrozenTextCache").field("texts", &self.len()).field("width", &self.width).finish()
    }
}

impl FrozenTextCache {
    /// A memo of `model`'s outputs (run without autodiff on `device`'s plain backend).
    pub fn new(model: &MiniLm, device: &Device) -> Self {
        Self { width: model.width(), model: model.valid(), device: device.clone().inner(), memo: Mutex::new(HashMap::new()) }
    }

    /// Texts encoded so far.
    pub fn len(&self) -> usize {
        self.memo.lock().expect("the memo").len()
    }

    /// Whether no text was encoded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The features of the text with word-piece ids `ids` (computed on first use).
    pub fn get(&self, ids: &[u32]) -> Arc<TextFeatures> {
        if let Some(f) = self.memo.lock().expect("the memo").get(ids) {
            return f.clone();
        }
        let l = ids.len();
        let t = Tensor::<2, burn::tensor::Int>::from_data(TensorData::new(ids.iter().map(|&i| i as i64).collect::<Vec<_>>(), [1, l]), &self.device);
        let pad = Tensor::<2, Bool>::from_data(TensorData::new(vec![false; l], [1, l]), &self.device);
        let (tokens, sentence) = self.model.forward(t, pad);
        let vec = |t: Tensor<3>| t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 features");
        let f = Arc::new(TextFeatures { len: l, tokens: vec(tokens), sentence: vec(sentence.unsqueeze_dim(0)) });
        self.memo.lock().expect("the memo").insert(ids.to_vec(), f.clone());
        f
    }

    /// Token features `[B, L, width]` (zero on padding) and sentence features `[B, width]` of
    /// texts given as word-piece ids, `L` the padded length (at least the longest).
    pub fn batch(&self, texts: &[Vec<u32>], l: usize, device: &Device) -> (Tensor<3>, Tensor<2>) {
        let w = self.width;
        let mut tokens = vec![0f32; texts.len() * l * w];
        let mut sentence = Vec::with_capacity(texts.len() * w);
        for (b, ids) in texts.iter().enumerate() {
            let f = self.get(ids);
            tokens[b * l * w..(b * l + f.len) * w].copy_from_slice(&f.tokens);
            sentence.extend_from_slice(&f.sentence);
        }
        (Tensor::from_data(TensorData::new(tokens, [texts.len(), l, w]), device), Tensor::from_data(TensorData::new(sentence, [texts.len(), w]), device))
    }
}

/// A shared memo (the batcher's clones share it).
pub type SharedTextCache = Arc<FrozenTextCache>;
