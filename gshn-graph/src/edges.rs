//! Edge lists (`edge_index`, PyG's `[2, E]` source→target convention) on the host and on
//! the device.

use burn::tensor::{Device, Int, Tensor};

use crate::error::{GraphError, Result};
use crate::scatter::index_tensor;

/// A directed edge list over `num_nodes` nodes: edge `e` goes `src[e] → dst[e]`
/// (messages flow from source to target, as in PyG's `edge_index[0] → edge_index[1]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EdgeList {
    /// Nodes in the graph.
    pub num_nodes: usize,
    /// Source node per edge.
    pub src: Vec<usize>,
    /// Target node per edge.
    pub dst: Vec<usize>,
}

impl EdgeList {
    /// An edge list from `(src, dst)` pairs, checked against `num_nodes`.
    pub fn new(num_nodes: usize, pairs: impl IntoIterator<Item = (usize, usize)>) -> Result<Self> {
        let (src, dst): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
        let e = Self { num_nodes, src, dst };
        e.validate()?;
        Ok(e)
    }

    /// Checks that every edge names existing nodes.
    pub fn validate(&self) -> Result<()> {
        if self.src.len() != self.dst.len() {
            return Err(GraphError::ShapeMismatch(format!("{} sources but {} targets", self.src.len(), self.dst.len())));
        }
        for (edge, (&src, &dst)) in self.src.iter().zip(&self.dst).enumerate() {
            if src >= self.num_nodes || dst >= self.num_nodes {
                return Err(GraphError::EdgeOutOfRange { edge, src, dst, num_nodes: self.num_nodes });
            }
        }
        Ok(())
    }

    /// Number of edges.
    pub fn len(&self) -> usize {
        self.src.len()
    }

    /// Whether there are no edges.
    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }

    /// PyG's `remove_self_loops` then `add_self_loops`: drops `i → i` edges (returning the kept
    /// positions) and appends one loop per node, `0 → 0, …, N−1 → N−1`.
    pub fn with_self_loops(&self) -> (EdgeList, Vec<usize>) {
        let kept: Vec<usize> = (0..self.len()).filter(|&e| self.src[e] != self.dst[e]).collect();
        let mut src: Vec<usize> = kept.iter().map(|&e| self.src[e]).collect();
        let mut dst: Vec<usize> = kept.iter().map(|&e| self.dst[e]).collect();
        src.extend(0..self.num_nodes);
        dst.extend(0..self.num_nodes);
        (EdgeList { num_nodes: self.num_nodes, src, dst }, kept)
    }

    /// In-degree of every node.
    pub fn in_degree(&self) -> Vec<usize> {
        let mut d = vec![0; self.num_nodes];
        self.dst.iter().for_each(|&t| d[t] += 1);
        d
    }

    /// The sources and targets as device tensors.
    pub fn to_tensors(&self, device: &Device) -> (Tensor<1, Int>, Tensor<1, Int>) {
        (index_tensor(&self.src, device), index_tensor(&self.dst, device))
    }

    /// The `[2, E]` `edge_index` tensor.
    pub fn edge_index(&self, device: &Device) -> Tensor<2, Int> {
        let (s, d) = self.to_tensors(device);
        Tensor::stack(vec![s, d], 0)
    }

    /// Reads an `edge_index` `[2, E]` tensor back, checking the range.
    pub fn from_edge_index(num_nodes: usize, edge_index: &Tensor<2, Int>) -> Result<Self> {
        let [two, e] = edge_index.dims();
        if two != 2 {
            return Err(GraphError::ShapeMismatch(format!("edge_index must be [2, E], got [{two}, {e}]")));
        }
        let v: Vec<i64> = edge_index.to_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| GraphError::ShapeMismatch(format!("{e:?}")))?;
        let cast = |x: i64, edge: usize| usize::try_from(x).map_err(|_| GraphError::EdgeOutOfRange { edge, src: 0, dst: 0, num_nodes });
        let src = (0..e).map(|i| cast(v[i], i)).collect::<Result<Vec<_>>>()?;
        let dst = (0..e).map(|i| cast(v[e + i], i)).collect::<Result<Vec<_>>>()?;
        let out = Self { num_nodes, src, dst };
        out.validate()?;
        Ok(out)
    }
}
