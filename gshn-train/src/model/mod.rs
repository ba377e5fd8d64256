//! The Graph Spiking Hybrid Network: visual tokens from segments ([`backbone`], [`tokens`]),
//! a graph attention branch `F_GAT` ([`gat_branch`]), a spiking graph branch `E_SNN`
//! ([`spiking_graph`]), the fusion `V' = r·E_SNN + F_GAT` ([`fusion`]), a text encoder
//! ([`text`]), a VQA head ([`vqa`]) and the joint embedding space with its losses
//! ([`gshn`]), all configured by one nested [`GshnConfig`] ([`config`]).

pub mod backbone;
pub mod config;
pub mod fusion;
pub mod gat_branch;
pub mod gshn;
pub mod spiking_graph;
pub mod text;
pub mod tokens;
pub mod vqa;

pub use config::{Branches, FusionMode, GshnConfig};
pub use gshn::{Gshn, ImageOutput};
pub use text::{TextEncoder, TextEncoderConfig, Vocab};
pub use tokens::ImageTokens;
pub use vqa::{VqaHead, VqaHeadConfig, VqaOutput};
