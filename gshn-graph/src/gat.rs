//! Graph attention layers with PyTorch Geometric's semantics: `GATConv` (Veličković et al.
//! 2018) and `GATv2Conv` (Brody et al. 2022).
//!
//! GATConv, for an edge `j → i` (source j, target i), heads `h`:
//!
//! ```text
//! x'_j = x_j W                                  (W: [F_in, H·C], no bias)
//! e_ij = LeakyReLU(a_srcᵀ x'_j + a_dstᵀ x'_i + a_edgeᵀ (W_e e_ji))
//! α_ij = softmax over the edges into i (max detached, + 1e-16 in the denominator)
//! out_i = Σ_j α_ij x'_j          → concat heads or average them, + x W_res, + bias
//! ```
//!
//! GATv2Conv: `e_ij = aᵀ LeakyReLU(x_j W_l + x_i W_r + W_e e_ji)`, `out_i = Σ_j α_ij x_j W_l`,
//! with `W_r = W_l` when `share_weights` (`W_l`, `W_r` carry biases when `bias`).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, IndexingUpdateOp, Tensor};

use crate::batch::GraphBatch;
use crate::edges::EdgeList;
use crate::error::GraphError;
use crate::scatter::{dense_adjacency, index_tensor, segment_aggregate, segment_softmax};

/// How the attributes of added self loops are filled (PyG `fill_value`).
#[derive(Config, Debug, Copy, PartialEq)]
pub enum FillValue {
    /// The mean of the node's incoming edge attributes (0 without any). PyG's default.
    Mean,
    /// A constant.
    Constant(f64),
}

/// Which attention form.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum GatVariant {
    /// GATConv: static attention `a_srcᵀx_j + a_dstᵀx_i`.
    V1,
    /// GATv2Conv: dynamic attention `aᵀLeakyReLU(x_jW_l + x_iW_r)`.
    V2 {
        /// Use one matrix for sources and targets.
        share_weights: bool,
    },
}

/// Configuration of a [`GatConv`] layer (PyG's parameter names and defaults).
#[derive(Config, Debug)]
pub struct GatConvConfig {
    /// Input features.
    pub in_channels: usize,
    /// Output features per head.
    pub out_channels: usize,
    /// Attention heads. Default 1.
    #[config(default = 1)]
    pub heads: usize,
    /// Concatenate the heads (`H·C` outputs) or average them (`C`). Default true.
    #[config(default = true)]
    pub concat: bool,
    /// LeakyReLU slope. Default 0.2.
    #[config(default = 0.2)]
    pub negative_slope: f64,
    /// Dropout on the attention coefficients (training only). Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Remove existing self loops, then add one per node. Default true.
    #[config(default = true)]
    pub add_self_loops: bool,
    /// Edge feature width, if edges carry features. Default none.
    #[config(default = "None")]
    pub edge_dim: Option<usize>,
    /// Attributes of the added self loops. Default mean.
    #[config(default = "FillValue::Mean")]
    pub fill_value: FillValue,
    /// Output bias. Default true.
    #[config(default = true)]
    pub bias: bool,
    /// Add a linear skip connection `x W_res`. Default false.
    #[config(default = false)]
    pub residual: bool,
    /// GATConv or GATv2Conv. Default GATConv.
    #[config(default = "GatVariant::V1")]
    pub variant: GatVariant,
    /// Run the edge-list path's softmax + aggregation `out_i = Σ_{j→i} softmax_i(e)_j x_j` as one
    /// fused op ([`crate::fused`]) where this build has a kernel for the backend (features
    /// `fused-flex`, `fused-wgpu`) and no attention dropout is active. Default true; false
    /// always runs the unfused Burn ops. Not a PyG parameter.
    #[config(default = true)]
    pub fused: bool,
}

/// The output of a graph attention layer.
#[derive(Debug, Clone)]
pub struct GatOutput {
    /// Node features `[N, H·C]` (concat) or `[N, C]`.
    pub out: Tensor<2>,
    /// The edges attention ran over (after self-loop handling), in order.
    pub edges: EdgeList,
    /// Attention weights `[E, H]` over those edges.
    pub attention: Tensor<2>,
}

/// A graph attention layer (GATConv or GATv2Conv).
#[derive(Module, Debug)]
pub struct GatConv {
    /// `W` (GATConv) or `W_l` (GATv2Conv), `[F_in, H·C]`.
    pub lin: Linear,
    /// `W_r` for GATv2Conv without shared weights.
    pub lin_r: Option<Linear>,
    /// `a_src` `[H, C]` (GATConv), or `a` (GATv2Conv).
    pub att_src: Param<Tensor<2>>,
    /// `a_dst` `[H, C]` (GATConv only).
    pub att_dst: Option<Param<Tensor<2>>>,
    /// `W_e` `[edge_dim, H·C]`.
    pub lin_edge: Option<Linear>,
    /// `a_edge` `[H, C]` (GATConv with edge features).
    pub att_edge: Option<Param<Tensor<2>>>,
    /// `W_res`.
    pub res: Option<Linear>,
    /// Output bias.
    pub bias: Option<Param<Tensor<1>>>,
    /// Attention dropout.
    pub dropout: Dropout,
    /// Heads.
    pub heads: usize,
    /// Channels per head.
    pub out_channels: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Concatenate heads.
    pub concat: bool,
    /// LeakyReLU slope.
    pub negative_slope: f64,
    /// Self-loop handling.
    pub add_self_loops: bool,
    /// Self-loop attributes.
    #[module(skip)]
    pub fill_value: FillValue,
    /// GATConv or GATv2Conv.
    #[module(skip)]
    pub variant: GatVariant,
    /// Fused softmax + aggregation on the edge-list path ([`GatConvConfig::fused`]).
    #[module(skip)]
    pub fused: bool,
}

impl GatConvConfig {
    /// Validates the config and builds the layer with Glorot-initialised weights and a zero bias.
    pub fn init(&self, device: &Device) -> crate::Result<GatConv> {
        let bad = |name, reason: &str| Err(GraphError::InvalidParameter { name, reason: reason.into() });
        if self.in_channels == 0 || self.out_channels == 0 || self.heads == 0 {
            return bad("channels", "in_channels, out_channels and heads must be ≥ 1");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", "must lie in [0, 1)");
        }
        if !self.negative_slope.is_finite() {
            return bad("negative_slope", "must be finite");
        }
        if self.edge_dim == Some(0) {
            return bad("edge_dim", "must be ≥ 1 when given");
        }
        let (h, c) = (self.heads, self.out_channels);
        let glorot = Initializer::XavierUniform { gain: 1.0 };
        let lin = |i: usize, o: usize, bias: bool| LinearConfig::new(i, o).with_bias(bias).with_initializer(glorot.clone()).init(device);
        let att = || glorot.init_with([h, c], Some(h), Some(c), device);
        let v2 = matches!(self.variant, GatVariant::V2 { .. });
        let total = if self.concat { h * c } else { c };
        Ok(GatConv {
            lin: lin(self.in_channels, h * c, v2 && self.bias),
            lin_r: match self.variant {
                GatVariant::V2 { share_weights: false } => Some(lin(self.in_channels, h * c, self.bias)),
                _ => None,
            },
            att_src: att(),
            att_dst: (!v2).then(att),
            lin_edge: self.edge_dim.map(|d| lin(d, h * c, false)),
            att_edge: (self.edge_dim.is_some() && !v2).then(att),
            res: self.residual.then(|| lin(self.in_channels, total, false)),
            bias: self.bias.then(|| Param::from_tensor(Tensor::zeros([total], device))),
            dropout: DropoutConfig::new(self.dropout).init(),
            heads: h,
            out_channels: c,
            in_channels: self.in_channels,
            concat: self.concat,
            negative_slope: self.negative_slope,
            add_self_loops: self.add_self_loops,
            fill_value: self.fill_value,
            variant: self.variant,
            fused: self.fused,
        })
    }
}

impl GatConv {
    /// Output width: `H·C` when concatenating, else `C`.
    pub fn output_width(&self) -> usize {
        if self.concat {
            self.heads * self.out_channels
        } else {
            self.out_channels
        }
    }

    /// Runs the layer on node features `x` `[N, F_in]` over `edges`, with optional edge
    /// features `[E, edge_dim]`.
    pub fn forward(&self, x: Tensor<2>, edges: &EdgeList, edge_attr: Option<Tensor<2>>) -> crate::Result<GatOutput> {
        let [n, f] = x.dims();
        if n == 0 {
            return Err(GraphError::EmptyGraph(0));
        }
        if f != self.in_channels {
            return Err(GraphError::ShapeMismatch(format!("x has {f} features, the layer expects {}", self.in_channels)));
        }
        if edges.num_nodes != n {
            return Err(GraphError::ShapeMismatch(format!("the edge list is for {} nodes, x has {n}", edges.num_nodes)));
        }
        edges.validate()?;
        let device = x.device();
        let edge_attr = match (&self.lin_edge, edge_attr) {
            (Some(lin_edge), Some(a)) => {
                let [e, d] = a.dims();
                let want = lin_edge.weight.dims()[0];
                if e != edges.len() || d != want {
                    return Err(GraphError::ShapeMismatch(format!("edge_attr is [{e}, {d}], expected [{}, {want}]", edges.len())));
                }
                Some(a)
            }
            (Some(_), None) => return Err(GraphError::ShapeMismatch("the layer has edge_dim but no edge_attr was given".into())),
            (None, Some(_)) => return Err(GraphError::ShapeMismatch("edge_attr given to a layer without edge_dim".into())),
            (None, None) => None,
        };
        let (edges, edge_attr) = if self.add_self_loops { self.self_loops(edges, edge_attr, &device) } else { (edges.clone(), edge_attr) };
        let (h, c) = (self.heads, self.out_channels);
        let e = edges.len();
        let (src, dst) = edges.to_tensors(&device);
        let res = self.res.as_ref().map(|r| r.forward(x.clone()));
        let xl: Tensor<3> = self.lin.forward(x.clone()).reshape([n, h, c]);
        let edge_feat: Option<Tensor<3>> = edge_attr.map(|a| self.lin_edge.as_ref().expect("checked").forward(a).reshape([e, h, c]));
        let att = |p: &Param<Tensor<2>>| p.val().reshape([1, h, c]);
        let scores: Tensor<2> = match self.variant {
            GatVariant::V1 => {
                let a_src: Tensor<2> = xl.clone().mul(att(&self.att_src)).sum_dim(2).reshape([n, h]);
                let a_dst: Tensor<2> = xl.clone().mul(att(self.att_dst.as_ref().expect("V1 has a_dst"))).sum_dim(2).reshape([n, h]);
                let mut s = a_src.select(0, src.clone()).add(a_dst.select(0, dst.clone()));
                if let (Some(ef), Some(ae)) = (edge_feat, &self.att_edge) {
                    s = s.add(ef.mul(att(ae)).sum_dim(2).reshape([e, h]));
                }
                leaky_relu(s, self.negative_slope)
            }
            GatVariant::V2 { .. } => {
                let xr: Tensor<3> = match &self.lin_r {
                    Some(lr) => lr.forward(x).reshape([n, h, c]),
                    None => xl.clone(),
                };
                let mut m = xl.clone().select(0, src.clone()).add(xr.select(0, dst.clone()));
                if let Some(ef) = edge_feat {
                    m = m.add(ef);
                }
                leaky_relu(m, self.negative_slope).mul(att(&self.att_src)).sum_dim(2).reshape([e, h])
            }
        };
        let (agg, alpha) = if self.runs_fused(&xl) {
            self.fused_aggregate(scores, xl, &edges)
        } else {
            let alpha = self.dropout.forward(segment_softmax(scores, dst.clone(), n));
            (segment_aggregate(xl, alpha.clone(), src, dst), alpha)
        };
        let mut out: Tensor<2> = if self.concat { agg.reshape([n, h * c]) } else { agg.mean_dim(1).reshape([n, c]) };
        if let Some(r) = res {
            out = out.add(r);
        }
        if let Some(b) = &self.bias {
            out = out.add(b.val().unsqueeze_dim(0));
        }
        Ok(GatOutput { out, edges, attention: alpha })
    }

    /// Whether attention dropout changes this forward: a nonzero rate, training mode, and a
    /// device that records gradients (as `Dropout::forward` decides).
    #[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
    fn dropout_active<const D: usize>(&self, x: &Tensor<D>) -> bool {
        self.dropout.prob > 0.0 && self.dropout.training.is_enabled() && x.device().is_autodiff()
    }

    /// Whether this forward runs the fused softmax + aggregation: `fused` on, a kernel for the
    /// backend in this build, and no attention dropout.
    #[allow(unused_variables)]
    fn runs_fused<const D: usize>(&self, xl: &Tensor<D>) -> bool {
        #[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
        return self.fused && crate::fused::supports(xl) && !self.dropout_active(xl);
        #[cfg(not(any(feature = "fused-flex", feature = "fused-wgpu")))]
        false
    }

    /// The fused softmax + aggregation `(out [N, H, C], α [E, H])`; only where [`Self::runs_fused`].
    #[allow(unused_variables)]
    fn fused_aggregate(&self, scores: Tensor<2>, xl: Tensor<3>, edges: &EdgeList) -> (Tensor<3>, Tensor<2>) {
        #[cfg(any(feature = "fused-flex", feature = "fused-wgpu"))]
        {
            let index = crate::fused::GatIndex::from_edges(edges, &xl.device());
            crate::fused::gat_aggregate(scores, xl, &index)
        }
        #[cfg(not(any(feature = "fused-flex", feature = "fused-wgpu")))]
        unreachable!("runs_fused is false without a fused kernel")
    }

    /// PyG's `remove_self_loops` + `add_self_loops` with `fill_value` for edge attributes.
    fn self_loops(&self, edges: &EdgeList, attr: Option<Tensor<2>>, device: &Device) -> (EdgeList, Option<Tensor<2>>) {
        let (looped, kept) = edges.with_self_loops();
        let n = edges.num_nodes;
        let attr = attr.map(|a| {
            let d = a.dims()[1];
            let kept_attr = a.select(0, index_tensor(&kept, device));
            let loop_attr = match self.fill_value {
                FillValue::Constant(v) => Tensor::<2>::full([n, d], v, device),
                FillValue::Mean => {
                    let kept_dst: Vec<usize> = kept.iter().map(|&e| edges.dst[e]).collect();
                    let mut deg = vec![0f32; n];
                    kept_dst.iter().for_each(|&t| deg[t] += 1.0);
                    let sum = Tensor::<2>::zeros([n, d], device).select_assign(0, index_tensor(&kept_dst, device), kept_attr.clone(), IndexingUpdateOp::Add);
                    let deg = Tensor::<2>::from_data(burn::tensor::TensorData::new(deg.iter().map(|&v| v.max(1.0)).collect::<Vec<_>>(), [n, 1]), device);
                    sum.div(deg)
                }
            };
            Tensor::cat(vec![kept_attr, loop_attr], 0)
        });
        (looped, attr)
    }
}

/// Which implementation [`GatConv::forward_batch`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GatPath {
    /// Gather/scatter over the edge list (any graph size, any variant, edge features).
    EdgeList,
    /// Masked dense attention over `[B, H, N_max, N_max]` (GATConv without edge features).
    Dense,
    /// The fused edge list where this build has the fused op for the device (the fastest path
    /// at every graph size measured, 4 to 100 nodes); otherwise dense when it applies and the
    /// largest graph has at most [`DENSE_MAX_NODES`] nodes.
    Auto,
}

/// Largest graph for which [`GatPath::Auto`] picks the dense path when the edge list would run
/// unfused (`fused = false`, attention dropout, or no fused kernel for the backend): there the
/// dense path is faster on small graphs. With the fused op the edge list is faster at every
/// size (`compare-gat`, quiet machine, docs/performance.md).
pub const DENSE_MAX_NODES: usize = 32;

impl GatConv {
    /// Whether [`GatPath::Auto`] runs the dense path for inputs like `x` (its device and
    /// dtype) on graphs of at most `max_nodes` nodes: only where the edge list would run
    /// unfused, the layer is a GATConv without edge features, and `max_nodes` ≤
    /// [`DENSE_MAX_NODES`].
    pub fn auto_picks_dense<const D: usize>(&self, x: &Tensor<D>, max_nodes: usize) -> bool {
        let dense_ok = self.variant == GatVariant::V1 && self.lin_edge.is_none();
        dense_ok && max_nodes <= DENSE_MAX_NODES && !self.runs_fused(x)
    }

    /// Runs the layer over a batch of graphs along `path`; returns `[ΣN, width]`.
    pub fn forward_batch(&self, batch: &GraphBatch, path: GatPath) -> crate::Result<Tensor<2>> {
        let dense_ok = self.variant == GatVariant::V1 && self.lin_edge.is_none();
        let dense = match path {
            GatPath::EdgeList => false,
            GatPath::Dense if !dense_ok => {
                return Err(GraphError::InvalidParameter { name: "path", reason: "the dense path supports GATConv without edge features only".into() })
            }
            GatPath::Dense => true,
            GatPath::Auto => self.auto_picks_dense(&batch.x, batch.max_nodes()),
        };
        if dense {
            let (out, _) = self.forward_dense(batch)?;
            Ok(out)
        } else {
            Ok(self.forward(batch.x.clone(), &batch.edges, batch.edge_attr.clone())?.out)
        }
    }

    /// The dense path: per graph, attention over a padded `[N_max, N_max]` matrix whose entry
    /// `(i, j)` counts the edges `j → i` (so duplicate edges weigh as in the edge-list path).
    /// Returns node rows `[ΣN, width]` and the attention `[B, H, N_max, N_max]`.
    pub fn forward_dense(&self, batch: &GraphBatch) -> crate::Result<(Tensor<2>, Tensor<4>)> {
        let [_, f] = batch.x.dims();
        if f != self.in_channels {
            return Err(GraphError::ShapeMismatch(format!("x has {f} features, the layer expects {}", self.in_channels)));
        }
        let device = batch.x.device();
        let (b, m) = (batch.num_graphs(), batch.max_nodes());
        let adjacency = Tensor::<4>::from_data(burn::tensor::TensorData::new(dense_adjacency(&batch.edges, &batch.ptr, m), [b, 1, m, m]), &device);
        let (xd, _) = batch.to_dense(batch.x.clone());
        let (out, attention) = self.forward_padded(xd, adjacency)?;
        let width = self.output_width();
        Ok((out.reshape([b * m, width]).select(0, index_tensor(&batch.dense_slots(), &device)), attention))
    }

    /// The dense path on padded blocks: node features `x` `[B, M, F_in]` (rows beyond a
    /// graph's nodes are padding) and `adjacency` `[B, 1, M, M]`, whose entry `(i, j)` counts
    /// the edges `j → i` ([`dense_adjacency`]). With `add_self_loops` the self loops are
    /// replaced by one per row, padding rows included, so that every row's attention is
    /// defined; a real node never attends to a padding row, which has no edge to it. Returns
    /// `[B, M, width]` and the attention `[B, H, M, M]` (per edge).
    ///
    /// Shapes depend on `B` and `M` only, so batches padded to the same `M` run the same
    /// kernels.
    pub fn forward_padded(&self, x: Tensor<3>, adjacency: Tensor<4>) -> crate::Result<(Tensor<3>, Tensor<4>)> {
        if self.variant != GatVariant::V1 || self.lin_edge.is_some() {
            return Err(GraphError::InvalidParameter { name: "path", reason: "the dense path supports GATConv without edge features only".into() });
        }
        let [b, m, f] = x.dims();
        if f != self.in_channels {
            return Err(GraphError::ShapeMismatch(format!("x has {f} features, the layer expects {}", self.in_channels)));
        }
        if adjacency.dims() != [b, 1, m, m] {
            return Err(GraphError::ShapeMismatch(format!("adjacency is {:?}, expected [{b}, 1, {m}, {m}]", adjacency.dims())));
        }
        let device = x.device();
        let (h, c) = (self.heads, self.out_channels);
        let mult = if self.add_self_loops {
            let eye = Tensor::<2>::eye(m, &device).reshape([1, 1, m, m]);
            adjacency.mul(eye.clone().neg().add_scalar(1.0)).add(eye)
        } else {
            adjacency
        };
        let res = self.res.as_ref().map(|r| r.forward(x.clone()));
        let xl: Tensor<4> = self.lin.forward(x).reshape([b, m, h, c]).swap_dims(1, 2); // [B, H, M, C]
        let att = |p: &Param<Tensor<2>>| p.val().reshape([1, h, 1, c]);
        let a_src: Tensor<4> = xl.clone().mul(att(&self.att_src)).sum_dim(3).reshape([b, h, 1, m]);
        let a_dst: Tensor<4> = xl.clone().mul(att(self.att_dst.as_ref().expect("V1"))).sum_dim(3).reshape([b, h, m, 1]);
        let scores = leaky_relu(a_dst.add(a_src), self.negative_slope); // [B, H, M(i), M(j)]
        let present = mult.clone().greater_elem(0.0).expand([b, h, m, m]);
        let max = scores.clone().detach().mask_fill(present.clone().bool_not(), f32::MIN).max_dim(3);
        // Absent pairs get exp(−∞) = 0 exactly: a padded row with no edge at all then has
        // all-zero weights instead of exp(+huge)·0 = NaN, which would poison the gradient.
        let exp = scores.sub(max).mask_fill(present.bool_not(), f32::MIN).exp().mul(mult.clone());
        let alpha = exp.clone().div(exp.sum_dim(3).add_scalar(1e-16));
        let alpha = self.dropout.forward(alpha);
        let agg = alpha.clone().matmul(xl).swap_dims(1, 2); // [B, M, H, C]
        let mut out: Tensor<3> = if self.concat { agg.reshape([b, m, h * c]) } else { agg.mean_dim(2).reshape([b, m, c]) };
        if let Some(r) = res {
            out = out.add(r);
        }
        if let Some(bias) = &self.bias {
            out = out.add(bias.val().reshape([1, 1, self.output_width()]));
        }
        // The multiplicity already weighs duplicate edges; return per-edge weights per pair.
        let per_edge = alpha.div(mult.clamp_min(1.0));
        Ok((out, per_edge))
    }
}
