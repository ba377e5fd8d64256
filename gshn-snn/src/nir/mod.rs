//! NIR — the Neuromorphic Intermediate Representation (Pedersen et al., Nature
//! Communications 2024) — in and out of gshn-snn: the format snnTorch, Norse, SpikingJelly,
//! Sinabs, Rockpool, Spyx and Nengo write and read, and Lava-DL and SpiNNaker2 read.
//!
//! * [`export`]: a [`SpikingNetwork`](crate::network::SpikingNetwork) → a [`NirGraph`], the
//!   discrete neurons mapped so that a simulator stepping by `dt` recovers them exactly;
//! * [`import`]: a [`NirGraph`] → a network on any Burn backend (flex, wgpu), with an error
//!   naming the node for anything gshn-snn cannot run;
//! * [`file`]: NIR's HDF5 file (`.nir`), read and written in pure Rust.
//!
//! ```no_run
//! use burn::tensor::Device;
//! use gshn_snn::nir;
//!
//! let device = Device::flex();
//! let graph = nir::read("snntorch_net.nir")?;
//! let net = nir::import(&graph, &nir::ImportOptions::default(), &device)?.network;
//! let exported = nir::export(&net, &nir::ExportOptions::default())?;
//! nir::write("back.nir", &exported.graph)?;
//! # Ok::<(), gshn_snn::nir::NirError>(())
//! ```
//!
//! `docs/snn.md` ("NIR") has the mapping table, the node list and the conventions.

pub mod error;
pub mod export;
pub mod file;
pub mod graph;
pub mod import;

pub use error::{NirError, Result};
pub use export::{export, Export, ExportOptions};
pub use file::{read, read_bytes, write, write_bytes, NIR_VERSION};
pub use graph::{Entry, NirArray, NirGraph, NirNode, Node, Value};
pub use import::{import, Import, ImportOptions};

/// The simulation step both snnTorch and SpikingJelly assume for NIR files, seconds (NIR
/// files do not record one).
pub const DEFAULT_DT: f64 = 1e-4;

/// The NIR node types gshn-snn runs.
pub const SUPPORTED_NODES: [&str; 7] = ["Input", "Output", "Affine", "Linear", "IF", "LIF", "Flatten"];
