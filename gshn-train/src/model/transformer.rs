//! The scratch text encoder's transformer: Burn's `TransformerEncoder` modules (their
//! parameters, records and initialisation unchanged) run the way
//! `TransformerEncoderLayer::forward` and `MultiHeadAttention::forward` run them, op for op,
//! with each of a layer's four dropouts (attention weights, feed-forward hidden layer, the two
//! residual branches) taken by [`super::dropout::dropout`], whose mask is fast on flex.
//! Per layer (pre-norm, `norm_first`; post-norm as Burn's):
//!
//! ```text
//! A = softmax(Q·Kᵀ/√d_k, pad → min_float),   x ← x + drop(W_o·[drop(A)·V])
//! x ← x + drop(W₂·drop(act(W₁·LN(x) + b₁)) + b₂)
//! ```

use burn::nn::attention::MultiHeadAttention;
use burn::nn::transformer::{PositionWiseFeedForward, TransformerEncoder, TransformerEncoderInput, TransformerEncoderLayer};
use burn::nn::Linear;
use burn::tensor::activation::{quiet_softmax, softmax};
use burn::tensor::{Bool, Tensor};

use super::dropout::dropout;

/// The encoder's output `[B, L, d]` for embeddings `x: [B, L, d]` with padding `pad: [B, L]`.
/// `fast = false` is Burn's `TransformerEncoder::forward` itself.
pub fn encode(encoder: &TransformerEncoder, x: Tensor<3>, pad: Tensor<2, Bool>, fast: bool) -> Tensor<3> {
    if !fast {
        return encoder.forward(TransformerEncoderInput::new(x).mask_pad(pad));
    }
    encoder.layers.iter().fold(x, |x, layer| encoder_layer(layer, x, &pad))
}

/// One `TransformerEncoderLayer` (its `forward` with a padding mask and no attention mask).
fn encoder_layer(layer: &TransformerEncoderLayer, x: Tensor<3>, pad: &Tensor<2, Bool>) -> Tensor<3> {
    let residual = if layer.norm_first { layer.norm_2.forward(x.clone()) } else { x.clone() };
    let residual = dropout(&layer.dropout, self_attention(&layer.mha, residual, pad));
    let mut x = x + residual;
    let residual = if layer.norm_first {
        layer.norm_1.forward(x.clone())
    } else {
        x = layer.norm_1.forward(x);
        x.clone()
    };
    let residual = dropout(&layer.dropout, feed_forward(&layer.pwff, residual));
    let x = x + residual;
    if layer.norm_first {
        x
    } else {
        layer.norm_2.forward(x)
    }
}

/// `MultiHeadAttention::forward` on `MhaInput::self_attn(x).mask_pad(pad)`: the context.
fn self_attention(mha: &MultiHeadAttention, x: Tensor<3>, pad: &Tensor<2, Bool>) -> Tensor<3> {
    let [b, l, d] = x.dims();
    let heads = |linear: &Linear| linear.forward(x.clone()).reshape([b, l, mha.n_heads, mha.d_k]).swap_dims(1, 2);
    let (query, key, value) = (heads(&mha.query), heads(&mha.key), heads(&mha.value));
    let scores = query.matmul(key.transpose()).div_scalar((mha.d_k as f32).sqrt());
    let scores = scores.mask_fill(pad.clone().reshape([b, 1, 1, l]), mha.min_float);
    let weights = if mha.quiet_softmax { quiet_softmax(scores, 3) } else { softmax(scores, 3) };
    let weights = dropout(&mha.dropout, weights);
    let context = weights.matmul(value).swap_dims(1, 2).reshape([b, l, d]);
    mha.output.forward(context)
}

/// `PositionWiseFeedForward::forward`.
fn feed_forward(pwff: &PositionWiseFeedForward, x: Tensor<3>) -> Tensor<3> {
    let hidden = dropout(&pwff.dropout, pwff.activation.forward(pwff.linear_inner.forward(x)));
    pwff.linear_outer.forward(hidden)
}
