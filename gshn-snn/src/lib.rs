//! # gshn-snn
//!
//! Spiking neurons with surrogate gradients on Burn 0.22, proven against snnTorch and
//! SpikingJelly: the discrete branch `E_SNN` of a Graph Spiking Hybrid Network.
//!
//! * [`neuron`]: IF, LIF (τ or β form), PLIF (learnable τ); hard/soft/no reset, delayed or
//!   immediate; `≥` or `>` at the threshold; single-step with explicit state, or multi-step
//!   over a leading `[T, …]` axis.
//! * [`surrogate`]: ATan, Sigmoid, fast sigmoid, piecewise quadratic, straight-through —
//!   exactly 0/1 forward, the analytic derivative backward, on every backend.
//! * [`encoder`]: direct, rate (seeded Bernoulli) and latency (linear, log) codes.
//! * [`layer`]: multi-step spiking linear layer and time-folding helpers.
//! * [`network`]: a feed-forward stack of synapses and neurons.
//! * [`nir`]: NIR export and import (HDF5 `.nir` files), to and from snnTorch, SpikingJelly,
//!   Norse and neuromorphic hardware.
//! * [`stats`]: firing rates, synaptic operations and energy estimates.
//! * [`fused`]: the whole multi-step run of a neuron as one autodiff op with a hand-written
//!   backward, on flex (feature `fused-flex`) and WGPU/CubeCL (`fused-wgpu`); used by default
//!   where available.
//!
//! The crate enables no Burn backend: pick one with `burn`'s `flex` or `wgpu` feature. Its
//! features `fused-flex` and `fused-wgpu` add the fused neuron kernels for those backends
//! (and enable them in Burn).
//!
//! ```no_run
//! use burn::tensor::{Device, Tensor};
//! use gshn_snn::neuron::{LifConfig, SpikingNeuron};
//!
//! let device = Device::flex();
//! let lif = LifConfig::new().init(&device).unwrap();
//! let x = Tensor::<3>::ones([4, 2, 8], &device); // [T, N, F]
//! let spikes = lif.forward(x).unwrap();           // 0/1, [T, N, F]
//! ```

#![warn(missing_docs)]

pub mod config_serde;
pub mod encoder;
pub mod error;
pub mod fused;
pub mod layer;
pub mod network;
pub mod neuron;
pub mod nir;
pub mod rng;
pub mod stats;
pub mod surrogate;

pub use error::{Result, SnnError};
pub use neuron::{Neuron, NeuronConfig, SpikingNeuron};
pub use surrogate::{FireCondition, Surrogate};
