//! The text side: a word vocabulary built from the data and a small transformer encoder
//! trained from scratch, or the pretrained MiniLM-L6 ([`super::minilm`]) over its WordPiece
//! vocabulary ([`super::wordpiece`]).

use std::collections::BTreeMap;

use burn::config::Config;
use burn::module::Module;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::config::Empty;
use super::minilm::MiniLm;
use super::weights;
use gshn_snn::config_serde::{Tagged, TaggedVisitor};
use serde::de;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::PathBuf;

/// Padding token id.
pub const PAD: usize = 0;
/// Unknown-word token id.
pub const UNK: usize = 1;

/// A word vocabulary: lower-cased words split on white space and punctuation; ids 0 and 1
/// are padding and unknown, the rest in alphabetical order (stable across runs). Serialised
/// as its word list (the index is rebuilt when it is read).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct Vocab {
    /// Words by id.
    pub words: Vec<String>,
    index: BTreeMap<String, usize>,
}

impl From<Vec<String>> for Vocab {
    fn from(words: Vec<String>) -> Self {
        Self::from_words(words)
    }
}

impl From<Vocab> for Vec<String> {
    fn from(v: Vocab) -> Self {
        v.words
    }
}

/// The words of a text.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect()
}

impl Vocab {
    /// The vocabulary of `texts`.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = std::collections::BTreeSet::new();
        for t in texts {
            set.extend(words(t));
        }
        let mut all = vec!["<pad>".to_string(), "<unk>".to_string()];
        all.extend(set);
        Self::from_words(all)
    }

    /// A vocabulary from its word list (as saved).
    pub fn from_words(words: Vec<String>) -> Self {
        let index = words.iter().enumerate().map(|(i, w)| (w.clone(), i)).collect();
        Self { words, index }
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether only the special tokens exist.
    pub fn is_empty(&self) -> bool {
        self.words.len() <= 2
    }

    /// Token ids of a text.
    pub fn encode(&self, text: &str) -> Vec<usize> {
        words(text).iter().map(|w| self.index.get(w).copied().unwrap_or(UNK)).collect()
    }

    /// A padded batch: ids `[B, L]` and a padding mask `[B, L]` (true on padding), `L` the
    /// longest text (at most `max_len`).
    pub fn batch(&self, texts: &[&str], max_len: usize, device: &Device) -> (Tensor<2, Int>, Tensor<2, Bool>) {
        self.batch_padded(texts, max_len, false, device)
    }

    /// [`batch`](Self::batch), with `bucket` padding the length up to the next power of two
    /// (at most `max_len`), so that batches of similar texts share one shape. Padding is
    /// masked: it changes no real token's feature.
    pub fn batch_padded(&self, texts: &[&str], max_len: usize, bucket: bool, device: &Device) -> (Tensor<2, Int>, Tensor<2, Bool>) {
        let enc: Vec<Vec<usize>> = texts.iter().map(|t| self.encode(t).into_iter().take(max_len).collect()).collect();
        let longest = enc.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let l = if bucket { longest.next_power_of_two().min(max_len).max(longest) } else { longest };
        let mut ids = vec![PAD as i64; texts.len() * l];
        let mut pad = vec![true; texts.len() * l];
        for (b, e) in enc.iter().enumerate() {
            for (i, &id) in e.iter().enumerate() {
                ids[b * l + i] = id as i64;
                pad[b * l + i] = false;
            }
        }
        (Tensor::from_data(TensorData::new(ids, [texts.len(), l]), device), Tensor::from_data(TensorData::new(pad, [texts.len(), l]), device))
    }
}

/// Configuration of the [`TextEncoder`].
#[derive(Config, Debug)]
pub struct TextEncoderConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width. Default 64.
    #[config(default = 64)]
    pub d_model: usize,
    /// Attention heads. Default 4.
    #[config(default = 4)]
    pub heads: usize,
    /// Layers. Default 2.
    #[config(default = 2)]
    pub layers: usize,
    /// Longest text in tokens. Default 48.
    #[config(default = 48)]
    pub max_len: usize,
    /// Dropout. Default 0.1.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Dropout masks drawn fast on flex ([`super::dropout`]); false runs Burn's
    /// `TransformerEncoder::forward` unchanged. Default true.
    #[config(default = true)]
    pub fast_dropout: bool,
}

/// Word + position embeddings, a pre-norm transformer encoder, and the mean over real tokens.
#[derive(Module, Debug)]
pub struct TextEncoder {
    /// Word embeddings.
    pub words: Embedding,
    /// Learned position embeddings.
    pub positions: Embedding,
    /// The transformer.
    pub encoder: TransformerEncoder,
    /// Whether the transformer runs [`super::transformer::encode`]'s fast dropout
    /// (`TextConfig::fast_dropout`).
    #[module(skip)]
    pub fast_dropout: bool,
}

impl TextEncoderConfig {
    /// The encoder of `text` for a vocabulary of `vocab_size` words.
    pub fn from_text(text: &TextConfig, vocab_size: usize) -> Self {
        Self::new(vocab_size)
            .with_d_model(text.width)
            .with_heads(text.heads)
            .with_layers(text.layers)
            .with_max_len(text.max_len)
            .with_dropout(text.dropout)
            .with_fast_dropout(text.fast_dropout)
    }

    /// Builds the encoder.
    pub fn init(&self, device: &Device) -> TextEncoder {
        TextEncoder {
            words: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            positions: EmbeddingConfig::new(self.max_len, self.d_model).init(device),
            encoder: TransformerEncoderConfig::new(self.d_model, 2 * self.d_model, self.heads, self.layers)
                .with_dropout(self.dropout)
                .with_norm_first(true)
                .init(device),
            fast_dropout: self.fast_dropout,
        }
    }
}

impl TextEncoder {
    /// Per-token features `[B, L, d]` and the sentence feature `[B, d]` (mean over non-padding).
    pub fn forward(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> (Tensor<3>, Tensor<2>) {
        let [b, l] = ids.dims();
        let device = ids.device();
        let pos = Tensor::<1, Int>::arange(0..l as i64, &device).reshape([1, l]).expand([b, l]);
        let x = self.words.forward(ids).add(self.positions.forward(pos));
        let tokens = super::transformer::encode(&self.encoder, x, pad.clone(), self.fast_dropout);
        let keep = pad.bool_not().float().reshape([b, l, 1]);
        let count = keep.clone().sum_dim(1).clamp_min(1.0);
        let d = tokens.dims()[2];
        let sentence: Tensor<2> = tokens.clone().mul(keep).sum_dim(1).div(count).reshape([b, d]);
        (tokens, sentence)
    }
}

/// The text encoder of a [`Gshn`](super::Gshn): trained from scratch or the pretrained
/// MiniLM-L6.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum TextModel {
    /// The transformer trained from scratch over the data's words.
    Scratch(TextEncoder),
    /// all-MiniLM-L6-v2 over its WordPiece vocabulary.
    MiniLm(MiniLm),
}

impl TextModel {
    /// Per-token features `[B, L, width]` and the sentence feature `[B, width]` (MiniLM's is
    /// its unit-norm sentence embedding).
    pub fn forward(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> (Tensor<3>, Tensor<2>) {
        match self {
            TextModel::Scratch(t) => t.forward(ids, pad),
            TextModel::MiniLm(m) => m.forward(ids, pad),
        }
    }

    /// Whether it reads WordPiece ids (MiniLM) rather than the data's word ids.
    pub fn wordpiece(&self) -> bool {
        matches!(self, TextModel::MiniLm(_))
    }
}

/// Which text encoder: one trained from scratch, or the pretrained all-MiniLM-L6-v2. In a
/// config file a name (`encoder = "minilm-l6"`, with its defaults) or a one-key table
/// (`[model.text.encoder.minilm-l6]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TextEncoderChoice {
    /// A small transformer trained from scratch over the data's word vocabulary (`width`,
    /// `layers`, `heads`, `dropout`). Default.
    #[default]
    Scratch,
    /// all-MiniLM-L6-v2 (sentence-transformers; 6 layers, width 384) over its WordPiece
    /// vocabulary.
    MinilmL6(MiniLmChoice),
}

/// The pretrained MiniLM-L6 text encoder's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiniLmChoice {
    /// The folder `scripts/fetch-weights.sh minilm-l6` unpacked (relative paths from the
    /// working directory). Default `data/weights/minilm-l6`.
    pub weights: PathBuf,
    /// Keep the pretrained weights fixed (false fine-tunes all of them). Default true.
    pub frozen: bool,
}

impl Default for MiniLmChoice {
    fn default() -> Self {
        Self { weights: PathBuf::from(weights::MINILM_DIR), frozen: true }
    }
}

impl TextEncoderChoice {
    /// The pretrained encoder's settings, if it is one.
    pub fn minilm(&self) -> Option<&MiniLmChoice> {
        match self {
            TextEncoderChoice::Scratch => None,
            TextEncoderChoice::MinilmL6(c) => Some(c),
        }
    }
}

impl Tagged for TextEncoderChoice {
    const WHAT: &'static str = "text encoder";
    const NAMES: &'static [&'static str] = &["scratch", "minilm-l6"];

    fn by_name(name: &str) -> Option<Self> {
        Some(match name {
            "scratch" => TextEncoderChoice::Scratch,
            "minilm-l6" => TextEncoderChoice::MinilmL6(MiniLmChoice::default()),
            _ => return None,
        })
    }

    fn with_fields<'de, A: de::MapAccess<'de>>(name: &str, map: &mut A) -> std::result::Result<Self, A::Error> {
        Ok(match name {
            "scratch" => {
                map.next_value::<Empty>()?;
                TextEncoderChoice::Scratch
            }
            _ => TextEncoderChoice::MinilmL6(map.next_value()?),
        })
    }
}

impl Serialize for TextEncoderChoice {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            TextEncoderChoice::Scratch => s.serialize_str("scratch"),
            TextEncoderChoice::MinilmL6(c) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("minilm-l6", c)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for TextEncoderChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(TaggedVisitor::<TextEncoderChoice>::new())
    }
}

/// The text encoder: a small transformer trained from scratch (word and position embeddings,
/// a pre-norm transformer, the mean over real tokens), or the pretrained MiniLM-L6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextConfig {
    /// `scratch` or `minilm-l6`. Default `scratch`.
    pub encoder: TextEncoderChoice,
    /// Width (scratch; MiniLM's is 384). Default 64.
    pub width: usize,
    /// Layers (scratch). Default 2.
    pub layers: usize,
    /// Attention heads (scratch; dividing `width`). Default 4.
    pub heads: usize,
    /// Longest text in tokens (MiniLM: word pieces with `[CLS]` and `[SEP]`, at most 512);
    /// longer texts are cut. Default 48.
    pub max_len: usize,
    /// Dropout (scratch). Default 0.1.
    pub dropout: f64,
    /// Draw the dropout masks fast on flex (scratch; [`super::dropout`]: the same keep
    /// probability and scaling, another random stream); false runs Burn's `Dropout`.
    /// Default true.
    pub fast_dropout: bool,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self { encoder: TextEncoderChoice::Scratch, width: 64, layers: 2, heads: 4, max_len: 48, dropout: 0.1, fast_dropout: true }
    }
}

impl TextConfig {
    /// The width of the encoder's token and sentence features (384 for MiniLM).
    pub fn feature_width(&self) -> usize {
        match self.encoder {
            TextEncoderChoice::Scratch => self.width,
            TextEncoderChoice::MinilmL6(_) => super::minilm::MiniLmConfig::new().hidden,
        }
    }
}
