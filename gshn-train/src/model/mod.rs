//! The Graph Spiking Hybrid Network: visual tokens from segments ([`backbone`], [`tokens`]),
//! a graph attention branch `F_GAT` ([`gat_branch`]), a spiking graph branch `E_SNN`
//! ([`spiking_graph`]), the fusion `V' = r·E_SNN + F_GAT` ([`fusion`]), a text encoder
//! ([`text`]; its [`transformer`] with a fast [`dropout`] on flex), a VQA head ([`vqa`]) and
//! the joint embedding space with its losses ([`gshn`]), all configured by one nested
//! [`GshnConfig`] ([`config`]). The pretrained encoders: EfficientNet-Lite0 ([`efficientnet`])
//! and MiniLM-L6 ([`minilm`], with its [`wordpiece`] tokenizer), their weight files
//! ([`weights`]) and the frozen backbone's feature cache ([`feature_cache`]).

pub mod backbone;
pub mod config;
pub mod dropout;
pub mod efficientnet;
pub mod feature_cache;
pub mod fused_conv;
pub mod fusion;
pub mod gat_branch;
pub mod gshn;
pub mod minilm;
pub mod snn_export;
pub mod spiking_graph;
pub mod text;
pub mod text_cache;
pub mod tokens;
pub mod transformer;
/// The VQA head, now in [`crate::task::vqa`] (this path is kept for existing imports).
pub use crate::task::vqa;
pub mod weights;
pub mod wordpiece;

pub use config::{Branches, FusionMode, GshnConfig};
pub use gshn::{Gshn, ImageOutput};
pub use text::{TextEncoder, TextEncoderConfig, TextModel, Vocab};
pub use tokens::ImageTokens;
pub use vqa::{VqaHead, VqaHeadConfig, VqaOutput};
