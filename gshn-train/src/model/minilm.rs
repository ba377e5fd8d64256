//! all-MiniLM-L6-v2 (sentence-transformers) in Burn: a 6-layer BERT encoder (width 384, 12
//! heads, feed-forward 1536, post-LayerNorm, exact erf GELU, LayerNorm ε 1e-12), mean pooling
//! over the real tokens and L2 normalisation — the sentence embedding sentence-transformers
//! computes. The weights load from the package's `model.safetensors` through Burn's
//! burn-store (`SafetensorsStore` with the PyTorch adapter: linear weights transposed,
//! LayerNorm `weight`/`bias` read as `gamma`/`beta`); the module's field names are the file's,
//! except `self` → `self_attn` and `LayerNorm` → `layer_norm`.
//!
//! ```text
//! h₀ = LN(word[ids] + position[0..L] + token_type[0])
//! hᵢ = LN(a + W₂·gelu(W₁·a)),   a = LN(hᵢ₋₁ + Wₒ·MHA(hᵢ₋₁, padding masked))
//! e  = normalise(Σ_real h₆ / #real)
//! ```

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Bool, Device, Int, Tensor};

use super::weights::{WeightsError, MINILM_SAFETENSORS};

/// The shape of a BERT encoder; the defaults are all-MiniLM-L6-v2's `config.json`.
#[derive(Config, Debug)]
pub struct MiniLmConfig {
    /// Vocabulary size. Default 30522.
    #[config(default = 30522)]
    pub vocab_size: usize,
    /// Hidden width. Default 384.
    #[config(default = 384)]
    pub hidden: usize,
    /// Layers. Default 6.
    #[config(default = 6)]
    pub layers: usize,
    /// Attention heads. Default 12.
    #[config(default = 12)]
    pub heads: usize,
    /// Feed-forward width. Default 1536.
    #[config(default = 1536)]
    pub intermediate: usize,
    /// Position embeddings (the longest input). Default 512.
    #[config(default = 512)]
    pub max_positions: usize,
    /// Token types. Default 2.
    #[config(default = 2)]
    pub type_vocab: usize,
    /// LayerNorm ε. Default 1e-12.
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
}

/// Word, position and token-type embeddings, then LayerNorm.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// Word pieces.
    pub word_embeddings: Embedding,
    /// Positions.
    pub position_embeddings: Embedding,
    /// Token types (all 0 here).
    pub token_type_embeddings: Embedding,
    /// LayerNorm.
    pub layer_norm: LayerNorm,
}

/// The query, key and value projections.
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    /// Queries.
    pub query: Linear,
    /// Keys.
    pub key: Linear,
    /// Values.
    pub value: Linear,
}

/// A projection, the residual and LayerNorm.
#[derive(Module, Debug)]
pub struct BertOutput {
    /// Projection.
    pub dense: Linear,
    /// LayerNorm after the residual.
    pub layer_norm: LayerNorm,
}

/// Multi-head self-attention with its output block.
#[derive(Module, Debug)]
pub struct BertAttention {
    /// Q, K, V (`attention.self` in the file).
    pub self_attn: BertSelfAttention,
    /// Output projection, residual, LayerNorm.
    pub output: BertOutput,
}

/// The feed-forward expansion.
#[derive(Module, Debug)]
pub struct BertIntermediate {
    /// hidden → intermediate.
    pub dense: Linear,
}

/// One post-LN transformer layer.
#[derive(Module, Debug)]
pub struct BertLayer {
    /// Attention block.
    pub attention: BertAttention,
    /// Feed-forward expansion.
    pub intermediate: BertIntermediate,
    /// Feed-forward projection, residual, LayerNorm.
    pub output: BertOutput,
}

/// The layers.
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// Layers in order (`encoder.layer.N` in the file).
    pub layer: Vec<BertLayer>,
}

/// The MiniLM sentence encoder.
#[derive(Module, Debug)]
pub struct MiniLm {
    /// Embeddings.
    pub embeddings: BertEmbeddings,
    /// Transformer layers.
    pub encoder: BertEncoder,
    /// Attention heads.
    pub heads: usize,
}

impl MiniLmConfig {
    /// The encoder with random weights (load the real ones with [`MiniLm::load`]).
    pub fn init(&self, device: &Device) -> MiniLm {
        let ln = || LayerNormConfig::new(self.hidden).with_epsilon(self.layer_norm_eps).init(device);
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        let h = self.hidden;
        MiniLm {
            embeddings: BertEmbeddings {
                word_embeddings: EmbeddingConfig::new(self.vocab_size, h).init(device),
                position_embeddings: EmbeddingConfig::new(self.max_positions, h).init(device),
                token_type_embeddings: EmbeddingConfig::new(self.type_vocab, h).init(device),
                layer_norm: ln(),
            },
            encoder: BertEncoder {
                layer: (0..self.layers)
                    .map(|_| BertLayer {
                        attention: BertAttention {
                            self_attn: BertSelfAttention { query: lin(h, h), key: lin(h, h), value: lin(h, h) },
                            output: BertOutput { dense: lin(h, h), layer_norm: ln() },
                        },
                        intermediate: BertIntermediate { dense: lin(h, self.intermediate) },
                        output: BertOutput { dense: lin(self.intermediate, h), layer_norm: ln() },
                    })
                    .collect(),
            },
            heads: self.heads,
        }
    }
}

impl BertLayer {
    fn forward(&self, x: Tensor<3>, pad: &Tensor<4, Bool>, heads: usize) -> Tensor<3> {
        let [b, l, d] = x.dims();
        let dh = d / heads;
        let split = |t: Tensor<3>| t.reshape([b, l, heads, dh]).swap_dims(1, 2); // [B, H, L, dh]
        let s = &self.attention.self_attn;
        let q = split(s.query.forward(x.clone()));
        let k = split(s.key.forward(x.clone()));
        let v = split(s.value.forward(x.clone()));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((dh as f64).sqrt()).mask_fill(pad.clone(), -1e30);
        let ctx = softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([b, l, d]);
        let o = &self.attention.output;
        let a = o.layer_norm.forward(x.add(o.dense.forward(ctx)));
        let f = self.output.dense.forward(gelu(self.intermediate.dense.forward(a.clone())));
        self.output.layer_norm.forward(a.add(f))
    }
}

impl MiniLm {
    /// all-MiniLM-L6-v2 with the weights in `dir` (`model.safetensors`, checked against its
    /// SHA-256), on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, WeightsError> {
        let path = MINILM_SAFETENSORS.verified(dir)?;
        let mut model = MiniLmConfig::new().init(device);
        load_safetensors(&mut model, &path)?;
        Ok(model)
    }

    /// The hidden width.
    pub fn width(&self) -> usize {
        self.embeddings.word_embeddings.weight.dims()[1]
    }

    /// The embedding output and each layer's output, `[B, L, hidden]` each (`1 + layers`
    /// tensors: HuggingFace's `hidden_states`). `pad` is true on padding.
    pub fn hidden_states(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> Vec<Tensor<3>> {
        let [b, l] = ids.dims();
        let device = ids.device();
        let e = &self.embeddings;
        let pos = Tensor::<1, Int>::arange(0..l as i64, &device).reshape([1, l]).expand([b, l]);
        let types = Tensor::<2, Int>::zeros([b, l], &device);
        let x = e.word_embeddings.forward(ids).add(e.position_embeddings.forward(pos)).add(e.token_type_embeddings.forward(types));
        let mut x = e.layer_norm.forward(x);
        let pad4 = pad.reshape([b, 1, 1, l]).expand([b, self.heads, l, l]);
        let mut states = vec![x.clone()];
        for layer in &self.encoder.layer {
            x = layer.forward(x, &pad4, self.heads);
            states.push(x.clone());
        }
        states
    }

    /// Per-token features `[B, L, hidden]` (the last layer) and the sentence embedding
    /// `[B, hidden]`: the mean over real tokens, L2-normalised (sentence-transformers'
    /// `Pooling(mean)` + `Normalize`).
    pub fn forward(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> (Tensor<3>, Tensor<2>) {
        let [b, l] = ids.dims();
        let tokens = self.hidden_states(ids, pad.clone()).pop().expect("at least the embeddings");
        let d = tokens.dims()[2];
        let keep = pad.bool_not().float().reshape([b, l, 1]);
        let count = keep.clone().sum_dim(1).clamp_min(1e-9);
        let mean: Tensor<2> = tokens.clone().mul(keep).sum_dim(1).div(count).reshape([b, d]);
        // max(‖m‖, 1e-12) as sqrt(max(Σm², 1e-24)): finite gradient at a zero mean.
        let norm = mean.clone().square().sum_dim(1).clamp_min(1e-24).sqrt();
        (tokens, mean.div(norm))
    }
}

#[cfg(feature = "pretrained")]
fn load_safetensors(model: &mut MiniLm, path: &Path) -> Result<(), WeightsError> {
    use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
    let mut store = SafetensorsStore::from_file(path)
        .with_from_adapter(PyTorchToBurnAdapter)
        .with_key_remapping(r"\.self\.", ".self_attn.")
        .with_key_remapping("LayerNorm", "layer_norm");
    let result = model.load_from(&mut store).map_err(|e| WeightsError::Load { path: path.to_path_buf(), reason: e.to_string() })?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        return Err(WeightsError::Load { path: path.to_path_buf(), reason: result.to_string() });
    }
    Ok(())
}

#[cfg(not(feature = "pretrained"))]
fn load_safetensors(_: &mut MiniLm, _: &Path) -> Result<(), WeightsError> {
    Err(WeightsError::NoLoader)
}
