//! The backend extension: one forward and one backward operation per backend.

use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, ExtensionType};

use super::FusedSpec;

/// Where a run starts: a fresh state (`V = V_reset` or 0, no spike) or a given one.
#[derive(ExtensionType)]
#[extension_type(fusion: cfg(feature = "fused-wgpu"))]
pub enum StartState<B: Backend> {
    /// A fresh neuron.
    Fresh,
    /// The state after an earlier run: membrane `v` and last spikes `s`, each `[1, N]`.
    Given {
        /// Membrane `V` (or `M` for delayed resets).
        v: FloatTensor<B>,
        /// Spikes of the last step.
        s: FloatTensor<B>,
    },
}

/// PLIF's learned gain `k = sigmoid(w) = 1/τ`, or none for the other models.
#[derive(ExtensionType)]
#[extension_type(fusion: cfg(feature = "fused-wgpu"))]
pub enum LeakGain<B: Backend> {
    /// The charge has no learned parameter.
    Fixed,
    /// `k`, shape `[1]`.
    Learned(FloatTensor<B>),
}

/// The fused multi-step neuron, implemented per backend (`flex.rs`, `cube.rs`) and for
/// autodiff (`autodiff.rs`, which calls the backward of the backend it wraps).
#[backend_extension(
    Flex: cfg(feature = "fused-flex"),
    Cube: cfg(feature = "fused-wgpu"),
    Fusion: cfg(feature = "fused-wgpu"),
    Autodiff,
)]
pub trait FusedNeuronOps: Backend {
    /// The forward pass over `x: [T, N]`. Returns the spikes `[T, N]` (or spikes then membrane,
    /// `[2T, N]`, with `spec.with_membrane`) and, with `spec.save_h`, the values compared with
    /// the threshold, `H[t]` `[T, N]`, for the backward — or a `[1, 1]` placeholder, also where
    /// the backend recomputes them in the backward (flex).
    #[fusion(meta = forward_meta)]
    fn neuron_multi_forward(
        x: FloatTensor<Self>,
        #[extension_type] start: StartState<Self>,
        #[extension_type] gain: LeakGain<Self>,
        spec: FusedSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The backward pass: from `H[t]` and the gradient of the forward's first output, returns
    /// `∂L/∂x` `[T, N]` and `[rows, N]` (`FusedSpec::aux_rows`): `∂L/∂V₀`, `∂L/∂S₀` (given
    /// start), then per-neuron partial sums of `∂L/∂k` (PLIF). `x` is the forward's input and
    /// `h` its second output.
    #[fusion(meta = backward_meta)]
    fn neuron_multi_backward(
        x: FloatTensor<Self>,
        h: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        #[extension_type] start: StartState<Self>,
        #[extension_type] gain: LeakGain<Self>,
        spec: FusedSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

#[cfg(feature = "fused-wgpu")]
use burn::backend::fusion::custom::TensorSpec;

#[cfg(feature = "fused-wgpu")]
fn forward_meta(x: &TensorSpec, _start: &StartStateMetadata, _gain: &LeakGainMetadata, spec: &FusedSpec) -> (TensorSpec, TensorSpec) {
    let [t, n] = x.shape.dims::<2>();
    let out = TensorSpec::new([spec.out_rows() * t, n].into(), x.dtype);
    let h = if spec.save_h { [t, n] } else { [1, 1] };
    (out, TensorSpec::new(h.into(), x.dtype))
}

#[cfg(feature = "fused-wgpu")]
fn backward_meta(
    _x: &TensorSpec,
    h: &TensorSpec,
    _grad: &TensorSpec,
    start: &StartStateMetadata,
    _gain: &LeakGainMetadata,
    spec: &FusedSpec,
) -> (TensorSpec, TensorSpec) {
    let [_, n] = h.shape.dims::<2>();
    let given = matches!(start, StartStateMetadata::Given { .. });
    (h.clone(), TensorSpec::new([spec.aux_rows(given), n].into(), h.dtype))
}
