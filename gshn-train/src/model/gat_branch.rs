//! The graph attention branch `F_GAT`: GAT layers over the batched segment graphs,
//!
//! ```text
//! F_GAT = GAT_L(ELU(… ELU(GAT_1(V))))
//! ```
//!
//! each layer run along `gshn-graph`'s [`GatPath`] (the dense path where it is measured
//! faster, the edge list otherwise; both give the same output).

use burn::module::Module;
use burn::tensor::activation::elu;
use burn::tensor::{Device, Tensor};
use gshn_graph::{GatConv, GatPath, GraphBatch};

use super::config::GatBranchConfig;

/// The GAT branch.
#[derive(Module, Debug)]
pub struct GatBranch {
    /// The layers.
    pub layers: Vec<GatConv>,
    /// Which implementation runs them.
    #[module(skip)]
    pub path: GatPath,
}

impl GatBranch {
    /// The branch for `d_model`-wide nodes.
    pub fn new(cfg: &GatBranchConfig, d_model: usize, device: &Device) -> gshn_graph::Result<Self> {
        let conv = cfg.conv(d_model);
        let layers = (0..cfg.layers).map(|_| conv.init(device)).collect::<gshn_graph::Result<_>>()?;
        Ok(Self { layers, path: cfg.gat_path() })
    }

    /// `F_GAT` `[ΣN, d_model]` of the graphs' node features `graph.x`.
    pub fn forward(&self, graph: &GraphBatch) -> gshn_graph::Result<Tensor<2>> {
        self.forward_along(graph, self.path)
    }

    /// [`forward`](Self::forward) along a given path (for checking one against the other).
    pub fn forward_along(&self, graph: &GraphBatch, path: GatPath) -> gshn_graph::Result<Tensor<2>> {
        let mut g = graph.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.forward_batch(&g, path)?;
            g.x = if i + 1 < self.layers.len() { elu(h, 1.0) } else { h };
        }
        Ok(g.x)
    }
}
