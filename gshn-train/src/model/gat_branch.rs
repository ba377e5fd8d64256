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
use gshn_graph::{GatConv, GatPath, GatVariant, GraphBatch};

use crate::batch::{ImageBatch, SPARE_ROWS};
use gshn_graph::GatConvConfig;
use serde::{Deserialize, Serialize};

/// Largest padded block (nodes per image) the branch runs dense under `GatPath::Auto`.
/// Measured on the default run's training step (`gshn bench train --device flex`, 20 steps,
/// three alternating runs, nothing else running, load average 1.3–1.6 from the benchmark's own
/// two threads): dense blocks 170 images/s (p50 0.369–0.376 s)
/// against 135–147 images/s (0.425–0.471 s) for the fused edge list over the padded rows — the
/// opposite of a lone layer (`compare-gat`), where the fused edge list wins at every size.
pub const BRANCH_DENSE_MAX_NODES: usize = 32;

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
    /// Whether `path` runs dense on blocks of `m` nodes: `Dense`, or `Auto` for GATConv
    /// layers on blocks of at most [`BRANCH_DENSE_MAX_NODES`]. (The branch keeps its own rule:
    /// a lone layer is fastest on the fused edge list at every size, but the branch's padded
    /// blocks train faster dense — see the constant.)
    pub fn dense_for(&self, path: GatPath, m: usize) -> bool {
        let v1 = self.layers.iter().all(|l| l.variant == GatVariant::V1);
        match path {
            GatPath::Dense => true,
            GatPath::EdgeList => false,
            GatPath::Auto => v1 && m <= BRANCH_DENSE_MAX_NODES,
        }
    }

    /// `F_GAT` `[B·M, d_model]` of the padded tokens `v` `[B, M, d_model]` of `batch`, along
    /// the branch's path: dense blocks (`GatConv::forward_padded`), or the edge list over the
    /// padded rows and the spare rows (`GatConv::forward`). Shapes depend only on `B`, `M`
    /// and the bucketed edge count.
    pub fn forward(&self, v: Tensor<3>, batch: &ImageBatch) -> gshn_graph::Result<Tensor<2>> {
        self.forward_padded_along(v, batch, self.path)
    }

    /// [`forward`](Self::forward) along a given path.
    pub fn forward_padded_along(&self, v: Tensor<3>, batch: &ImageBatch, path: GatPath) -> gshn_graph::Result<Tensor<2>> {
        let [b, m, d] = v.dims();
        let last = self.layers.len() - 1;
        if self.dense_for(path, m) {
            let mut x = v;
            for (i, layer) in self.layers.iter().enumerate() {
                let h = layer.forward_padded(x, batch.adjacency.clone())?.0;
                x = if i < last { elu(h, 1.0) } else { h };
            }
            let w = x.dims()[2];
            return Ok(x.reshape([b * m, w]));
        }
        let mut x = Tensor::cat(vec![v.reshape([b * m, d]), Tensor::zeros([SPARE_ROWS, d], &batch.pixels.device())], 0);
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.forward(x, &batch.edges, None)?.out;
            x = if i < last { elu(h, 1.0) } else { h };
        }
        Ok(x.narrow(0, 0, b * m))
    }

    /// `F_GAT` `[ΣN, d_model]` of unpadded batched graphs (`graph.x` the node features) along
    /// `path` — for library users with their own graphs.
    pub fn forward_along(&self, graph: &GraphBatch, path: GatPath) -> gshn_graph::Result<Tensor<2>> {
        let mut g = graph.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.forward_batch(&g, path)?;
            g.x = if i + 1 < self.layers.len() { elu(h, 1.0) } else { h };
        }
        Ok(g.x)
    }
}

/// GATConv or GATv2Conv, in config files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GatVariantChoice {
    /// GATConv (static attention). Default.
    #[default]
    V1,
    /// GATv2Conv (dynamic attention).
    V2,
}

/// Which implementation the GAT layers run, in config files (`gshn-graph`'s [`GatPath`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GatPathChoice {
    /// Dense where measured faster (small graphs, GATConv without edge features). Default.
    #[default]
    Auto,
    /// Masked dense attention over `[B, H, N_max, N_max]`.
    Dense,
    /// Gather/scatter over the edge list.
    EdgeList,
}

/// The GAT branch: `layers` GAT layers of `heads` heads each (`d_model / heads` channels per
/// head, concatenated), ELU between layers. The fields are those of `gshn-graph`'s
/// `GatConvConfig` (PyG's names and defaults), plus the depth and the implementation path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatBranchConfig {
    /// Layers. Default 2.
    pub layers: usize,
    /// Attention heads per layer. Default 4.
    pub heads: usize,
    /// `v1` (GATConv) or `v2` (GATv2Conv). Default `v1`.
    pub variant: GatVariantChoice,
    /// GATv2: one weight matrix for sources and targets. Default false (PyG).
    pub share_weights: bool,
    /// Concatenate the heads (else average them, each head `d_model` wide). Default true.
    pub concat: bool,
    /// LeakyReLU slope. Default 0.2.
    pub negative_slope: f64,
    /// Attention dropout (training only). Default 0.
    pub dropout: f64,
    /// Replace self loops with one per node. Default true.
    pub add_self_loops: bool,
    /// Output bias. Default true.
    pub bias: bool,
    /// Linear skip connection. Default false.
    pub residual: bool,
    /// Implementation. Default `auto`.
    pub path: GatPathChoice,
}

impl Default for GatBranchConfig {
    fn default() -> Self {
        Self {
            layers: 2,
            heads: 4,
            variant: GatVariantChoice::V1,
            share_weights: false,
            concat: true,
            negative_slope: 0.2,
            dropout: 0.0,
            add_self_loops: true,
            bias: true,
            residual: false,
            path: GatPathChoice::Auto,
        }
    }
}

impl GatBranchConfig {
    /// The layer config for `d_model`-wide nodes.
    pub fn conv(&self, d_model: usize) -> GatConvConfig {
        let out = if self.concat { d_model / self.heads.max(1) } else { d_model };
        GatConvConfig::new(d_model, out)
            .with_heads(self.heads)
            .with_concat(self.concat)
            .with_negative_slope(self.negative_slope)
            .with_dropout(self.dropout)
            .with_add_self_loops(self.add_self_loops)
            .with_bias(self.bias)
            .with_residual(self.residual)
            .with_variant(match self.variant {
                GatVariantChoice::V1 => GatVariant::V1,
                GatVariantChoice::V2 => GatVariant::V2 { share_weights: self.share_weights },
            })
    }

    /// The implementation path.
    pub fn gat_path(&self) -> GatPath {
        match self.path {
            GatPathChoice::Auto => GatPath::Auto,
            GatPathChoice::Dense => GatPath::Dense,
            GatPathChoice::EdgeList => GatPath::EdgeList,
        }
    }
}

impl GatBranchConfig {
    /// The branch for `d_model`-wide nodes.
    pub fn init(&self, d_model: usize, device: &Device) -> gshn_graph::Result<GatBranch> {
        let conv = self.conv(d_model);
        let layers = (0..self.layers).map(|_| conv.init(device)).collect::<gshn_graph::Result<_>>()?;
        Ok(GatBranch { layers, path: self.gat_path() })
    }
}
