//! The VQA head: question-conditioned attention over the fused node features, then an
//! answer classifier (the paper evaluates VQA; the head's form is ours, docs/paper-map.md).
//!
//! ```text
//! q      = W_q · TextEncoder(question)                      [Q, d]
//! α_qk   = softmax_k ⟨q, W_k V'_k⟩ / √d    over the nodes k of the question's image
//! p_q    = Σ_k α_qk V'_k
//! logits = W_o · ReLU(W_f [p_q ; q ; p_q ⊙ q])              [Q, answers]
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Bool, Device, Tensor};

/// Configuration of the [`VqaHead`].
#[derive(Config, Debug)]
pub struct VqaHeadConfig {
    /// Node feature width.
    pub d_model: usize,
    /// Question feature width (the text encoder's).
    pub text_width: usize,
    /// Answers.
    pub answers: usize,
}

/// Question-conditioned attention pooling and an answer classifier.
#[derive(Module, Debug)]
pub struct VqaHead {
    /// Question → query.
    pub query: Linear,
    /// Node → key.
    pub key: Linear,
    /// Fuses pooled nodes and the question.
    pub fuse: Linear,
    /// Answer logits.
    pub out: Linear,
}

/// What the head produced.
#[derive(Debug, Clone)]
pub struct VqaOutput {
    /// Answer logits `[Q, answers]`.
    pub logits: Tensor<2>,
    /// Attention over each question's image's node slots `[Q, N_max]` (0 on padding).
    pub attention: Tensor<2>,
}

impl VqaHeadConfig {
    /// Builds the head.
    pub fn init(&self, device: &Device) -> VqaHead {
        let d = self.d_model;
        VqaHead {
            query: LinearConfig::new(self.text_width, d).init(device),
            key: LinearConfig::new(d, d).init(device),
            fuse: LinearConfig::new(3 * d, d).init(device),
            out: LinearConfig::new(d, self.answers).init(device),
        }
    }
}

impl VqaHead {
    /// Answers questions `[Q, text_width]` about images whose nodes are given padded,
    /// `nodes` `[Q, N_max, d]` with `mask` `[Q, N_max]` true on real nodes (row `q` holds the
    /// nodes of question `q`'s image).
    pub fn forward(&self, question: Tensor<2>, nodes: Tensor<3>, mask: Tensor<2, Bool>) -> VqaOutput {
        let query = self.query.forward(question); // [Q, d]
        let keys = self.key.forward(nodes.clone()); // [Q, M, d]
        let (pooled, attention) = attention_pool(keys, query.clone(), nodes, mask);
        let h = relu(self.fuse.forward(Tensor::cat(vec![pooled.clone(), query.clone(), pooled.mul(query)], 1)));
        VqaOutput { logits: self.out.forward(h), attention }
    }
}

/// Text-conditioned attention pooling of each row's nodes: `α_k = softmax_k ⟨q, K_k⟩ / √d`
/// over the real nodes, `p = Σ_k α_k V'_k`. `keys` and `nodes` `[Q, M, d]`, `query` `[Q, d]`,
/// `mask` `[Q, M]` true on real nodes → (`p` `[Q, d]`, `α` `[Q, M]`, 0 on padding). The VQA,
/// entailment and NLVR² heads pool this way.
pub fn attention_pool(keys: Tensor<3>, query: Tensor<2>, nodes: Tensor<3>, mask: Tensor<2, Bool>) -> (Tensor<2>, Tensor<2>) {
    let [q, m, d] = nodes.dims();
    let scores: Tensor<2> = keys.matmul(query.reshape([q, d, 1])).reshape([q, m]).div_scalar((d as f64).sqrt());
    let attention = softmax(scores.mask_fill(mask.bool_not(), -1e9), 1);
    let pooled: Tensor<2> = attention.clone().reshape([q, 1, m]).matmul(nodes).reshape([q, d]);
    (pooled, attention)
}
