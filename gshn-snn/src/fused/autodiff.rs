//! The autodiff side of the fused neuron: one graph node for the whole run, whose backward
//! calls the wrapped backend's `neuron_multi_backward`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Slice, TensorMetadata};

use super::ops::{FusedNeuronOps, LeakGain, StartState};
use super::FusedSpec;

/// The backward step; its parents are `[x, v₀, s₀, k]`, where an absent input (fresh start,
/// no learned gain) is filled with `x`'s node and marked absent in the state.
#[derive(Debug)]
struct NeuronBackward;

/// What the backward keeps from the forward.
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    /// The input: flex recomputes `H[t]` from it; CubeCL reads it for PLIF with `decay_input`.
    x: FloatTensor<B>,
    /// `H[t]`, `[T, N]`, or a placeholder where the backend recomputes it.
    h: FloatTensor<B>,
    /// The given start state `(v₀, s₀)`.
    start: Option<(FloatTensor<B>, FloatTensor<B>)>,
    /// PLIF's gain.
    k: Option<FloatTensor<B>>,
    spec: FusedSpec,
}

impl<B: Backend + FusedNeuronOps> Backward<B, 4> for NeuronBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_v, node_s, node_k] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Saved { x, h, start, k, spec } = ops.state;
        let given = start.is_some();
        let learned = k.is_some();
        let start_state = match start {
            None => StartState::Fresh,
            Some((v, s)) => StartState::Given { v, s },
        };
        let gain = match k {
            None => LeakGain::Fixed,
            Some(k) => LeakGain::Learned(k),
        };
        let (gx, aux) = B::neuron_multi_backward(x, h, grad, start_state, gain, spec);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, gx);
        }
        let n = aux.shape()[1];
        let row = |i: usize| B::float_slice(aux.clone(), &[Slice::from(i..i + 1), Slice::from(0..n)]);
        if given {
            if let Some(node) = node_v {
                grads.register::<B>(node.id, row(0));
            }
            if let Some(node) = node_s {
                grads.register::<B>(node.id, row(1));
            }
        }
        if learned {
            if let Some(node) = node_k {
                let gk = B::float_sum(row(if given { 2 } else { 0 }));
                grads.register::<B>(node.id, gk);
            }
        }
    }
}

/// A constant (untracked) autodiff tensor.
fn constant<B: Backend, C: CheckpointStrategy>(t: FloatTensor<B>) -> FloatTensor<Autodiff<B, C>> {
    FloatTensor::<Autodiff<B, C>>::new(t)
}

impl<B: Backend + FusedNeuronOps, C: CheckpointStrategy> FusedNeuronOps for Autodiff<B, C> {
    fn neuron_multi_forward(x: FloatTensor<Self>, start: StartState<Self>, gain: LeakGain<Self>, spec: FusedSpec) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Guards first, then the primitives.
        let node_x = x.node();
        let (node_v, node_s, start) = match start {
            StartState::Fresh => (x.node(), x.node(), None),
            StartState::Given { v, s } => (v.node(), s.node(), Some((v.into_primitive(), s.into_primitive()))),
        };
        let (node_k, k) = match gain {
            LeakGain::Fixed => (x.node(), None),
            LeakGain::Learned(k) => (k.node(), Some(k.into_primitive())),
        };
        let x = x.into_primitive();
        let inner_start = |start: &Option<(FloatTensor<B>, FloatTensor<B>)>| match start {
            None => StartState::Fresh,
            Some((v, s)) => StartState::Given { v: v.clone(), s: s.clone() },
        };
        let inner_gain = |k: &Option<FloatTensor<B>>| match k {
            None => LeakGain::Fixed,
            Some(k) => LeakGain::Learned(k.clone()),
        };
        match NeuronBackward.prepare::<C>([node_x, node_v, node_s, node_k]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let spec = FusedSpec { save_h: true, ..spec };
                let (out, h) = B::neuron_multi_forward(x.clone(), inner_start(&start), inner_gain(&k), spec);
                let saved = Saved { x, h: h.clone(), start, k, spec };
                (prep.finish(saved, out), constant::<B, C>(h))
            }
            OpsKind::UnTracked(prep) => {
                let spec = FusedSpec { save_h: false, ..spec };
                let (out, h) = B::neuron_multi_forward(x, inner_start(&start), inner_gain(&k), spec);
                (prep.finish(out), constant::<B, C>(h))
            }
        }
    }

    fn neuron_multi_backward(
        x: FloatTensor<Self>,
        h: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        start: StartState<Self>,
        gain: LeakGain<Self>,
        spec: FusedSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Called directly on autodiff tensors only by a second-order use; the backward itself
        // is not differentiated: the gradients come back as constants.
        let start = match start {
            StartState::Fresh => StartState::Fresh,
            StartState::Given { v, s } => StartState::Given { v: v.into_primitive(), s: s.into_primitive() },
        };
        let gain = match gain {
            LeakGain::Fixed => LeakGain::Fixed,
            LeakGain::Learned(k) => LeakGain::Learned(k.into_primitive()),
        };
        let (gx, aux) = B::neuron_multi_backward(x.into_primitive(), h.into_primitive(), grad.into_primitive(), start, gain, spec);
        (constant::<B, C>(gx), constant::<B, C>(aux))
    }
}
