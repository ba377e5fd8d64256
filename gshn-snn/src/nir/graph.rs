//! The NIR graph in memory: nodes by name, edges, metadata, and the typed nodes gshn-snn
//! runs. Field names and meanings are NIR 1.0.8's (`nir.ir`); every other node type is kept
//! verbatim as [`NirNode::Other`], so a file read and written again keeps what gshn-snn does
//! not model.

use std::collections::BTreeMap;

use super::error::{NirError, Result};

/// NIR's node type strings, as the Python reference writes them.
pub const NIR_TYPES: [&str; 19] = [
    "Input",
    "Output",
    "Affine",
    "Linear",
    "Scale",
    "Conv1d",
    "Conv2d",
    "CubaLI",
    "CubaLIF",
    "Delay",
    "Flatten",
    "I",
    "IF",
    "LI",
    "LIF",
    "SumPool2d",
    "AvgPool2d",
    "Threshold",
    "NIRGraph",
];

/// The float width an array is stored with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatWidth {
    /// IEEE f32 (what torch writes).
    F32,
    /// IEEE f64 (what NumPy writes by default).
    F64,
}

/// A dense float array, row-major, with its shape (`[]` for a scalar).
#[derive(Debug, Clone, PartialEq)]
pub struct NirArray {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, widened to f64.
    pub data: Vec<f64>,
    /// The width in the file.
    pub width: FloatWidth,
}

impl NirArray {
    /// An f32 array.
    pub fn from_f32(shape: Vec<usize>, data: &[f32]) -> Self {
        Self { shape, data: data.iter().map(|&v| v as f64).collect(), width: FloatWidth::F32 }
    }

    /// An f64 vector of `n` copies of `value`.
    pub fn full(n: usize, value: f64) -> Self {
        Self { shape: vec![n], data: vec![value; n], width: FloatWidth::F64 }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The one value every element holds, or `None` if they differ (or there are none).
    pub fn uniform(&self) -> Option<f64> {
        let first = *self.data.first()?;
        self.data.iter().all(|&v| v == first).then_some(first)
    }

    /// The values as f32 (exact for arrays stored as f32).
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

/// A value in a NIR file: an array of floats, integers or strings, or a group of values
/// (HDF5 datasets and groups).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Floats.
    Floats(NirArray),
    /// Integers, with their shape.
    Ints(Vec<usize>, Vec<i64>),
    /// Strings, with their shape.
    Strings(Vec<usize>, Vec<String>),
    /// A group.
    Group(BTreeMap<String, Value>),
}

impl Value {
    /// A scalar string.
    pub fn string(s: impl Into<String>) -> Self {
        Value::Strings(vec![], vec![s.into()])
    }

    /// A scalar float.
    pub fn float(v: f64) -> Self {
        Value::Floats(NirArray { shape: vec![], data: vec![v], width: FloatWidth::F64 })
    }

    /// The string, if this is one string (scalar or one element).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Strings(_, v) if v.len() == 1 => Some(&v[0]),
            _ => None,
        }
    }

    /// The number, if this is one number (float or integer).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Floats(a) if a.numel() == 1 => Some(a.data[0]),
            Value::Ints(_, v) if v.len() == 1 => Some(v[0] as f64),
            _ => None,
        }
    }
}

/// Free-form metadata of a node or graph (NIR's `metadata` dict).
pub type Metadata = BTreeMap<String, Value>;

/// A NIR node, typed where gshn-snn runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum NirNode {
    /// The graph's input port; `shape` per time step, without batch or time axes.
    Input {
        /// Input shape.
        shape: Vec<usize>,
    },
    /// The graph's output port.
    Output {
        /// Output shape.
        shape: Vec<usize>,
    },
    /// `y = W x + b`, weight `[out, in]` (PyTorch's layout).
    Affine {
        /// Weight `[out, in]`.
        weight: NirArray,
        /// Bias `[out]`.
        bias: NirArray,
    },
    /// `y = W x`, weight `[out, in]`.
    Linear {
        /// Weight `[out, in]`.
        weight: NirArray,
    },
    /// Integrate-and-fire: `v̇ = R·I`; spike where `v > v_threshold`, then `v = v_reset`.
    If {
        /// Resistance R.
        r: NirArray,
        /// Threshold.
        v_threshold: NirArray,
        /// Reset potential.
        v_reset: NirArray,
    },
    /// Leaky integrate-and-fire: `τ·v̇ = (v_leak − v) + R·I`; spike where `v > v_threshold`,
    /// then `v = v_reset`.
    Lif {
        /// Time constant τ (seconds).
        tau: NirArray,
        /// Resistance R.
        r: NirArray,
        /// Leak (rest) potential.
        v_leak: NirArray,
        /// Threshold.
        v_threshold: NirArray,
        /// Reset potential.
        v_reset: NirArray,
    },
    /// Flattens axes `start_dim ..= end_dim` (negative counts from the end).
    Flatten {
        /// First axis.
        start_dim: i64,
        /// Last axis.
        end_dim: i64,
        /// The input shape, where the writer recorded it.
        input_type: Option<Vec<usize>>,
    },
    /// Any other node (its NIR type and fields, kept verbatim).
    Other {
        /// The NIR type string.
        kind: String,
        /// Every field but `type` and `metadata`.
        fields: BTreeMap<String, Value>,
    },
}

impl NirNode {
    /// The NIR type string.
    pub fn kind(&self) -> &str {
        match self {
            NirNode::Input { .. } => "Input",
            NirNode::Output { .. } => "Output",
            NirNode::Affine { .. } => "Affine",
            NirNode::Linear { .. } => "Linear",
            NirNode::If { .. } => "IF",
            NirNode::Lif { .. } => "LIF",
            NirNode::Flatten { .. } => "Flatten",
            NirNode::Other { kind, .. } => kind,
        }
    }

    /// The node's fields as NIR writes them (without `type` and `metadata`).
    pub fn fields(&self) -> BTreeMap<String, Value> {
        let shape = |s: &[usize]| Value::Ints(vec![s.len()], s.iter().map(|&d| d as i64).collect());
        let mut f = BTreeMap::new();
        let mut put = |k: &str, v: Value| {
            f.insert(k.to_string(), v);
        };
        match self {
            NirNode::Input { shape: s } | NirNode::Output { shape: s } => put("shape", shape(s)),
            NirNode::Affine { weight, bias } => {
                put("weight", Value::Floats(weight.clone()));
                put("bias", Value::Floats(bias.clone()));
            }
            NirNode::Linear { weight } => put("weight", Value::Floats(weight.clone())),
            NirNode::If { r, v_threshold, v_reset } => {
                put("r", Value::Floats(r.clone()));
                put("v_threshold", Value::Floats(v_threshold.clone()));
                put("v_reset", Value::Floats(v_reset.clone()));
            }
            NirNode::Lif { tau, r, v_leak, v_threshold, v_reset } => {
                put("tau", Value::Floats(tau.clone()));
                put("r", Value::Floats(r.clone()));
                put("v_leak", Value::Floats(v_leak.clone()));
                put("v_threshold", Value::Floats(v_threshold.clone()));
                put("v_reset", Value::Floats(v_reset.clone()));
            }
            NirNode::Flatten { start_dim, end_dim, input_type } => {
                put("start_dim", Value::Ints(vec![], vec![*start_dim]));
                put("end_dim", Value::Ints(vec![], vec![*end_dim]));
                if let Some(s) = input_type {
                    put("input_type", shape(s));
                }
            }
            NirNode::Other { fields, .. } => return fields.clone(),
        }
        f
    }

    /// The typed node of NIR type `kind` from its fields; `node` names it in errors.
    pub fn from_fields(node: &str, kind: &str, fields: BTreeMap<String, Value>) -> Result<Self> {
        let get = |field: &'static str| fields.get(field).ok_or_else(|| NirError::MissingField { node: node.into(), kind: kind.into(), field });
        let array = |field: &'static str| -> Result<NirArray> { floats(node, field, get(field)?) };
        let shape = |field: &'static str| -> Result<Vec<usize>> { dims(node, field, get(field)?) };
        let int = |field: &'static str| -> Result<i64> {
            match get(field)? {
                Value::Ints(_, v) if v.len() == 1 => Ok(v[0]),
                _ => Err(bad(node, field, "expected one integer")),
            }
        };
        // NIR 1.0.8 fills a missing `v_reset` with zeros shaped like `v_threshold`.
        let v_reset = |v_threshold: &NirArray| -> Result<NirArray> {
            match fields.get("v_reset") {
                Some(v) => floats(node, "v_reset", v),
                None => Ok(NirArray { data: vec![0.0; v_threshold.numel()], ..v_threshold.clone() }),
            }
        };
        Ok(match kind {
            "Input" => NirNode::Input { shape: shape("shape")? },
            "Output" => NirNode::Output { shape: shape("shape")? },
            "Affine" => NirNode::Affine { weight: array("weight")?, bias: array("bias")? },
            "Linear" => NirNode::Linear { weight: array("weight")? },
            "IF" => {
                let v_threshold = array("v_threshold")?;
                NirNode::If { r: array("r")?, v_reset: v_reset(&v_threshold)?, v_threshold }
            }
            "LIF" => {
                let v_threshold = array("v_threshold")?;
                NirNode::Lif { tau: array("tau")?, r: array("r")?, v_leak: array("v_leak")?, v_reset: v_reset(&v_threshold)?, v_threshold }
            }
            "Flatten" => NirNode::Flatten {
                start_dim: int("start_dim")?,
                end_dim: int("end_dim")?,
                input_type: match fields.get("input_type") {
                    Some(v) => Some(dims(node, "input_type", v)?),
                    None => None,
                },
            },
            k if NIR_TYPES.contains(&k) => NirNode::Other { kind: k.to_string(), fields },
            k => return Err(NirError::UnknownType { node: node.into(), kind: k.into() }),
        })
    }
}

fn bad(node: &str, field: &str, reason: impl Into<String>) -> NirError {
    NirError::BadField { node: node.into(), field: field.into(), reason: reason.into() }
}

/// A float field (integers are widened, as NumPy would).
fn floats(node: &str, field: &str, v: &Value) -> Result<NirArray> {
    match v {
        Value::Floats(a) => Ok(a.clone()),
        Value::Ints(shape, v) => Ok(NirArray { shape: shape.clone(), data: v.iter().map(|&x| x as f64).collect(), width: FloatWidth::F64 }),
        _ => Err(bad(node, field, "expected an array of numbers")),
    }
}

/// A shape field: non-negative integers.
fn dims(node: &str, field: &str, v: &Value) -> Result<Vec<usize>> {
    let Value::Ints(_, v) = v else {
        return Err(bad(node, field, "expected an array of integers"));
    };
    v.iter().map(|&d| usize::try_from(d).map_err(|_| bad(node, field, format!("axis length {d} is negative")))).collect()
}

/// A node: what it computes and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it computes.
    pub op: NirNode,
    /// Free-form metadata.
    pub metadata: Metadata,
}

impl Node {
    /// A node without metadata.
    pub fn new(op: NirNode) -> Self {
        Self { op, metadata: Metadata::new() }
    }
}

/// A NIR graph: named nodes, directed edges between them, metadata. A node may itself be a
/// graph (`NIRGraph`), kept as [`Entry::Graph`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NirGraph {
    /// Nodes by name.
    pub nodes: BTreeMap<String, Entry>,
    /// Edges `(from, to)`, in file order.
    pub edges: Vec<(String, String)>,
    /// Free-form metadata.
    pub metadata: Metadata,
}

/// A graph's member: a node or a nested graph.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a graph holds tens of entries: boxing would only add indirection
pub enum Entry {
    /// A computational node.
    Node(Node),
    /// A subgraph.
    Graph(NirGraph),
}

impl Entry {
    /// The NIR type string.
    pub fn kind(&self) -> &str {
        match self {
            Entry::Node(n) => n.op.kind(),
            Entry::Graph(_) => "NIRGraph",
        }
    }
}

impl NirGraph {
    /// A chain `names[0] → names[1] → …` of the given nodes.
    pub fn chain(nodes: Vec<(String, Node)>) -> Self {
        let edges = nodes.windows(2).map(|w| (w[0].0.clone(), w[1].0.clone())).collect();
        Self { nodes: nodes.into_iter().map(|(k, n)| (k, Entry::Node(n))).collect(), edges, metadata: Metadata::new() }
    }
}
