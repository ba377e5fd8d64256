//! From examples to device batches: an [`Example`] (image, segmentation, captions, hard
//! negatives, questions) is [prepared](GshnBatcher::prepare) once into visual-token inputs
//! (masks at the feature-map resolution, geometry, the segment graph), and the
//! [`GshnBatcher`] turns prepared examples into a [`GshnBatch`] for
//! [`Gshn::losses`](crate::model::Gshn::losses).
//!
//! The shapes the model and the data share — the feature-map stride, the longest text, the
//! time steps — are read from the model's [`GshnConfig`], one place.

use std::sync::Arc;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use gshn_graph::scatter::{dense_adjacency, dense_slots_with, index_tensor};
use gshn_graph::{EdgeList, GraphBatch};
use gshn_snn::rng::SeedRng;

use crate::dataset::{planar_pixels, prepare, Example, PairStatement, Prepared, QaItem};
use crate::error::{bad_input, Result};
use crate::model::config::{GshnConfig, TokensConfig};
use crate::model::spiking_graph::FoldedEdges;
use crate::model::text::TextModel;
use crate::model::text_cache::{FrozenTextCache, SharedTextCache};
use crate::model::tokens::GEOMETRY;
use crate::model::weights::MINILM_VOCAB;
use crate::model::wordpiece::WordPiece;
use crate::model::Gshn;
use crate::model::Vocab;

/// Texts on the device: token ids `[B, L]` and a padding mask `[B, L]` (true on padding).
#[derive(Debug, Clone)]
pub struct TextBatch {
    /// Token ids.
    pub ids: Tensor<2, Int>,
    /// True on padding.
    pub pad: Tensor<2, Bool>,
    /// A frozen pretrained encoder's token features `[B, L, width]` and sentence features
    /// `[B, width]`, when the batcher has its memo (the model then does not run it).
    pub frozen: Option<(Tensor<3>, Tensor<2>)>,
}

/// Questions about a batch's images.
#[derive(Debug, Clone)]
pub struct QuestionBatch {
    /// The questions.
    pub text: TextBatch,
    /// The batch row of each question's image `[Q]`.
    pub image: Tensor<1, Int>,
    /// The answer of each question `[Q]` (an index into the answer vocabulary).
    pub answers: Tensor<1, Int>,
}

/// Statements about pairs of images (NLVR²): the batch's images are the left ones.
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// The right image of every pair, batch row `b` the partner of image `b`.
    pub right: ImageBatch,
    /// The statements (`image`: their pair's row, `answers`: 1 true, 0 false).
    pub statements: QuestionBatch,
    /// `[S, 1]`: 1 where the statement was swapped with its images (BLIP's augmentation: the
    /// right image reads as the left), else 0.
    pub swap: Tensor<2>,
}

/// Segmented images on the device, in a padded layout whose shapes depend only on the batch
/// size `B`, the node block `M` (the largest image's node count rounded up to a power of two)
/// and the edge count rounded up to a power of two — so that batches repeat their shapes and a
/// GPU reuses its compiled and tuned kernels. Node `k` of image `b` sits in row `b·M + k`;
/// the rows beyond an image's nodes are padding, masked out of every result.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// Pixels `[B, 3, H, W]`, scaled to `[−0.5, 0.5]`.
    pub pixels: Tensor<4>,
    /// The frozen backbone's feature maps `[B, C, h, w]`, when every image had them attached
    /// (the model then skips its frozen backbone).
    pub features: Option<Tensor<4>>,
    /// Segment masks at the feature-map resolution `[B, M, cells]`, each real row summing to
    /// 1, padding rows 0.
    pub masks: Tensor<3>,
    /// Segment geometry `[B, M, 7]` (box, centroid, area over the image size; 0 on padding).
    pub geometry: Tensor<3>,
    /// `[B, M]`, true on real nodes.
    pub mask: Tensor<2, Bool>,
    /// `[B, M, 1]`: `1 / nodes of the image` on real nodes, 0 on padding (the mean over an
    /// image's nodes is a weighted sum).
    pub weights: Tensor<3>,
    /// `[B, 1, M, M]`: entry `(b, i, j)` counts the edges `j → i` of image `b` (the dense GAT
    /// path).
    pub adjacency: Tensor<4>,
    /// The edges over `B·M + 2` rows — the padded node rows and two spare rows — with extra
    /// edges between the two spare rows up to a power-of-two count (the edge-list paths).
    pub edges: EdgeList,
    /// `edges` with self loops, folded for the spiking branch's T steps.
    pub folded: FoldedEdges,
    /// `[B·M + 2, 1]`: 1 on real node rows, 0 on padding and the spare rows.
    pub row_weight: Tensor<2>,
    /// The real graphs, unpadded: node features the geometry `[ΣN, 7]`, `ptr` offsets, edges.
    pub graph: GraphBatch,
    /// Row of each real node in the `B·M` layout `[ΣN]`.
    pub slots: Tensor<1, Int>,
    /// The node block `M`.
    pub max_nodes: usize,
}

/// Spare rows after the `B·M` node rows: the edge-list paths pad their edge count with edges
/// between these two, which no real node reaches.
pub const SPARE_ROWS: usize = 2;

impl ImageBatch {
    /// Images in the batch.
    pub fn len(&self) -> usize {
        self.graph.num_graphs()
    }

    /// Whether the batch is empty (never, for a batch the batcher made).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Real nodes in the batch (`ΣN`).
    pub fn num_nodes(&self) -> usize {
        self.graph.edges.num_nodes
    }

    /// Node rows in the padded layout (`B·M`).
    pub fn rows(&self) -> usize {
        self.len() * self.max_nodes
    }

    /// The real rows `[ΣN, F]` of padded rows `[B·M, F]`.
    pub fn real_rows<const D: usize>(&self, x: Tensor<D>, dim: usize) -> Tensor<D> {
        x.select(dim, self.slots.clone())
    }
}

/// What one training step consumes: images, one caption per image (when the data has
/// captions) and one question per image that has questions.
#[derive(Debug, Clone)]
pub struct GshnBatch {
    /// The images.
    pub images: ImageBatch,
    /// Caption `b` belongs to image `b`.
    pub captions: Option<TextBatch>,
    /// Questions about some of the images.
    pub questions: Option<QuestionBatch>,
    /// Entailment hypotheses about some of the images (`answers`: their labels).
    pub hypotheses: Option<QuestionBatch>,
    /// The images' partners and statements about the pairs (NLVR²), when every image has a
    /// partner and some have statements.
    pub pairs: Option<PairBatch>,
    /// `[B, B]`: entry `(t, i)` true when caption `t` is also true of image `i` (the diagonal
    /// always), where the examples carry claims.
    pub positives: Option<Tensor<2, Bool>>,
}

impl GshnBatch {
    /// Every tensor shape the batch gives the model, and its edge count: batches with equal
    /// keys run the same kernels (a GPU compiles and tunes kernels once per new shape).
    pub fn shape_key(&self) -> Vec<usize> {
        let i = &self.images;
        let mut key = Vec::new();
        key.extend(i.pixels.dims());
        key.extend(i.masks.dims());
        key.push(i.edges.len());
        match &self.captions {
            Some(c) => key.extend(c.ids.dims()),
            None => key.extend([0, 0]),
        }
        if let Some(p) = &self.pairs {
            key.extend(p.right.masks.dims());
            key.push(p.right.edges.len());
        }
        for texts in [self.questions.as_ref(), self.hypotheses.as_ref(), self.pairs.as_ref().map(|p| &p.statements)] {
            match texts {
                Some(q) => key.extend(q.text.ids.dims()),
                None => key.extend([0, 0]),
            }
        }
        key
    }
}

/// Turns examples into batches for a model config and a vocabulary.
#[derive(Debug, Clone)]
pub struct GshnBatcher {
    /// The word vocabulary (the scratch text encoder's).
    pub vocab: Vocab,
    /// The WordPiece tokenizer (the pretrained MiniLM text encoder's), when there is one.
    pub wordpiece: Option<Arc<WordPiece>>,
    /// Whether the model's text encoder reads WordPiece ids.
    pub needs_wordpiece: bool,
    /// The frozen MiniLM's outputs per distinct text, when attached
    /// ([`with_frozen_text`](Self::with_frozen_text)).
    pub text_cache: Option<SharedTextCache>,
    /// Token and graph settings (the feature-map stride among them).
    pub tokens: TokensConfig,
    /// Longest text in tokens.
    pub max_text: usize,
    /// Spiking time steps (the folded edges are built for them).
    pub time_steps: usize,
    /// Round the node block, the edge count and the text length up to powers of two (on by
    /// default; off gives the tightest shapes, for checking that padding changes nothing).
    pub buckets: bool,
}

impl GshnBatcher {
    /// A batcher for `model` and `vocab`. A model with the pretrained MiniLM text encoder also
    /// needs its WordPiece tokenizer: use [`for_model`](Self::for_model), or add it with
    /// [`with_wordpiece`](Self::with_wordpiece).
    pub fn new(model: &GshnConfig, vocab: Vocab) -> Self {
        Self {
            vocab,
            wordpiece: None,
            needs_wordpiece: model.text.encoder.minilm().is_some(),
            text_cache: None,
            tokens: model.tokens.clone(),
            max_text: model.text.max_len,
            time_steps: model.snn.time_steps,
            buckets: true,
        }
    }

    /// A batcher for `model` and `vocab`, with the WordPiece tokenizer read from the MiniLM
    /// weights folder when the model's text encoder is MiniLM.
    pub fn for_model(model: &GshnConfig, vocab: Vocab) -> Result<Self> {
        let batcher = Self::new(model, vocab);
        Ok(match model.text.encoder.minilm() {
            Some(m) => {
                let path = MINILM_VOCAB.verified(&m.weights)?;
                batcher.with_wordpiece(WordPiece::from_vocab_file(&path)?)
            }
            None => batcher,
        })
    }

    /// With a frozen MiniLM in `model`, the batcher keeps its outputs per distinct text (each
    /// computed once, on `device` without autodiff) and hands them to the model with every
    /// text batch; otherwise unchanged.
    pub fn with_frozen_text(mut self, model: &Gshn, device: &Device) -> Self {
        if let (TextModel::MiniLm(m), Some(true)) = (&model.text, model.config.text.encoder.minilm().map(|c| c.frozen)) {
            self.text_cache = Some(Arc::new(FrozenTextCache::new(m, device)));
        }
        self
    }

    /// The batcher with a WordPiece tokenizer for the texts.
    pub fn with_wordpiece(mut self, wordpiece: WordPiece) -> Self {
        self.wordpiece = Some(Arc::new(wordpiece));
        self
    }

    /// The batcher with shape buckets on or off.
    pub fn with_buckets(mut self, buckets: bool) -> Self {
        self.buckets = buckets;
        self
    }

    /// Computes the token inputs of `example` with the config's segment graph.
    pub fn prepare(&self, example: Example) -> Result<Prepared> {
        let kind = self.tokens.graph_kind(example.image.width(), false);
        prepare(example, &self.tokens, kind)
    }

    /// Token ids and padding masks of `texts`, cut to the longest text allowed: WordPiece ids
    /// for a MiniLM text encoder, else the word vocabulary's.
    ///
    /// # Panics
    ///
    /// When the model's text encoder is MiniLM and the batcher has no WordPiece tokenizer (it
    /// was made with [`new`](Self::new) alone): word ids would silently mean other pieces.
    pub fn texts(&self, texts: &[&str], device: &Device) -> TextBatch {
        match &self.wordpiece {
            Some(wp) => {
                let (enc, l) = wp.encode_all(texts, self.max_text, self.buckets);
                let (ids, pad) = wp.tensors(&enc, l, device);
                TextBatch { ids, pad, frozen: self.text_cache.as_ref().map(|c| c.batch(&enc, l, device)) }
            }
            None => {
                assert!(!self.needs_wordpiece, "the text encoder is minilm-l6: make the batcher with GshnBatcher::for_model (or add with_wordpiece)");
                let (ids, pad) = self.vocab.batch_padded(texts, self.max_text, self.buckets, device);
                TextBatch { ids, pad, frozen: None }
            }
        }
    }

    /// The images of `items` on the device.
    pub fn images(&self, items: &[&Prepared], device: &Device) -> Result<ImageBatch> {
        let first = items.first().ok_or_else(|| bad_input("a batch needs at least one image"))?;
        let (w, h) = first.image.dimensions();
        let cells = first.tokens.cells;
        let mut pixels = Vec::with_capacity(items.len() * 3 * (w * h) as usize);
        for p in items {
            if p.image.dimensions() != (w, h) {
                return Err(bad_input(format!("images in a batch must share a size: {}×{} and {w}×{h}", p.image.width(), p.image.height())));
            }
            if p.tokens.cells != cells {
                return Err(bad_input(format!("token masks in a batch must share the feature-map size: {} and {cells} cells", p.tokens.cells)));
            }
            pixels.extend(planar_pixels(&p.image));
        }
        let features = match items.iter().map(|p| p.features.as_ref()).collect::<Option<Vec<_>>>() {
            Some(f) if f.iter().all(|x| x.shape == f[0].shape) => {
                let [c, fh, fw] = f[0].shape;
                let values: Vec<f32> = f.iter().flat_map(|x| x.values.iter().copied()).collect();
                Some(Tensor::<4>::from_data(TensorData::new(values, [items.len(), c, fh, fw]), device))
            }
            _ => None,
        };
        let mut ptr = vec![0];
        let (mut geometry, mut node_image, mut src, mut dst) = (vec![], vec![], vec![], vec![]);
        for (g, p) in items.iter().enumerate() {
            let t = &p.tokens;
            let off = *ptr.last().expect("non-empty");
            geometry.extend_from_slice(&t.geometry);
            node_image.extend(std::iter::repeat_n(g, t.n));
            src.extend(t.edges.src.iter().map(|s| s + off));
            dst.extend(t.edges.dst.iter().map(|d| d + off));
            ptr.push(off + t.n);
        }
        let (b, total) = (items.len(), *ptr.last().expect("non-empty"));
        let largest = ptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(1);
        let m = if self.buckets { largest.next_power_of_two() } else { largest };
        let slots = dense_slots_with(&ptr, m);
        let (mut masks, mut geom) = (vec![0f32; b * m * cells], vec![0f32; b * m * GEOMETRY]);
        let (mut mask, mut weights) = (vec![false; b * m], vec![0f32; b * m]);
        for (g, p) in items.iter().enumerate() {
            let (n, rows) = (p.tokens.n, g * m..g * m + p.tokens.n);
            masks[rows.start * cells..rows.end * cells].copy_from_slice(&p.tokens.masks);
            geom[rows.start * GEOMETRY..rows.end * GEOMETRY].copy_from_slice(&p.tokens.geometry);
            mask[rows.clone()].iter_mut().for_each(|x| *x = true);
            weights[rows].iter_mut().for_each(|w| *w = 1.0 / n as f32);
        }
        let real = EdgeList { num_nodes: total, src, dst };
        let adjacency = dense_adjacency(&real, &ptr, m);
        // The edges over the padded rows, then spare edges up to the bucket.
        let rows = b * m;
        let (mut psrc, mut pdst): (Vec<usize>, Vec<usize>) = real.src.iter().zip(&real.dst).map(|(&s, &t)| (slots[s], slots[t])).unzip();
        let want = if self.buckets { psrc.len().max(1).next_power_of_two() } else { psrc.len() };
        psrc.resize(want, rows);
        pdst.resize(want, rows + 1);
        let edges = EdgeList { num_nodes: rows + SPARE_ROWS, src: psrc, dst: pdst };
        let graph =
            GraphBatch { x: Tensor::from_data(TensorData::new(geometry, [total, GEOMETRY]), device), edges: real, edge_attr: None, batch: node_image, ptr };
        Ok(ImageBatch {
            pixels: Tensor::from_data(TensorData::new(pixels, [b, 3, h as usize, w as usize]), device),
            features,
            masks: Tensor::from_data(TensorData::new(masks, [b, m, cells]), device),
            geometry: Tensor::from_data(TensorData::new(geom, [b, m, GEOMETRY]), device),
            row_weight: Tensor::from_data(
                TensorData::new(mask.iter().map(|&r| r as u8 as f32).chain([0.0; SPARE_ROWS]).collect::<Vec<_>>(), [b * m + SPARE_ROWS, 1]),
                device,
            ),
            mask: Tensor::from_data(TensorData::new(mask, [b, m]), device),
            weights: Tensor::from_data(TensorData::new(weights, [b, m, 1]), device),
            adjacency: Tensor::from_data(TensorData::new(adjacency, [b, 1, m, m]), device),
            folded: FoldedEdges::new(&edges, self.time_steps, device),
            edges,
            graph,
            slots: index_tensor(&slots, device),
            max_nodes: m,
        })
    }

    /// Questions `(batch row of the image, question)` on the device.
    pub fn questions(&self, questions: &[(usize, &QaItem)], device: &Device) -> QuestionBatch {
        let texts: Vec<&str> = questions.iter().map(|(_, q)| q.text.as_str()).collect();
        let rows: Vec<usize> = questions.iter().map(|(r, _)| *r).collect();
        let answers: Vec<usize> = questions.iter().map(|(_, q)| q.answer).collect();
        QuestionBatch { text: self.texts(&texts, device), image: index_tensor(&rows, device), answers: index_tensor(&answers, device) }
    }

    /// A training batch of `items`: `pick` chooses one caption per image, then one question
    /// per image that has any, one hypothesis per image that has any, then one statement per
    /// pair that has any with its swap coin (in that order, so that a seeded `pick` repeats the
    /// batch; data without hypotheses or pairs draws nothing for them).
    pub fn batch(&self, items: &[&Prepared], pick: &mut SeedRng, device: &Device) -> Result<GshnBatch> {
        let images = self.images(items, device)?;
        let with_captions = items.iter().all(|p| !p.captions.is_empty());
        let chosen: Vec<usize> = if with_captions { items.iter().map(|p| pick.below(p.captions.len() as u64) as usize).collect() } else { vec![] };
        let captions = with_captions.then(|| {
            let texts: Vec<&str> = items.iter().zip(&chosen).map(|(p, &k)| p.captions[k].as_str()).collect();
            self.texts(&texts, device)
        });
        // Which caption is true of which image, where the examples can tell.
        let positives = (with_captions && items.iter().all(|p| p.claims.is_some())).then(|| {
            let b = items.len();
            let mut truth = vec![false; b * b];
            for (t, (p, &k)) in items.iter().zip(&chosen).enumerate() {
                let claims = p.claims.as_deref().expect("checked");
                for (i, q) in items.iter().enumerate() {
                    truth[t * b + i] = t == i || claims.holds_of(k, q.claims.as_deref().expect("checked")) == Some(true);
                }
            }
            Tensor::<2, Bool>::from_data(TensorData::new(truth, [b, b]), device)
        });
        let mut one_each = |of: &dyn Fn(&Prepared) -> &Vec<QaItem>| -> Option<QuestionBatch> {
            let asked: Vec<(usize, &QaItem)> =
                items.iter().enumerate().filter(|(_, p)| !of(p).is_empty()).map(|(r, p)| (r, &of(p)[pick.below(of(p).len() as u64) as usize])).collect();
            (!asked.is_empty()).then(|| self.questions(&asked, device))
        };
        let questions = one_each(&|p| &p.questions);
        let hypotheses = one_each(&|p| &p.hypotheses);
        let pairs = self.pairs(items, pick, device)?;
        Ok(GshnBatch { images, captions, questions, hypotheses, pairs, positives })
    }

    /// A training batch's pairs: `items`' partners and one statement per item that has any,
    /// each swapped with its images on a coin flip (BLIP's augmentation), both drawn with
    /// `pick`; `None` unless every item has a partner and some have statements. Evaluation
    /// chooses its statements itself and calls [`Self::pair_statements`].
    pub fn pairs(&self, items: &[&Prepared], pick: &mut SeedRng, device: &Device) -> Result<Option<PairBatch>> {
        if items.iter().any(|p| p.partner.is_none()) || items.iter().all(|p| p.statements.is_empty()) {
            return Ok(None);
        }
        let chosen: Vec<(usize, &PairStatement, bool)> = items
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.statements.is_empty())
            .map(|(r, p)| (r, &p.statements[pick.below(p.statements.len() as u64) as usize], pick.below(2) == 1))
            .collect();
        Ok(Some(self.pair_statements(items, &chosen, device)?))
    }

    /// A [`PairBatch`] of `items`' partners (every item needs one) and the statements
    /// `(row, statement, swapped)`.
    pub fn pair_statements(&self, items: &[&Prepared], chosen: &[(usize, &PairStatement, bool)], device: &Device) -> Result<PairBatch> {
        let partners = items
            .iter()
            .enumerate()
            .map(|(r, p)| p.partner.as_deref().ok_or_else(|| bad_input(format!("image {r} of the batch has no partner: statements are about image pairs"))))
            .collect::<Result<Vec<&Prepared>>>()?;
        let texts: Vec<&str> = chosen.iter().map(|(_, s, flip)| if *flip { s.swapped.as_str() } else { s.text.as_str() }).collect();
        let rows: Vec<usize> = chosen.iter().map(|c| c.0).collect();
        let answers: Vec<usize> = chosen.iter().map(|c| c.1.answer).collect();
        let swap: Vec<f32> = chosen.iter().map(|c| c.2 as u8 as f32).collect();
        Ok(PairBatch {
            right: self.images(&partners, device)?,
            statements: QuestionBatch { text: self.texts(&texts, device), image: index_tensor(&rows, device), answers: index_tensor(&answers, device) },
            swap: Tensor::from_data(TensorData::new(swap, [chosen.len(), 1]), device),
        })
    }
}
