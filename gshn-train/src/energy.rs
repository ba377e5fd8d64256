//! Operation counts of the whole model, per layer, and their energy (Horowitz, ISSCC 2014,
//! 45 nm: a multiply-accumulate 4.6 pJ, an accumulate 0.9 pJ in fp32), with a memory-access
//! term beside it (one 32-bit access per operation's operand, a read and a write of each
//! spiking neuron's membrane per step, [`MEM_ACCESS_PJ`] each).
//!
//! Counted per image, from the configuration and what a batch measured (nodes, edges, spikes):
//!
//! * dense layers and the CNN: multiply-accumulates (MACs) — a convolution `H·W·C_in·C_out·k²`,
//!   a linear layer `rows·in·out`;
//! * the GAT, attention included: the projection, the two attention vectors, a score per
//!   edge and head, the softmax (an exponential and a division per edge and head, counted as
//!   MACs) and the weighted sum `edges·d` (self loops included; the sparse work, not the dense
//!   block the implementation may run on);
//! * spike-driven layers: an accumulate (AC) per input spike and outgoing synapse; a layer fed
//!   real values does MACs; the aggregation over edges adds (ACs); each neuron update per step
//!   is a MAC; normalisations count 4 MACs per value (mean, variance, scale, shift);
//! * an input that is the same at every step (direct encoding) is counted once, not T times;
//! * the text encoder separately, per caption.
//!
//! Of a layer's ACs, the **SOPs** (`sops`) are the spike-driven ones — an input spike times
//! its fan-out; the rest are additions (edge aggregation, the mean over T, residuals).
//!
//! The equal-width non-spiking twin (ReLU for the neurons, T = 1) is counted with the same
//! rules, so that the spiking branch's energy stands beside what it replaces — and where the
//! twin itself was run (its ReLU outputs measured, [`Measured::nonzero`]), a zero output costs
//! its successor nothing, as a silent neuron costs the spiking layer after it nothing. The
//! twin counted beside a spiking model was not run: its later layers are charged dense, an
//! upper bound.
//!
//! Memory (`mem`, 32-bit accesses): one per operation (the weight of a synaptic operation, the
//! operand of any other), plus a read and a write of each spiking neuron's membrane at each
//! step — the T-fold state traffic that compute-only counts leave out. At [`MEM_ACCESS_PJ`]
//! per access (an 8 KB SRAM, Horowitz 2014: 10 pJ per 64-bit read), it is reported beside the
//! compute figure, not folded into it.

use serde::{Deserialize, Serialize};

use crate::model::config::{Activation, Backbone, Branches, Encoding, GshnConfig, SpikeNorm, TextEncoderChoice};
use crate::model::efficientnet;
use crate::model::minilm::MiniLmConfig;
use gshn_snn::stats::EnergyModel;

/// Energy of one 32-bit memory access, pJ: an 8 KB SRAM at 45 nm (Horowitz, ISSCC 2014:
/// 10 pJ per 64-bit read).
pub const MEM_ACCESS_PJ: f64 = 5.0;

/// The operations of one layer, per image (or per caption for the text encoder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerOps {
    /// The layer.
    pub name: String,
    /// Multiply-accumulates.
    pub macs: f64,
    /// Accumulates (spike-driven synaptic operations and additions).
    pub acs: f64,
    /// Of the accumulates, the spike-driven synaptic operations (input spikes × fan-out).
    #[serde(default)]
    pub sops: f64,
    /// 32-bit memory accesses: one per operation, and a membrane read and write per spiking
    /// neuron and step.
    #[serde(default)]
    pub mem: f64,
}

impl LayerOps {
    fn new(name: impl Into<String>, macs: f64, acs: f64) -> Self {
        Self { name: name.into(), macs, acs, sops: 0.0, mem: macs + acs }
    }

    /// A spiking layer: `sops` of its `acs` are spike-driven, and `neuron_steps` membranes are
    /// read and written.
    fn spiking(name: impl Into<String>, macs: f64, acs: f64, sops: f64, neuron_steps: f64) -> Self {
        Self { sops, mem: macs + acs + 2.0 * neuron_steps, ..Self::new(name, macs, acs) }
    }

    /// Compute energy in pJ under `model`.
    pub fn energy_pj(&self, model: &EnergyModel) -> f64 {
        model.energy_pj(self.macs, self.acs)
    }

    /// Memory-access energy in pJ ([`MEM_ACCESS_PJ`] per access).
    pub fn memory_pj(&self) -> f64 {
        self.mem * MEM_ACCESS_PJ
    }
}

/// What a batch measured, per image: the shapes and the spikes the counts depend on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    /// Image side in pixels.
    pub image_side: usize,
    /// Feature-map cells per image (`(side / stride)²`).
    pub cells: usize,
    /// Nodes per image.
    pub nodes: f64,
    /// Directed edges per image (self loops not included).
    pub edges: f64,
    /// Spikes per image of each spiking layer, summed over T.
    pub spikes: Vec<f64>,
    /// Spikes per image of the spiking branch's input, summed over T (rate and latency
    /// encodings; 0 otherwise).
    pub input_spikes: f64,
    /// Nonzero (positive) outputs per image of each layer of a ReLU twin's branch, where the
    /// twin itself was run. Empty otherwise: a spiking model's are its `spikes`, and a twin
    /// that was not run is counted dense.
    pub nonzero: Vec<f64>,
}

/// Counts of every layer of the image side, per image.
pub fn image_ops(cfg: &GshnConfig, m: &Measured) -> Vec<LayerOps> {
    let mut out = Vec::new();
    let (d, c) = (cfg.d_model as f64, cfg.tokens.feature_channels() as f64);
    let (n, e) = (m.nodes, m.edges);
    match &cfg.tokens.backbone {
        Backbone::Cnn => {
            // The CNN: 3×3 convolutions, a 2×2 average pool after each of the first log2(stride).
            let pools = cfg.tokens.stride.trailing_zeros() as usize;
            let mut widths = vec![16.0, 32.0, c];
            widths.extend(std::iter::repeat_n(c, pools.saturating_sub(2)));
            let (mut side, mut cin) = (m.image_side as f64, 3.0);
            for (i, &w) in widths.iter().enumerate() {
                let mut acs = 0.0;
                let macs = side * side * cin * w * 9.0;
                if i < pools {
                    acs = side * side * w;
                    side /= 2.0;
                }
                out.push(LayerOps::new(format!("cnn conv{}", i + 1), macs, acs));
                cin = w;
            }
        }
        // Frozen or not, every image runs through it at inference (the cache only saves
        // training time).
        Backbone::EfficientnetLite0(choice) => out.extend(efficientnet_ops(choice.input_size, cfg.tokens.stride)),
    }
    // Tokens: the masked mean over the cells, the node projection, the geometry embedding.
    let mut tok = n * m.cells as f64 * c + n * c * d;
    if cfg.tokens.geometry {
        tok += n * 7.0 * d;
    }
    out.push(LayerOps::new("tokens", tok, if cfg.tokens.geometry { n * d } else { 0.0 }));
    let branches = cfg.fusion.branches;
    if branches.gat() {
        let heads = cfg.gat.heads as f64;
        let loops = if cfg.gat.add_self_loops { n } else { 0.0 };
        let ep = e + loops;
        for l in 0..cfg.gat.layers {
            let proj = n * d * d;
            let att = 2.0 * n * d + 2.0 * ep * heads; // attention vectors, exp + div per edge
            let agg = ep * d;
            let elu = if l + 1 < cfg.gat.layers { n * d } else { 0.0 };
            out.push(LayerOps::new(format!("gat{}", l + 1), proj + att + agg + elu, ep * heads + n * d));
        }
    }
    if branches.snn() {
        out.extend(snn_ops(cfg, m));
    }
    if branches == Branches::Hybrid {
        let norm = if cfg.fusion.normalize { 2.0 * 4.0 * n * d } else { 0.0 };
        out.push(LayerOps::new("fusion", norm + n * d, 0.0));
    }
    out.push(LayerOps::new("pool + image projection", d * cfg.embed_dim as f64, n * d));
    out
}

/// The spiking branch's counts (or its ReLU twin's), per image.
pub fn snn_ops(cfg: &GshnConfig, m: &Measured) -> Vec<LayerOps> {
    let s = &cfg.snn;
    let d = cfg.d_model as f64;
    let (n, e) = (m.nodes, m.edges);
    let ep = e + n; // self loops
    let twin = s.activation == Activation::Relu;
    let t = if twin { 1.0 } else { s.time_steps as f64 };
    let norm = |steps: f64| if s.norm == SpikeNorm::None { 0.0 } else { 4.0 * steps * n * d };
    let mut out = Vec::new();
    let constant = s.encoding == Encoding::Direct;
    match s.encoding {
        Encoding::Rate | Encoding::Latency => out.push(LayerOps::new("snn encoding", n * d, 0.0)),
        Encoding::Learned => out.push(LayerOps::new("snn encoding", t * n * d, t * n * d)),
        Encoding::Direct => {}
    }
    // The twin's layer after `l` reads `nonzero[l]` nonzero values: the rest skip their MACs.
    let fed = |l: usize| if twin { m.nonzero.get(l).map(|&k| k * d) } else { None };
    for l in 0..s.layers {
        let mut sops = 0.0;
        let (mut macs, acs);
        if l == 0 && constant {
            // The same input at every step: the linear map, the aggregation and the norm once.
            macs = n * d * d + norm(1.0);
            acs = ep * d;
        } else if l == 0 && matches!(s.encoding, Encoding::Rate | Encoding::Latency) {
            macs = norm(t);
            sops = m.input_spikes * d;
            acs = sops + t * ep * d;
        } else if l == 0 || twin {
            macs = (if l == 0 { None } else { fed(l - 1) }).unwrap_or(t * n * d * d) + norm(t);
            acs = t * ep * d;
        } else {
            // Fed spikes: an accumulate per input spike and synapse.
            macs = norm(t);
            sops = m.spikes.get(l - 1).copied().unwrap_or(0.0) * d;
            acs = sops + t * ep * d;
        }
        if twin {
            out.push(LayerOps::new(format!("relu twin layer {}", l + 1), macs, acs));
        } else {
            macs += t * n * d; // the neuron updates
            out.push(LayerOps::spiking(format!("snn layer {}", l + 1), macs, acs, sops, t * n * d));
        }
    }
    if twin {
        out.push(LayerOps::new("relu twin readout", fed(s.layers.saturating_sub(1)).unwrap_or(n * d * d), t * n * d));
    } else {
        out.push(LayerOps::new("snn readout", n * d * d, t * n * d));
    }
    out
}

/// EfficientNet-Lite0 up to the tap at `stride`, on `input_size²` images: the stem (3×3,
/// stride 2, 3 → 32), then per MBConv block the 1×1 expansion `H·W·C_in·eC_in` (not when
/// e = 1), the k×k depthwise convolution `H'·W'·eC_in·k²` and the 1×1 projection
/// `H'·W'·eC_in·C_out`, sides `⌈H / stride⌉` (SAME padding); BatchNorm folded, ReLU6 free.
pub fn efficientnet_ops(input_size: usize, stride: usize) -> Vec<LayerOps> {
    let Some((tap_block, _)) = efficientnet::tap(stride) else { return Vec::new() };
    let mut side = (input_size as f64 / 2.0).ceil();
    let mut out = vec![LayerOps::new("efficientnet stem", side * side * 3.0 * 32.0 * 9.0, 0.0)];
    let mut block = 0;
    for &(repeats, k, first_stride, expand, cin0, cout) in efficientnet::LITE0_STAGES.iter() {
        for r in 0..repeats {
            if block > tap_block {
                return out;
            }
            let (cin, st) = if r == 0 { (cin0 as f64, first_stride as f64) } else { (cout as f64, 1.0) };
            let mid = cin * expand as f64;
            let expand_macs = if expand == 1 { 0.0 } else { side * side * cin * mid };
            let side_out = (side / st).ceil();
            let dw = side_out * side_out * mid * (k * k) as f64;
            let proj = side_out * side_out * mid * cout as f64;
            // The residual add of a block that keeps its shape.
            let acs = if r > 0 { side_out * side_out * cout as f64 } else { 0.0 };
            out.push(LayerOps::new(format!("efficientnet block {block}"), expand_macs + dw + proj, acs));
            side = side_out;
            block += 1;
        }
    }
    out
}

/// The text encoder's counts per caption of `len` tokens (the scratch transformer, or
/// MiniLM-L6: width 384, 12 heads, 6 layers, feed-forward 4× the width).
pub fn text_ops(cfg: &GshnConfig, len: f64) -> Vec<LayerOps> {
    let (w, heads, layers, ffn_mult) = match cfg.text.encoder {
        TextEncoderChoice::MinilmL6(_) => {
            let m = MiniLmConfig::new();
            (m.hidden as f64, m.heads as f64, m.layers, m.intermediate as f64 / m.hidden as f64)
        }
        _ => (cfg.text.width as f64, cfg.text.heads as f64, cfg.text.layers, 2.0),
    };
    let mut out = vec![LayerOps::new("text embeddings", 0.0, len * w)];
    for l in 0..layers {
        let norms = 2.0 * 4.0 * len * w;
        let qkv = 3.0 * len * w * w;
        let scores = len * len * w + 2.0 * len * len * heads;
        let mix = len * len * w + len * w * w;
        let ffn = 2.0 * len * w * ffn_mult * w;
        out.push(LayerOps::new(format!("text layer {}", l + 1), norms + qkv + scores + mix + ffn, 2.0 * len * w));
    }
    out.push(LayerOps::new("text pool + projection", w * cfg.embed_dim as f64, len * w));
    out
}

/// Total compute energy in pJ of `ops` under `model`.
pub fn total_pj(ops: &[LayerOps], model: &EnergyModel) -> f64 {
    ops.iter().map(|o| o.energy_pj(model)).sum()
}

/// Total memory-access energy in pJ of `ops`.
pub fn total_memory_pj(ops: &[LayerOps]) -> f64 {
    ops.iter().map(LayerOps::memory_pj).sum()
}

/// The model's non-spiking twin: the same config with ReLU for the neurons and T = 1.
pub fn twin_of(cfg: &GshnConfig) -> GshnConfig {
    let mut t = cfg.clone();
    t.snn.activation = Activation::Relu;
    t.snn.time_steps = 1;
    t.snn.encoding = Encoding::Direct;
    t.snn.readout = crate::model::config::Readout::Rate;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EfficientNet-Lite0 on 32² images to the stride-4 tap (blocks 0–2), worked out by hand:
    /// stem 16²·3·32·9 = 221,184; block 0 (e 1, 32 → 16): 16²·32·9 + 16²·32·16 = 204,800;
    /// block 1 (e 6, 16 → 24, stride 2): 16²·16·96 + 8²·96·9 + 8²·96·24 = 595,968; block 2
    /// (24 → 24): 8²·24·144 + 8²·144·9 + 8²·144·24 = 525,312 and a residual add of 8²·24.
    #[test]
    fn efficientnet_counts_by_hand() {
        let ops = efficientnet_ops(32, 4);
        let macs: Vec<f64> = ops.iter().map(|o| o.macs).collect();
        assert_eq!(macs, [221_184.0, 204_800.0, 595_968.0, 525_312.0]);
        assert_eq!(ops[3].acs, 1536.0);
        // The stride-16 tap at 224 px stops after block 10, the full Lite0 body costs more.
        assert_eq!(efficientnet_ops(224, 16).len(), 12);
        assert!(efficientnet_ops(224, 32).iter().map(|o| o.macs).sum::<f64>() > efficientnet_ops(224, 16).iter().map(|o| o.macs).sum::<f64>());
    }

    /// A tiny model whose every count is worked out by hand below.
    fn tiny() -> (GshnConfig, Measured) {
        let mut cfg = GshnConfig { d_model: 4, embed_dim: 2, ..Default::default() };
        cfg.tokens.cnn_channels = 2;
        cfg.tokens.stride = 2;
        cfg.gat.layers = 1;
        cfg.gat.heads = 2;
        cfg.snn.layers = 2;
        cfg.snn.time_steps = 3;
        let m = Measured { image_side: 8, cells: 16, nodes: 2.0, edges: 2.0, spikes: vec![5.0, 7.0], input_spikes: 0.0, nonzero: vec![] };
        (cfg, m)
    }

    #[test]
    fn counts_of_a_tiny_model_by_hand() {
        let (cfg, m) = tiny();
        let ops = image_ops(&cfg, &m);
        let get = |name: &str| ops.iter().find(|o| o.name == name).unwrap_or_else(|| panic!("{name} in {ops:?}"));
        // conv1: 8·8 positions × 3 in × 16 out × 9 = 27648 MACs, then a pool over 8·8·16 = 1024 adds.
        assert_eq!((get("cnn conv1").macs, get("cnn conv1").acs), (27648.0, 1024.0));
        // conv2 on 4×4 (no pool with stride 2): 16 × 16 × 32 × 9 = 73728.
        assert_eq!((get("cnn conv2").macs, get("cnn conv2").acs), (73728.0, 0.0));
        // conv3: 16 × 32 × 2 × 9 = 9216.
        assert_eq!(get("cnn conv3").macs, 9216.0);
        // tokens: 2 nodes × 16 cells × 2 channels + 2 × 2 × 4 + geometry 2 × 7 × 4 = 64 + 16 + 56.
        assert_eq!((get("tokens").macs, get("tokens").acs), (136.0, 8.0));
        // gat1 (2 heads, 2 edges + 2 self loops): proj 2·4·4 = 32, attention 2·2·4 + 2·4·2 = 32,
        // aggregation 4·4 = 16; ACs: scores 4·2 = 8 + bias 8.
        assert_eq!((get("gat1").macs, get("gat1").acs), (80.0, 16.0));
        // snn layer 1, direct input once: linear 2·4·4 = 32 + LayerNorm 4·1·2·4 = 32, neurons
        // 3·2·4 = 24; aggregation 4 edges·4 = 16 ACs.
        assert_eq!((get("snn layer 1").macs, get("snn layer 1").acs), (88.0, 16.0));
        // snn layer 2, fed 5 spikes: LayerNorm 4·3·2·4 = 96 + neurons 24; ACs 5·4 + 3·4·4 = 68.
        assert_eq!((get("snn layer 2").macs, get("snn layer 2").acs), (120.0, 68.0));
        // readout: linear 2·4·4 = 32; the rate sums 3·2·4 = 24.
        assert_eq!((get("snn readout").macs, get("snn readout").acs), (32.0, 24.0));
        // fusion: two normalisations 2·4·2·4 = 64 and r·E + F 8.
        assert_eq!(get("fusion").macs, 72.0);
        assert_eq!((get("pool + image projection").macs, get("pool + image projection").acs), (8.0, 8.0));
        // The twin: T = 1, ReLU, both layers fed real values.
        let twin = snn_ops(&twin_of(&cfg), &m);
        assert_eq!((twin[0].macs, twin[0].acs), (64.0, 16.0));
        assert_eq!((twin[1].macs, twin[1].acs), (64.0, 16.0));
        assert_eq!((twin[2].macs, twin[2].acs), (32.0, 8.0));
        // Energy: MACs × 4.6 pJ + ACs × 0.9 pJ.
        let fp32 = EnergyModel::preset("45nm-fp32").unwrap();
        assert!((get("snn layer 2").energy_pj(&fp32) - (120.0 * 4.6 + 68.0 * 0.9)).abs() < 1e-9);
    }

    /// Where the twin was run, a zero ReLU output costs the layer after it nothing, as a
    /// silent neuron costs the spiking layer after it nothing; the SOPs are the spike-driven
    /// accumulates only; memory counts an access per operation and the membranes' traffic.
    #[test]
    fn the_twins_zero_inputs_are_free_and_sops_are_spike_driven_only() {
        let (cfg, mut m) = tiny();
        // Not run: dense (the upper bound above).
        let dense = snn_ops(&twin_of(&cfg), &m);
        // Run: layer 1 gave 3 nonzero outputs (of 2 nodes × 4), layer 2 gave 2.
        m.nonzero = vec![3.0, 2.0];
        let twin = snn_ops(&twin_of(&cfg), &m);
        assert_eq!(twin[0].macs, dense[0].macs, "layer 1 reads the tokens, all nonzero");
        // Layer 2: 3 nonzero inputs × 4 outputs = 12 instead of 2·4·4 = 32, plus LayerNorm 32.
        assert_eq!((dense[1].macs, twin[1].macs), (64.0, 44.0));
        // The readout: 2 nonzero inputs × 4 = 8 instead of 32.
        assert_eq!((dense[2].macs, twin[2].macs), (32.0, 8.0));
        // A spiking model's counts do not read `nonzero` (its spikes are `spikes`).
        assert_eq!(snn_ops(&cfg, &m), snn_ops(&cfg, &Measured { nonzero: vec![], ..m.clone() }));

        let snn = snn_ops(&cfg, &m);
        // Layer 2: 68 ACs, of which 5 spikes × 4 synapses = 20 are SOPs; layer 1 (fed the
        // tokens) has none; the readout's mean over T is additions, not SOPs.
        assert_eq!((snn[1].acs, snn[1].sops), (68.0, 20.0));
        assert_eq!((snn[0].sops, snn[2].sops), (0.0, 0.0));
        // Memory: an access per operation, and each of 3·2·4 = 24 membranes read and written.
        assert_eq!(snn[1].mem, 120.0 + 68.0 + 2.0 * 24.0);
        assert_eq!(twin[1].mem, 44.0 + 16.0, "the twin has no membranes");
        assert!((snn[1].memory_pj() - snn[1].mem * MEM_ACCESS_PJ).abs() < 1e-9);
    }

    #[test]
    fn a_constant_input_is_counted_once_and_a_spiking_input_per_spike() {
        let (mut cfg, mut m) = tiny();
        let direct = snn_ops(&cfg, &m)[0].clone();
        cfg.snn.encoding = Encoding::Learned;
        let learned = snn_ops(&cfg, &m)[1].clone();
        // T − 1 = 2 more linear maps (2 × 32) and a norm over 3 steps instead of 1 (96 − 32).
        assert_eq!(learned.macs - direct.macs, 2.0 * 32.0 + 64.0, "a varying input costs every step");
        assert_eq!(learned.acs, 3.0 * 4.0 * 4.0);
        cfg.snn.encoding = Encoding::Rate;
        m.input_spikes = 9.0;
        let rate = snn_ops(&cfg, &m);
        assert_eq!(rate[1].acs, 9.0 * 4.0 + 3.0 * 4.0 * 4.0, "rate-coded input: ACs per input spike");
    }

    #[test]
    fn text_counts_per_caption() {
        let (cfg, _) = tiny();
        let t = text_ops(&cfg, 3.0);
        // width 64, 4 heads, 2 layers: norms 2·4·3·64 = 1536, qkv 3·3·64·64 = 36864,
        // scores 9·64 + 2·9·4 = 648, mix 9·64 + 3·64·64 = 12864, ffn 2·3·64·128 = 49152.
        assert_eq!(t[1].macs, 1536.0 + 36864.0 + 648.0 + 12864.0 + 49152.0);
        assert_eq!(t.len(), 4);
    }
}
