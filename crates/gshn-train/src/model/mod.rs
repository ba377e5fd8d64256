//! The Graph Spiking Hybrid Network: visual tokens from segments, a graph attention branch
//! `F_GAT`, a spiking graph branch `E_SNN`, the fusion `V' = r·E_SNN + F_GAT`, a text encoder
//! and the joint embedding space.

pub mod hybrid;
pub mod spiking_graph;
pub mod text;
pub mod tokens;
pub mod vqa;

pub use hybrid::{Branches, Gshn, GshnConfig, ImageBatch};
pub use text::{TextEncoder, TextEncoderConfig, Vocab};
pub use tokens::ImageTokens;
pub use vqa::{VqaHead, VqaHeadConfig, VqaOutput};
