//! The hybrid encoder and the joint embedding space.
//!
//! ```text
//! F        = CNN(I)                                  [B, C, 16, 16]
//! V_k      = Σ_cells resize(mask_k) · F  (+ W_g geometry_k)     masked average per segment
//! F_GAT    = GAT₂(ELU(GAT₁(V)))                      2 layers × H heads, concatenated
//! E_SNN    = W_o · rate(SGC₂(SGC₁(repeat_T(V))))     spiking graph layers, LIF, T steps
//! V'       = r · E_SNN + F_GAT                       r learned (paper's fusion)
//! image    = normalise(P_i · mean_k V'_k),  text = normalise(P_t · TextEncoder(words))
//! ```

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{elu, relu};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use gshn_graph::batch::{dense_slots, pad_rows};
use gshn_graph::edges::index_tensor;
use gshn_graph::{EdgeList, GatConv, GatConvConfig};
use gshn_snn::layer::rate_readout;
use gshn_snn::neuron::NeuronConfig;

use super::spiking_graph::{FoldedEdges, SpikingGraphConv, SpikingGraphConvConfig};
use super::text::{TextEncoder, TextEncoderConfig};
use super::tokens::{ImageTokens, GEOMETRY};
use super::vqa::{VqaHead, VqaHeadConfig, VqaOutput};
use crate::loss::{l2_normalize, symmetric_infonce, token_segment_similarity, LogitScale, LOGIT_SCALE_INIT};

/// Which branches the encoder uses (the paper's hybrid and the two ablations).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Branches {
    /// `V' = r·E_SNN + F_GAT`.
    Hybrid,
    /// `V' = F_GAT`.
    GatOnly,
    /// `V' = E_SNN`.
    SnnOnly,
}

/// How the fusion weight `r` is set.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum FusionWeight {
    /// One learned scalar (the paper's), starting at `init`.
    Learned {
        /// Initial value. DESIGN: 1.0.
        init: f64,
    },
    /// A learned weight per channel, all starting at `init`.
    LearnedPerChannel {
        /// Initial value.
        init: f64,
    },
    /// A constant.
    Fixed {
        /// The value.
        value: f64,
    },
}

/// Configuration of the [`Gshn`] model.
#[derive(Config, Debug)]
pub struct GshnConfig {
    /// Words in the vocabulary.
    pub vocab_size: usize,
    /// CNN output channels. Default 32.
    #[config(default = 32)]
    pub cnn_channels: usize,
    /// Node feature width (both branches). Default 64.
    #[config(default = 64)]
    pub d_model: usize,
    /// GAT heads (each `d_model / heads` wide). Default 4.
    #[config(default = 4)]
    pub heads: usize,
    /// Spiking time steps T. Default 4.
    #[config(default = 4)]
    pub time_steps: usize,
    /// Neuron of the spiking graph layers. Default LIF τ = 2, ATan.
    #[config(default = "NeuronConfig::default()")]
    pub neuron: NeuronConfig,
    /// Which branches. Default hybrid.
    #[config(default = "Branches::Hybrid")]
    pub branches: Branches,
    /// The fusion weight. Default a learned scalar starting at 1.
    #[config(default = "FusionWeight::Learned { init: 1.0 }")]
    pub fusion: FusionWeight,
    /// Joint embedding width. Default 64.
    #[config(default = 64)]
    pub embed_dim: usize,
    /// Text encoder width. Default 64.
    #[config(default = 64)]
    pub text_width: usize,
    /// Text encoder layers. Default 2.
    #[config(default = 2)]
    pub text_layers: usize,
    /// VQA answers (the classifier's width). Default 18 (ShapeWorld's vocabulary).
    #[config(default = 18)]
    pub answers: usize,
}

/// A batch of segmented images on the device.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// Pixels `[B, 3, H, W]`, scaled to `[−0.5, 0.5]`.
    pub pixels: Tensor<4>,
    /// Node masks `[ΣN, cells]`, each summing to 1.
    pub masks: Tensor<2>,
    /// Node geometry `[ΣN, 7]`.
    pub geometry: Tensor<2>,
    /// Image of each node.
    pub node_image: Tensor<1, Int>,
    /// Edges over all nodes (offset per image).
    pub edges: EdgeList,
    /// The edges folded for T steps.
    pub folded: FoldedEdges,
    /// Node offsets per image.
    pub ptr: Vec<usize>,
    /// Row of each node in the padded `[B·N_max, …]` layout.
    pub slots: Tensor<1, Int>,
    /// Nodes of the largest image.
    pub max_nodes: usize,
    /// `[B, N_max]`, true on real nodes.
    pub mask: Tensor<2, Bool>,
}

impl ImageBatch {
    /// Builds a batch from images (`RGB8`, all the same size) and their tokens.
    pub fn new(images: &[&image::RgbImage], tokens: &[&ImageTokens], time_steps: usize, device: &Device) -> anyhow::Result<Self> {
        anyhow::ensure!(!images.is_empty() && images.len() == tokens.len(), "a batch needs as many token sets as images");
        let (w, h) = images[0].dimensions();
        let cells = tokens[0].masks.len() / tokens[0].n;
        let mut pixels = Vec::with_capacity(images.len() * 3 * (w * h) as usize);
        for img in images {
            anyhow::ensure!(img.dimensions() == (w, h), "images in a batch must share a size");
            for c in 0..3 {
                pixels.extend(img.pixels().map(|p| p.0[c] as f32 / 255.0 - 0.5));
            }
        }
        let (mut masks, mut geometry, mut node_image, mut ptr) = (vec![], vec![], vec![], vec![0]);
        let (mut src, mut dst) = (vec![], vec![]);
        for (g, t) in tokens.iter().enumerate() {
            anyhow::ensure!(t.masks.len() == t.n * cells, "all token sets must share the feature-map size");
            let off = *ptr.last().expect("non-empty");
            masks.extend_from_slice(&t.masks);
            geometry.extend_from_slice(&t.geometry);
            node_image.extend(std::iter::repeat_n(g as i64, t.n));
            src.extend(t.edges.src.iter().map(|s| s + off));
            dst.extend(t.edges.dst.iter().map(|d| d + off));
            ptr.push(off + t.n);
        }
        let total = *ptr.last().expect("non-empty");
        let edges = EdgeList { num_nodes: total, src, dst };
        let (slots, max_nodes) = dense_slots(&ptr);
        let mut mask = vec![false; images.len() * max_nodes];
        slots.iter().for_each(|&s| mask[s] = true);
        Ok(Self {
            slots: index_tensor(&slots, device),
            max_nodes,
            mask: Tensor::from_data(TensorData::new(mask, [images.len(), max_nodes]), device),
            pixels: Tensor::from_data(TensorData::new(pixels, [images.len(), 3, h as usize, w as usize]), device),
            masks: Tensor::from_data(TensorData::new(masks, [total, cells]), device),
            geometry: Tensor::from_data(TensorData::new(geometry, [total, GEOMETRY]), device),
            node_image: Tensor::from_data(TensorData::new(node_image, [total]), device),
            folded: FoldedEdges::new(&edges, time_steps, device),
            edges,
            ptr,
        })
    }

    /// Images in the batch.
    pub fn len(&self) -> usize {
        self.ptr.len() - 1
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Node rows `[ΣN, F]` padded into `[B, N_max, F]` (zeros beyond each image's nodes).
    pub fn to_dense(&self, x: Tensor<2>) -> Tensor<3> {
        pad_rows(x, self.slots.clone(), self.len(), self.max_nodes)
    }
}

/// What the image encoder produced.
#[derive(Debug, Clone)]
pub struct ImageOutput {
    /// Unit-norm image embeddings `[B, embed_dim]`.
    pub embedding: Tensor<2>,
    /// Fused node features `V'` `[ΣN, d_model]`.
    pub nodes: Tensor<2>,
    /// Spiking node features `E_SNN` `[ΣN, d_model]` (when the SNN branch runs).
    pub snn_nodes: Option<Tensor<2>>,
    /// Graph-attention node features `F_GAT` `[ΣN, d_model]` (when the GAT branch runs).
    pub gat_nodes: Option<Tensor<2>>,
    /// The visual tokens `V` `[ΣN, d_model]` (the spiking branch's input).
    pub tokens: Tensor<2>,
    /// Spikes of the two spiking graph layers, `[T, ΣN, d_model]` each.
    pub spikes: Vec<Tensor<3>>,
}

/// The Graph Spiking Hybrid Network with its text encoder and joint space.
#[derive(Module, Debug)]
pub struct Gshn {
    /// CNN layers.
    pub conv1: Conv2d,
    /// Second conv.
    pub conv2: Conv2d,
    /// Third conv.
    pub conv3: Conv2d,
    /// 2×2 average pooling.
    pub pool: AvgPool2d,
    /// Segment feature → node width.
    pub node_in: Linear,
    /// Geometry embedding.
    pub geometry: Linear,
    /// First GAT layer.
    pub gat1: GatConv,
    /// Second GAT layer.
    pub gat2: GatConv,
    /// First spiking graph layer.
    pub sgc1: SpikingGraphConv,
    /// Second spiking graph layer.
    pub sgc2: SpikingGraphConv,
    /// Firing-rate readout.
    pub snn_out: Linear,
    /// The fusion weight `r` (`[1]` or `[d_model]`).
    pub r: Param<Tensor<1>>,
    /// Image projection into the joint space.
    pub image_proj: Linear,
    /// The text encoder.
    pub text: TextEncoder,
    /// Text projection into the joint space.
    pub text_proj: Linear,
    /// CLIP's learnable logit scale.
    pub logit_scale: LogitScale,
    /// The VQA head.
    pub vqa: VqaHead,
    /// Spiked Text Learning: word features → joint space.
    pub stl_words: Linear,
    /// Spiked Text Learning: spiking segment features → joint space.
    pub stl_segments: Linear,
    /// Node-level InfoNCE: projection of the `E_SNN` view.
    pub node_snn: Linear,
    /// Node-level InfoNCE: projection of the `F_GAT` view.
    pub node_gat: Linear,
    /// Spiking time steps.
    pub time_steps: usize,
    /// Branches.
    #[module(skip)]
    pub branches: Branches,
    /// Whether `r` is trained.
    pub r_learned: bool,
}

impl GshnConfig {
    /// Validates the config and builds the model.
    pub fn init(&self, device: &Device) -> anyhow::Result<Gshn> {
        anyhow::ensure!(self.time_steps >= 1, "time_steps must be at least 1");
        anyhow::ensure!(self.heads >= 1 && self.d_model % self.heads == 0, "d_model ({}) must be a multiple of heads ({})", self.d_model, self.heads);
        anyhow::ensure!(self.vocab_size > 2, "the vocabulary is empty");
        anyhow::ensure!(self.answers >= 1, "the VQA head needs at least one answer");
        let c = self.cnn_channels;
        let conv = |i, o| Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Same).init(device);
        let d = self.d_model;
        let gat = || GatConvConfig::new(d, d / self.heads).with_heads(self.heads).init(device);
        let sgc = || SpikingGraphConvConfig::new(d, d).with_neuron(self.neuron.clone()).init(device);
        let (r, r_learned) = match self.fusion {
            FusionWeight::Learned { init } => (Tensor::<1>::from_floats([init as f32], device), true),
            FusionWeight::LearnedPerChannel { init } => (Tensor::<1>::full([d], init, device), true),
            FusionWeight::Fixed { value } => (Tensor::<1>::from_floats([value as f32], device), false),
        };
        Ok(Gshn {
            conv1: conv(3, 16),
            conv2: conv(16, 32),
            conv3: conv(32, c),
            pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            node_in: LinearConfig::new(c, d).init(device),
            geometry: LinearConfig::new(GEOMETRY, d).init(device),
            gat1: gat()?,
            gat2: gat()?,
            sgc1: sgc()?,
            sgc2: sgc()?,
            snn_out: LinearConfig::new(d, d).init(device),
            r: Param::from_tensor(r),
            image_proj: LinearConfig::new(d, self.embed_dim).init(device),
            text: TextEncoderConfig::new(self.vocab_size).with_d_model(self.text_width).with_layers(self.text_layers).init(device),
            text_proj: LinearConfig::new(self.text_width, self.embed_dim).init(device),
            logit_scale: LogitScale::new(LOGIT_SCALE_INIT, device),
            vqa: VqaHeadConfig::new(d, self.text_width, self.answers).init(device),
            stl_words: LinearConfig::new(self.text_width, self.embed_dim).init(device),
            stl_segments: LinearConfig::new(d, self.embed_dim).init(device),
            node_snn: LinearConfig::new(d, d).init(device),
            node_gat: LinearConfig::new(d, d).init(device),
            time_steps: self.time_steps,
            branches: self.branches,
            r_learned,
        })
    }
}

impl Gshn {
    /// Visual tokens `V` `[ΣN, d_model]`: the CNN feature map averaged under each segment's
    /// resized mask, plus the geometry embedding.
    pub fn tokens(&self, batch: &ImageBatch) -> anyhow::Result<Tensor<2>> {
        let x = relu(self.conv1.forward(batch.pixels.clone()));
        let x = relu(self.conv2.forward(self.pool.forward(x)));
        let f = relu(self.conv3.forward(self.pool.forward(x))); // [B, C, H/4, W/4]
        let [b, c, h, w] = f.dims();
        let cells: Tensor<3> = f.reshape([b, c, h * w]).swap_dims(1, 2); // [B, cells, C]
        let per_node = cells.select(0, batch.node_image.clone()); // [ΣN, cells, C]
        let [n, k] = batch.masks.dims();
        anyhow::ensure!(k == h * w, "masks were made for a {k}-cell feature map, the CNN gives {} cells", h * w);
        let pooled: Tensor<2> = per_node.mul(batch.masks.clone().reshape([n, k, 1])).sum_dim(1).reshape([n, c]);
        Ok(self.node_in.forward(pooled).add(self.geometry.forward(batch.geometry.clone())))
    }

    /// Encodes a batch of images.
    pub fn encode_images(&self, batch: &ImageBatch) -> anyhow::Result<ImageOutput> {
        let v = self.tokens(batch)?;
        let gat = |v: Tensor<2>| -> anyhow::Result<Tensor<2>> {
            let h = elu(self.gat1.forward(v, &batch.edges, None)?.out, 1.0);
            Ok(self.gat2.forward(h, &batch.edges, None)?.out)
        };
        let mut spikes = Vec::new();
        let mut snn = |v: Tensor<2>| -> anyhow::Result<Tensor<2>> {
            let [n, d] = v.dims();
            let x = v.unsqueeze_dim::<3>(0).expand([self.time_steps, n, d]); // direct encoding
            let s1 = self.sgc1.forward(x, &batch.folded)?;
            let s2 = self.sgc2.forward(s1.clone(), &batch.folded)?;
            spikes.push(s1);
            spikes.push(s2.clone());
            Ok(self.snn_out.forward(rate_readout(s2)))
        };
        let (nodes, snn_nodes, gat_nodes) = match self.branches {
            Branches::GatOnly => {
                let f = gat(v.clone())?;
                (f.clone(), None, Some(f))
            }
            Branches::SnnOnly => {
                let e = snn(v.clone())?;
                (e.clone(), Some(e), None)
            }
            Branches::Hybrid => {
                let f = gat(v.clone())?;
                let e = snn(v.clone())?;
                let r = if self.r_learned { self.r.val() } else { self.r.val().detach() };
                (e.clone().mul(r.unsqueeze_dim(0)).add(f.clone()), Some(e), Some(f))
            }
        };
        let mean = gshn_graph::batch::segment_mean(nodes.clone(), batch.node_image.clone(), &batch.ptr);
        Ok(ImageOutput { embedding: l2_normalize(self.image_proj.forward(mean)), nodes, snn_nodes, gat_nodes, tokens: v, spikes })
    }

    /// Unit-norm text embeddings `[B, embed_dim]` for token ids and padding masks.
    pub fn encode_text(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> Tensor<2> {
        let (_, sentence) = self.text.forward(ids, pad);
        self.embed_sentence(sentence)
    }

    /// A sentence feature `[B, text_width]` into the joint space, unit norm.
    pub fn embed_sentence(&self, sentence: Tensor<2>) -> Tensor<2> {
        l2_normalize(self.text_proj.forward(sentence))
    }

    /// VQA: answers questions (`question` sentence features `[Q, text_width]`) about the
    /// images `question_image[q]` of `batch`, attending over the fused nodes of `out`.
    pub fn answer(&self, batch: &ImageBatch, out: &ImageOutput, question: Tensor<2>, question_image: Tensor<1, Int>) -> VqaOutput {
        let dense = batch.to_dense(out.nodes.clone()).select(0, question_image.clone());
        let mask = batch.mask.clone().int().select(0, question_image).equal_elem(1);
        self.vqa.forward(question, dense, mask)
    }

    /// Spiked Text Learning similarity `[B_t, B_i]` (scaled by the logit scale): each word of
    /// each caption against the spiking segment features `E_SNN` of each image, max over
    /// segments, mean over words (FILIP-style). With no spiking branch the fused nodes stand
    /// in. `words` `[B_t, L, text_width]`, `pad` true on padding.
    pub fn stl_logits(&self, batch: &ImageBatch, out: &ImageOutput, words: Tensor<3>, pad: Tensor<2, Bool>) -> Tensor<2> {
        let [bt, l, w] = words.dims();
        let e = self.embed_dim();
        let wf = l2_normalize(self.stl_words.forward(words.reshape([bt * l, w]))).reshape([bt, l, e]);
        let seg = out.snn_nodes.clone().unwrap_or_else(|| out.nodes.clone());
        let sf = batch.to_dense(l2_normalize(self.stl_segments.forward(seg)));
        token_segment_similarity(wf, pad.bool_not(), sf, batch.mask.clone()).mul(self.logit_scale.scale().unsqueeze_dim(0))
    }

    /// Node-level InfoNCE between the `E_SNN` and `F_GAT` views of each segment (hybrid only):
    /// projected, unit-norm, `logits = e·fᵀ / temperature` over the batch's nodes (at most
    /// `max_nodes`), symmetric cross-entropy with the same segment as the positive.
    pub fn node_infonce(&self, out: &ImageOutput, temperature: f64, max_nodes: usize) -> Option<Tensor<1>> {
        let (e, f) = (out.snn_nodes.clone()?, out.gat_nodes.clone()?);
        let n = e.dims()[0].min(max_nodes);
        let e = l2_normalize(self.node_snn.forward(e.narrow(0, 0, n)));
        let f = l2_normalize(self.node_gat.forward(f.narrow(0, 0, n)));
        Some(symmetric_infonce(e.matmul(f.transpose()).div_scalar(temperature)))
    }

    /// Joint embedding width.
    pub fn embed_dim(&self) -> usize {
        self.image_proj.weight.dims()[1]
    }

    /// The current fusion weight(s) `r`.
    pub fn r_values(&self) -> Vec<f32> {
        self.r.val().to_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
    }
}
