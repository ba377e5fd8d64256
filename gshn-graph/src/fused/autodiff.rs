//! The autodiff side of the fused aggregation: one graph node for softmax and aggregation,
//! whose backward calls the wrapped backend's `gat_aggregate_backward`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::Backend;

use super::ops::FusedGatOps;

/// The backward step; its parents are `[scores, x]`.
#[derive(Debug)]
struct AggregateBackward;

/// What the backward keeps from the forward: `α` `[E, H]`, `x` `[N, H, C]` and the index.
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    alpha: FloatTensor<B>,
    x: FloatTensor<B>,
    index: IntTensor<B>,
}

impl<B: Backend + FusedGatOps> Backward<B, 2> for AggregateBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_scores, node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Saved { alpha, x, index } = ops.state;
        let (g_scores, g_x) = B::gat_aggregate_backward(alpha, x, grad, index);
        if let Some(node) = node_scores {
            grads.register::<B>(node.id, g_scores);
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, g_x);
        }
    }
}

/// A constant (untracked) autodiff tensor.
fn constant<B: Backend, C: CheckpointStrategy>(t: FloatTensor<B>) -> FloatTensor<Autodiff<B, C>> {
    FloatTensor::<Autodiff<B, C>>::new(t)
}

impl<B: Backend + FusedGatOps, C: CheckpointStrategy> FusedGatOps for Autodiff<B, C> {
    fn gat_aggregate_forward(scores: FloatTensor<Self>, x: FloatTensor<Self>, index: IntTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (node_scores, node_x) = (scores.node(), x.node());
        let (scores, x) = (scores.into_primitive(), x.into_primitive());
        match AggregateBackward.prepare::<C>([node_scores, node_x]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, alpha) = B::gat_aggregate_forward(scores, x.clone(), index.clone());
                let saved = Saved { alpha: alpha.clone(), x, index };
                (prep.finish(saved, out), constant::<B, C>(alpha))
            }
            OpsKind::UnTracked(prep) => {
                let (out, alpha) = B::gat_aggregate_forward(scores, x, index);
                (prep.finish(out), constant::<B, C>(alpha))
            }
        }
    }

    fn gat_aggregate_backward(
        alpha: FloatTensor<Self>,
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        index: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Called directly on autodiff tensors only by a second-order use; the backward itself
        // is not differentiated: the gradients come back as constants.
        let (gs, gx) = B::gat_aggregate_backward(alpha.into_primitive(), x.into_primitive(), grad.into_primitive(), index);
        (constant::<B, C>(gs), constant::<B, C>(gx))
    }
}
