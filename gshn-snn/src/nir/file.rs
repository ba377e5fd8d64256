//! NIR's HDF5 file (`.nir`), read and written in pure Rust (`hdf5-pure`: no libhdf5).
//!
//! The layout is the Python reference's (`nir.write`, NIR 1.0.8):
//!
//! ```text
//! /version                 scalar string ("1.0.8")
//! /node/type               scalar string "NIRGraph"
//! /node/edges              (E, 2) strings: from, to
//! /node/nodes/<name>/type  scalar string ("LIF", "Affine", …)
//! /node/nodes/<name>/<f>   one dataset per field (arrays, scalars, strings)
//! /node/nodes/<name>/metadata/…   optional
//! /node/metadata/…         optional
//! ```
//!
//! A nested graph is a node group whose `type` is `"NIRGraph"`, laid out like `/node`. Python
//! writes arrays gzip-compressed and chunked; both that and plain storage are read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdf5_pure::{DType, Dataset, File, FileBuilder, Group, GroupBuilder, VlenStringReadOptions};

use super::error::{NirError, Result};
use super::graph::{Entry, FloatWidth, Metadata, NirArray, NirGraph, NirNode, Node, Value};

/// The NIR version written to `/version`: the Python reference release whose layout this is.
pub const NIR_VERSION: &str = "1.0.8";

/// The most elements one dataset may hold (2²⁸, 1 GiB of f32): a file claiming more is refused
/// before anything is allocated.
pub const MAX_ELEMENTS: u64 = 1 << 28;

/// Groups nest at most this deep (graphs in graphs, metadata in metadata).
const MAX_DEPTH: usize = 32;

/// Reads a NIR graph from `path`.
pub fn read(path: impl AsRef<Path>) -> Result<NirGraph> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| NirError::Io { path: path.into(), source })?;
    read_bytes(&bytes, path)
}

/// Reads a NIR graph from the bytes of a file; `path` names it in errors.
pub fn read_bytes(bytes: &[u8], path: &Path) -> Result<NirGraph> {
    // The HDF5 reader is not ours: a corrupt file must become an error, never a panic in the
    // caller, whatever the reader does with it.
    let bytes = bytes.to_vec();
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || -> Result<NirGraph> {
        let file = File::from_bytes(bytes).map_err(|e| hdf5(path, e))?;
        let root = file.root();
        let node = root.group("node").map_err(|e| layout(path, format!("no `/node` group ({e})")))?;
        read_graph(&node, path, "/node", 0)
    }));
    match parsed {
        Ok(result) => result,
        Err(_) => Err(NirError::Hdf5 { path: path.into(), reason: "the HDF5 reader failed on this file (corrupt or truncated)".into() }),
    }
}

fn hdf5(path: &Path, e: hdf5_pure::Error) -> NirError {
    match e {
        hdf5_pure::Error::Io(source) => NirError::Io { path: path.into(), source },
        e => NirError::Hdf5 { path: path.into(), reason: e.to_string() },
    }
}

fn layout(path: &Path, reason: impl Into<String>) -> NirError {
    NirError::Layout { path: path.into(), reason: reason.into() }
}

fn read_graph(group: &Group, path: &Path, at: &str, depth: usize) -> Result<NirGraph> {
    let mut fields = read_group(group, path, at, depth)?;
    let kind = fields.remove("type").and_then(|v| v.as_str().map(str::to_string));
    if kind.as_deref() != Some("NIRGraph") {
        return Err(layout(path, format!("`{at}/type` is {kind:?}, expected \"NIRGraph\"")));
    }
    let edges = match fields.remove("edges") {
        Some(Value::Strings(shape, names)) if names.is_empty() || (shape.len() == 2 && shape[1] == 2) => {
            names.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
        }
        // h5py writes an empty edge list as a float array of shape (0,).
        Some(Value::Floats(a)) if a.numel() == 0 => vec![],
        Some(_) => return Err(layout(path, format!("`{at}/edges` must be an (E, 2) array of node names"))),
        None => return Err(layout(path, format!("`{at}` has no `edges`"))),
    };
    let graph_metadata = metadata(fields.remove("metadata"), path, at)?;
    let Some(Value::Group(_)) = fields.get("nodes") else {
        return Err(layout(path, format!("`{at}` has no `nodes` group")));
    };
    let nodes_group = group.group("nodes").map_err(|e| hdf5(path, e))?;
    let mut nodes = BTreeMap::new();
    for name in nodes_group.groups().map_err(|e| hdf5(path, e))? {
        let here = format!("{at}/nodes/{name}");
        let g = nodes_group.group(&name).map_err(|e| hdf5(path, e))?;
        let kind = match g.dataset("type") {
            Ok(ds) => read_dataset(&ds, path, &format!("{here}/type"))?.as_str().map(str::to_string),
            Err(_) => None,
        };
        let Some(kind) = kind else {
            return Err(layout(path, format!("node `{name}` (`{here}`) has no `type` string")));
        };
        let entry = if kind == "NIRGraph" {
            if depth + 1 >= MAX_DEPTH {
                return Err(layout(path, format!("`{here}`: graphs nest deeper than {MAX_DEPTH}")));
            }
            Entry::Graph(read_graph(&g, path, &here, depth + 1)?)
        } else {
            let mut f = read_group(&g, path, &here, depth + 1)?;
            f.remove("type");
            let meta = metadata(f.remove("metadata"), path, &here)?;
            Entry::Node(Node { op: NirNode::from_fields(&name, &kind, f)?, metadata: meta })
        };
        nodes.insert(name, entry);
    }
    Ok(NirGraph { nodes, edges, metadata: graph_metadata })
}

fn metadata(v: Option<Value>, path: &Path, at: &str) -> Result<Metadata> {
    match v {
        None => Ok(Metadata::new()),
        Some(Value::Group(m)) => Ok(m),
        Some(_) => Err(layout(path, format!("`{at}/metadata` must be a group"))),
    }
}

/// Every dataset and group under `group` (nested graphs' node groups included as values).
fn read_group(group: &Group, path: &Path, at: &str, depth: usize) -> Result<BTreeMap<String, Value>> {
    if depth >= MAX_DEPTH {
        return Err(layout(path, format!("`{at}`: groups nest deeper than {MAX_DEPTH}")));
    }
    let mut out = BTreeMap::new();
    for name in group.datasets().map_err(|e| hdf5(path, e))? {
        let ds = group.dataset(&name).map_err(|e| hdf5(path, e))?;
        out.insert(name.clone(), read_dataset(&ds, path, &format!("{at}/{name}"))?);
    }
    for name in group.groups().map_err(|e| hdf5(path, e))? {
        if name == "nodes" {
            // A graph's nodes are read one by one by `read_graph`; mark that they exist.
            out.insert(name, Value::Group(BTreeMap::new()));
            continue;
        }
        let g = group.group(&name).map_err(|e| hdf5(path, e))?;
        out.insert(name.clone(), Value::Group(read_group(&g, path, &format!("{at}/{name}"), depth + 1)?));
    }
    Ok(out)
}

fn read_dataset(ds: &Dataset, path: &Path, at: &str) -> Result<Value> {
    let err = |e: hdf5_pure::Error| layout(path, format!("`{at}`: {e}"));
    let shape = ds.shape().map_err(err)?;
    let numel = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).filter(|&n| n <= MAX_ELEMENTS);
    let Some(numel) = numel else {
        return Err(layout(path, format!("`{at}` claims shape {shape:?}, more than {MAX_ELEMENTS} elements")));
    };
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let dtype = ds.dtype().map_err(err)?;
    let value = match dtype {
        DType::F32 => Value::Floats(NirArray { shape: dims, data: ds.read_f32().map_err(err)?.into_iter().map(f64::from).collect(), width: FloatWidth::F32 }),
        DType::F64 => Value::Floats(NirArray { shape: dims, data: ds.read_f64().map_err(err)?, width: FloatWidth::F64 }),
        DType::I8 | DType::I16 | DType::I32 | DType::I64 | DType::U8 | DType::U16 | DType::U32 | DType::U64 | DType::Enum(_) => {
            Value::Ints(dims, ds.read_i64().map_err(err)?)
        }
        DType::String | DType::VariableLengthString => {
            let options = VlenStringReadOptions::new().with_max_elements(numel.max(1) as usize).with_max_payload_bytes(1 << 26);
            let strings = if dtype == DType::VariableLengthString { ds.read_vlen_strings(options) } else { ds.read_string() };
            Value::Strings(dims, strings.map_err(err)?)
        }
        other => return Err(layout(path, format!("`{at}` has HDF5 type {other}, which NIR does not use"))),
    };
    let len = match &value {
        Value::Floats(a) => a.numel(),
        Value::Ints(_, v) => v.len(),
        Value::Strings(_, v) => v.len(),
        Value::Group(_) => 0,
    };
    if len as u64 != numel {
        return Err(layout(path, format!("`{at}` holds {len} values for shape {shape:?}")));
    }
    Ok(value)
}

/// Writes `graph` to `path` as a NIR file that Python's `nir.read` (and snnTorch,
/// SpikingJelly, Norse, … through it) loads. The file appears whole or not at all: it is
/// written beside `path` and renamed into place.
pub fn write(path: impl AsRef<Path>, graph: &NirGraph) -> Result<()> {
    let path = path.as_ref();
    let bytes = write_bytes(graph)?;
    let tmp: PathBuf = {
        let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(format!(".tmp-{}", std::process::id()));
        path.with_file_name(name)
    };
    let io = |source| NirError::Io { path: path.into(), source };
    std::fs::write(&tmp, &bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// The bytes of the NIR file of `graph`.
pub fn write_bytes(graph: &NirGraph) -> Result<Vec<u8>> {
    check_names(graph, "/node")?;
    let mut b = FileBuilder::new();
    b.create_dataset("version").with_vlen_strings(&[NIR_VERSION]).with_shape(&[]);
    let mut node = b.create_group("node");
    put_graph(&mut node, graph);
    b.add_group(node.finish());
    b.finish().map_err(|e| NirError::Hdf5 { path: PathBuf::from("(new file)"), reason: e.to_string() })
}

/// HDF5 link names cannot be empty, `.`/`..`, or hold `/` or NUL: refused before writing.
fn check_names(graph: &NirGraph, at: &str) -> Result<()> {
    let check = |name: &str, what: &str| {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
            Err(NirError::BadField {
                node: name.into(),
                field: what.into(),
                reason: format!("`{name}` cannot be an HDF5 name (empty, `.`, `..`, or holding `/` or NUL) under `{at}`"),
            })
        } else {
            Ok(())
        }
    };
    for (name, entry) in &graph.nodes {
        check(name, "name")?;
        match entry {
            Entry::Graph(g) => check_names(g, &format!("{at}/nodes/{name}"))?,
            Entry::Node(n) => {
                for k in n.op.fields().keys().chain(n.metadata.keys()) {
                    check(k, "field")?;
                }
            }
        }
    }
    for (from, to) in &graph.edges {
        for end in [from, to] {
            if !graph.nodes.contains_key(end) {
                return Err(NirError::NotAChain(format!("an edge under `{at}` names `{end}`, which is not a node")));
            }
        }
    }
    Ok(())
}

fn put_graph(g: &mut GroupBuilder, graph: &NirGraph) {
    g.create_dataset("type").with_vlen_strings(&["NIRGraph"]).with_shape(&[]);
    let names: Vec<&str> = graph.edges.iter().flat_map(|(a, b)| [a.as_str(), b.as_str()]).collect();
    if names.is_empty() {
        g.create_dataset("edges").with_f64_data(&[]).with_shape(&[0]);
    } else {
        g.create_dataset("edges").with_vlen_strings(&names).with_shape(&[graph.edges.len() as u64, 2]);
    }
    let mut nodes = g.create_group("nodes");
    for (name, entry) in &graph.nodes {
        let mut ng = nodes.create_group(name);
        match entry {
            Entry::Graph(sub) => put_graph(&mut ng, sub),
            Entry::Node(n) => {
                ng.create_dataset("type").with_vlen_strings(&[n.op.kind()]).with_shape(&[]);
                put_values(&mut ng, &n.op.fields());
                put_metadata(&mut ng, &n.metadata);
            }
        }
        nodes.add_group(ng.finish());
    }
    g.add_group(nodes.finish());
    put_metadata(g, &graph.metadata);
}

/// Python writes no `metadata` group for empty metadata; neither do we.
fn put_metadata(g: &mut GroupBuilder, m: &Metadata) {
    if !m.is_empty() {
        let mut mg = g.create_group("metadata");
        put_values(&mut mg, m);
        g.add_group(mg.finish());
    }
}

fn put_values(g: &mut GroupBuilder, values: &BTreeMap<String, Value>) {
    for (k, v) in values {
        let shape = |s: &[usize]| s.iter().map(|&d| d as u64).collect::<Vec<u64>>();
        match v {
            Value::Floats(a) => {
                let ds = g.create_dataset(k);
                match a.width {
                    FloatWidth::F32 => ds.with_f32_data(&a.to_f32()),
                    FloatWidth::F64 => ds.with_f64_data(&a.data),
                }
                .with_shape(&shape(&a.shape));
            }
            Value::Ints(s, v) => {
                g.create_dataset(k).with_i64_data(v).with_shape(&shape(s));
            }
            Value::Strings(s, v) => {
                let refs: Vec<&str> = v.iter().map(String::as_str).collect();
                g.create_dataset(k).with_vlen_strings(&refs).with_shape(&shape(s));
            }
            Value::Group(m) => {
                let mut sub = g.create_group(k);
                put_values(&mut sub, m);
                g.add_group(sub.finish());
            }
        }
    }
}
