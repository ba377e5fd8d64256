//! Batching many graphs of different sizes into one (PyG's `Batch`): concatenated nodes,
//! offset edges, a node → graph `batch` vector and `ptr` offsets; dense padding with a mask;
//! per-graph pooling.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::edges::EdgeList;
use crate::error::{GraphError, Result};
use crate::scatter::{dense_slots, index_tensor, pad_rows, segment_mean, segment_softmax, segment_sum};

/// Graphs batched into one disconnected graph.
#[derive(Debug, Clone)]
pub struct GraphBatch {
    /// Node features `[ΣN, F]`.
    pub x: Tensor<2>,
    /// Edges with node indices offset per graph.
    pub edges: EdgeList,
    /// Edge features `[ΣE, D]`, if the graphs carry them.
    pub edge_attr: Option<Tensor<2>>,
    /// Graph of each node.
    pub batch: Vec<usize>,
    /// Node offsets: graph `g` owns nodes `ptr[g]..ptr[g + 1]`.
    pub ptr: Vec<usize>,
}

/// One graph to batch: node features `[N, F]`, edges over those N nodes, optional edge features.
pub type GraphInput = (Tensor<2>, EdgeList, Option<Tensor<2>>);

impl GraphBatch {
    /// Batches graphs. Every graph needs at least one node, the same feature width, edges in
    /// range, and edge features either for all graphs or for none.
    pub fn new(graphs: Vec<GraphInput>) -> Result<Self> {
        if graphs.is_empty() {
            return Err(GraphError::ShapeMismatch("cannot batch zero graphs".into()));
        }
        let f = graphs[0].0.dims()[1];
        let with_attr = graphs[0].2.is_some();
        let mut ptr = vec![0];
        let (mut src, mut dst, mut batch) = (Vec::new(), Vec::new(), Vec::new());
        let (mut xs, mut attrs) = (Vec::new(), Vec::new());
        for (g, (x, e, a)) in graphs.into_iter().enumerate() {
            let [n, fx] = x.dims();
            if n == 0 {
                return Err(GraphError::EmptyGraph(g));
            }
            if fx != f {
                return Err(GraphError::ShapeMismatch(format!("graph {g} has {fx} features, graph 0 has {f}")));
            }
            if e.num_nodes != n {
                return Err(GraphError::ShapeMismatch(format!("graph {g}: edges for {} nodes, features for {n}", e.num_nodes)));
            }
            e.validate()?;
            if a.is_some() != with_attr {
                return Err(GraphError::ShapeMismatch(format!("graph {g}: edge features must be given for all graphs or none")));
            }
            let off = *ptr.last().expect("non-empty");
            src.extend(e.src.iter().map(|s| s + off));
            dst.extend(e.dst.iter().map(|t| t + off));
            batch.extend(std::iter::repeat_n(g, n));
            ptr.push(off + n);
            xs.push(x);
            if let Some(a) = a {
                if a.dims()[0] != e.len() {
                    return Err(GraphError::ShapeMismatch(format!("graph {g}: {} edge feature rows for {} edges", a.dims()[0], e.len())));
                }
                attrs.push(a);
            }
        }
        let total = *ptr.last().expect("non-empty");
        Ok(Self { x: Tensor::cat(xs, 0), edges: EdgeList { num_nodes: total, src, dst }, edge_attr: with_attr.then(|| Tensor::cat(attrs, 0)), batch, ptr })
    }

    /// Number of graphs.
    pub fn num_graphs(&self) -> usize {
        self.ptr.len() - 1
    }

    /// Nodes of the largest graph.
    pub fn max_nodes(&self) -> usize {
        self.ptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
    }

    /// The `batch` vector as a tensor.
    pub fn batch_tensor(&self, device: &Device) -> Tensor<1, Int> {
        index_tensor(&self.batch, device)
    }

    /// The row of each node in the padded `[B·N_max, …]` layout of [`to_dense`](Self::to_dense).
    pub fn dense_slots(&self) -> Vec<usize> {
        dense_slots(&self.ptr).0
    }

    /// Splits per-node rows `[ΣN, F]` back into one tensor per graph.
    pub fn unbatch(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        self.ptr.windows(2).map(|w| x.clone().narrow(0, w[0], w[1] - w[0])).collect()
    }

    /// Pads per-node rows into `[B, N_max, F]` (zeros beyond each graph) and a mask
    /// `[B, N_max]` that is true on real nodes.
    pub fn to_dense(&self, x: Tensor<2>) -> (Tensor<3>, Tensor<2, Bool>) {
        let (b, m) = (self.num_graphs(), self.max_nodes());
        let device = x.device();
        let slots = self.dense_slots();
        let dense = pad_rows(x, index_tensor(&slots, &device), b, m);
        let mut mask = vec![false; b * m];
        slots.iter().for_each(|&s| mask[s] = true);
        (dense, Tensor::from_data(TensorData::new(mask, [b, m]), &device))
    }
}

/// Per-graph readout of node rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Pool {
    /// Mean over each graph's nodes.
    Mean,
    /// Sum over each graph's nodes.
    Sum,
    /// Feature-wise maximum over each graph's nodes.
    Max,
}

/// Pools node rows `[ΣN, F]` into one row per graph `[B, F]`.
pub fn pool(x: Tensor<2>, batch: &GraphBatch, how: Pool) -> Tensor<2> {
    let [_, f] = x.dims();
    let b = batch.num_graphs();
    let device = x.device();
    match how {
        Pool::Sum => segment_sum(x, batch.batch_tensor(&device), b),
        Pool::Mean => segment_mean(x, batch.batch_tensor(&device), &batch.ptr),
        Pool::Max => {
            let (dense, mask) = batch.to_dense(x);
            let pad = mask.bool_not().unsqueeze_dim::<3>(2).expand([b, batch.max_nodes(), f]);
            dense.mask_fill(pad, f32::MIN).max_dim(1).reshape([b, f])
        }
    }
}

/// Attention pooling (Li et al. 2016, PyG `AttentionalAggregation`): per graph,
/// `softmax_i(x_i w + b)`-weighted sum of the node rows.
#[derive(Module, Debug)]
pub struct AttentionPool {
    /// The gate `F → 1`.
    pub gate: Linear,
}

impl AttentionPool {
    /// A gate for `features`-wide node rows.
    pub fn new(features: usize, device: &Device) -> Self {
        Self { gate: LinearConfig::new(features, 1).init(device) }
    }

    /// Pools `[ΣN, F]` into `[B, F]`; also returns the node weights `[ΣN]`.
    pub fn forward(&self, x: Tensor<2>, batch: &GraphBatch) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        let idx = batch.batch_tensor(&x.device());
        let scores = self.gate.forward(x.clone());
        let w = segment_softmax(scores, idx.clone(), batch.num_graphs());
        let out = segment_sum(x.mul(w.clone()), idx, batch.num_graphs());
        (out, w.reshape([n]))
    }
}
