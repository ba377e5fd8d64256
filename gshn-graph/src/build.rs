//! Segment graphs: which segments of a [`Segmentation`] are connected, on petgraph.

use gshn_seg::descriptors::region_adjacency;
use gshn_seg::{Segmentation, VOID};
use petgraph::graph::{NodeIndex, UnGraph};
use serde::{Deserialize, Serialize};

use crate::edges::EdgeList;
use crate::error::{GraphError, Result};

/// How segments are connected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum GraphKind {
    /// Segments that touch after a dilation of `dilation` pixels: `i ~ j` when a pixel of `i`
    /// lies within Chebyshev distance `dilation` of a pixel of `j` (`0`: 4-connected
    /// neighbours). Edge weight: the shared border in pixel pairs (0 when only the dilation
    /// connects them). Our default with dilation 1 (docs/paper-map.md).
    RegionAdjacency {
        /// Dilation radius in pixels.
        dilation: u32,
    },
    /// Each segment to its `k` nearest centroids (made symmetric). Weight: the distance.
    Knn {
        /// Neighbours per node.
        k: usize,
    },
    /// Segments whose centroids lie within `radius` pixels. Weight: the distance.
    Radius {
        /// Radius in pixels.
        radius: f64,
    },
    /// Every pair of segments. Weight: the centroid distance.
    Full,
}

/// Whether the edge list carries self loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelfLoops {
    /// No `i → i` edges (let a GAT layer add them).
    Without,
    /// One `i → i` edge per node.
    With,
}

/// An undirected segment graph: node `k` is segment `k`.
#[derive(Debug, Clone)]
pub struct SegmentGraph {
    /// The graph; node weights are segment indices, edge weights as [`GraphKind`] says.
    pub graph: UnGraph<u32, f64>,
}

impl SegmentGraph {
    /// Builds the graph of `seg`'s segments.
    pub fn build(seg: &Segmentation, kind: GraphKind) -> Result<Self> {
        let n = seg.len();
        if n == 0 {
            return Err(GraphError::EmptyGraph(0));
        }
        let mut graph = UnGraph::<u32, f64>::with_capacity(n, 4 * n);
        for k in 0..n {
            graph.add_node(k as u32);
        }
        let dist = |a: usize, b: usize| {
            let (p, q) = (seg.segments[a].centroid, seg.segments[b].centroid);
            ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
        };
        let add = |g: &mut UnGraph<u32, f64>, i: usize, j: usize, w: f64| {
            if i != j && g.find_edge(NodeIndex::new(i), NodeIndex::new(j)).is_none() {
                g.add_edge(NodeIndex::new(i.min(j)), NodeIndex::new(i.max(j)), w);
            }
        };
        match kind {
            GraphKind::RegionAdjacency { dilation } => {
                let border = region_adjacency(seg);
                for &(i, j, len) in &border.edges {
                    add(&mut graph, i as usize, j as usize, len as f64);
                }
                if dilation > 0 {
                    if seg.is_overlapping() {
                        return Err(GraphError::InvalidParameter {
                            name: "dilation",
                            reason: "dilated adjacency needs a partition, not overlapping boxes".into(),
                        });
                    }
                    let (w, h, d) = (seg.width as i64, seg.height as i64, dilation as i64);
                    for y in 0..h {
                        for x in 0..w {
                            let a = seg.labels[(y * w + x) as usize];
                            if a == VOID {
                                continue;
                            }
                            for ny in (y - d).max(0)..(y + d + 1).min(h) {
                                for nx in (x - d).max(0)..(x + d + 1).min(w) {
                                    let b = seg.labels[(ny * w + nx) as usize];
                                    if b != VOID && b != a {
                                        add(&mut graph, a as usize, b as usize, 0.0);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            GraphKind::Knn { k } => {
                if k == 0 {
                    return Err(GraphError::InvalidParameter { name: "k", reason: "must be ≥ 1".into() });
                }
                for i in 0..n {
                    let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
                    others.sort_by(|&a, &b| dist(i, a).total_cmp(&dist(i, b)).then(a.cmp(&b)));
                    for &j in others.iter().take(k) {
                        add(&mut graph, i, j, dist(i, j));
                    }
                }
            }
            GraphKind::Radius { radius } => {
                if !(radius.is_finite() && radius >= 0.0) {
                    return Err(GraphError::InvalidParameter { name: "radius", reason: "must be finite and ≥ 0".into() });
                }
                for i in 0..n {
                    for j in i + 1..n {
                        if dist(i, j) <= radius {
                            add(&mut graph, i, j, dist(i, j));
                        }
                    }
                }
            }
            GraphKind::Full => {
                for i in 0..n {
                    for j in i + 1..n {
                        add(&mut graph, i, j, dist(i, j));
                    }
                }
            }
        }
        Ok(Self { graph })
    }

    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.graph.node_count()
    }

    /// The directed edge list: both directions of every undirected edge, sorted by
    /// `(target, source)`, plus self loops if asked.
    pub fn edge_list(&self, loops: SelfLoops) -> EdgeList {
        let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(2 * self.graph.edge_count() + self.num_nodes());
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).expect("edge exists");
            pairs.push((a.index(), b.index()));
            pairs.push((b.index(), a.index()));
        }
        if loops == SelfLoops::With {
            pairs.extend((0..self.num_nodes()).map(|i| (i, i)));
        }
        pairs.sort_by_key(|&(s, t)| (t, s));
        let (src, dst) = pairs.into_iter().unzip();
        EdgeList { num_nodes: self.num_nodes(), src, dst }
    }

    /// An undirected graph from an edge list (directions and duplicates merged, self loops
    /// dropped), e.g. read back from an `edge_index` tensor.
    pub fn from_edge_list(edges: &EdgeList) -> Result<Self> {
        edges.validate()?;
        let mut graph = UnGraph::<u32, f64>::with_capacity(edges.num_nodes, edges.len());
        for k in 0..edges.num_nodes {
            graph.add_node(k as u32);
        }
        for (&s, &t) in edges.src.iter().zip(&edges.dst) {
            if s != t && graph.find_edge(NodeIndex::new(s), NodeIndex::new(t)).is_none() {
                graph.add_edge(NodeIndex::new(s.min(t)), NodeIndex::new(s.max(t)), 1.0);
            }
        }
        Ok(Self { graph })
    }
}
