//! The autodiff side of the fused convolution: one graph node for convolution, bias and ReLU,
//! whose backward calls the wrapped backend's `conv_relu_backward`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::FloatTensor;
use burn::backend::Backend;

use super::ops::FusedConvOps;

/// The backward step; its parents are `[x, weight, bias]`.
#[derive(Debug)]
struct ConvReluBackward;

/// What the backward keeps from the forward: the input (its patches are rebuilt from it, not
/// saved), the weight and the output (whose sign is ReLU's derivative).
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    y: FloatTensor<B>,
}

impl<B: Backend + FusedConvOps> Backward<B, 3> for ConvReluBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Saved { x, weight, y } = ops.state;
        let (gx, gw, gb) = B::conv_relu_backward(x, weight, y, grad, node_x.is_some());
        if let Some(node) = node_x {
            grads.register::<B>(node.id, gx);
        }
        if let Some(node) = node_w {
            grads.register::<B>(node.id, gw);
        }
        if let Some(node) = node_b {
            grads.register::<B>(node.id, gb);
        }
    }
}

impl<B: Backend + FusedConvOps, C: CheckpointStrategy> FusedConvOps for Autodiff<B, C> {
    fn conv_relu_forward(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
        match ConvReluBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::conv_relu_forward(x.clone(), weight.clone(), bias);
                prep.finish(Saved { x, weight, y: y.clone() }, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv_relu_forward(x, weight, bias)),
        }
    }

    fn conv_relu_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_dx: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // Called directly on autodiff tensors only by a second-order use; the backward itself
        // is not differentiated: the gradients come back as constants.
        let (gx, gw, gb) = B::conv_relu_backward(x.into_primitive(), weight.into_primitive(), y.into_primitive(), grad.into_primitive(), need_dx);
        (FloatTensor::<Self>::new(gx), FloatTensor::<Self>::new(gw), FloatTensor::<Self>::new(gb))
    }
}
