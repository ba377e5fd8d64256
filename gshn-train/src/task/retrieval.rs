//! Image–text retrieval as a task: its metrics — recall@K both ways with several captions per
//! image ([`retrieval`]), claim-aware recall and its ceilings ([`claim_aware`]), hard-negative
//! discrimination ([`pairwise_accuracy`]). Its loss terms ([`Retrieval`]) are CLIP's
//! symmetric InfoNCE ([`crate::loss::clip_loss`], `clip`) and Spiked Text Learning's
//! word–segment InfoNCE (`stl`), the latter trained in a stage of its own by the runner.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::batch::GshnBatch;
use crate::dataset::{CaptionClaims, Dataset};
use crate::loss::{clip_loss, contrast, l2_normalize, LossConfig, Losses};
use crate::model::config::StlMode;
use crate::model::{Gshn, ImageOutput};
use crate::task::{to_vec, Column, EvalBatch, Scorer, Task, TaskScores};

/// Image–text retrieval as a [`Task`]: with captions, CLIP's InfoNCE between each image and
/// its caption, `clip = InfoNCE(s · image · textᵀ)` (weight `loss.clip`), and Spiked Text
/// Learning, `stl = InfoNCE(s · STL(words, E_SNN))` (weight `loss.stl`; [`Gshn::stl_logits`]);
/// in-batch pairs whose caption is also true of the other image are left out of both where
/// `loss.mask_false_negatives` is set.
#[derive(Debug, Clone, Copy)]
pub struct Retrieval;

impl Task for Retrieval {
    fn name(&self) -> &'static str {
        "retrieval"
    }

    fn title(&self) -> &'static str {
        "retrieval (captions)"
    }

    fn weighted(&self, w: &LossConfig) -> bool {
        w.clip > 0.0
    }

    fn carried_by(&self, data: &Dataset) -> bool {
        data.has_captions()
    }

    /// Captions always give something to learn: CLIP in the main stage, STL in its own.
    fn learns(&self, data: &Dataset, _w: &LossConfig) -> bool {
        data.has_captions()
    }

    fn examples(&self) -> &'static str {
        "captions"
    }

    fn missing(&self, _w: &LossConfig) -> Option<&'static str> {
        None
    }

    fn add_losses(&self, model: &Gshn, batch: &GshnBatch, out: &ImageOutput, w: &LossConfig, losses: &mut Losses) -> crate::error::Result<()> {
        let Some(captions) = &batch.captions else { return Ok(()) };
        if w.clip <= 0.0 && w.stl <= 0.0 {
            return Ok(());
        }
        let (words, sentence): (Tensor<3>, Tensor<2>) = model.text_features(captions);
        // In-batch pairs whose caption is also true of the other image are left out.
        let exclude = batch.positives.clone().filter(|_| w.mask_false_negatives);
        if w.clip > 0.0 {
            let text = l2_normalize(model.text_proj.forward(sentence.clone()));
            losses.add("clip", clip_loss(out.embedding.clone(), text, model.logit_scale.scale(), exclude.clone().map(|p| p.transpose())), w.clip);
        }
        if w.stl > 0.0 {
            let logits = match w.stl_mode {
                StlMode::Sentence => model.stl_sentence_logits(&batch.images, out, sentence),
                StlMode::WordSegment | StlMode::SpikedWords => model.stl_logits(&batch.images, out, words, captions.pad.clone()),
            };
            losses.add("stl", contrast(logits, exclude), w.stl);
        }
        Ok(())
    }

    fn loss_columns(&self) -> &'static [Column] {
        const C: &[Column] = &[Column::new("clip", "CLIP"), Column::new("stl", "STL")];
        C
    }

    fn val_columns(&self) -> &'static [Column] {
        const C: &[Column] =
            &[Column::new("i2t_r1", "i→t R@1"), Column::new("t2i_r1", "t→i R@1"), Column::quiet("t2i_r5", "t→i R@5"), Column::quiet("t2i_r10", "t→i R@10")];
        C
    }

    fn metrics(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("t2i_r1", "text→image R@1"),
            ("t2i_r5", "text→image R@5"),
            ("t2i_r10", "text→image R@10"),
            ("i2t_r1", "image→text R@1"),
            ("i2t_r10", "image→text R@10"),
            ("hard_negative", "hard-negative accuracy"),
        ]
    }

    fn headline(&self) -> Column {
        Column::quiet("t2i_r10", "text→image R@10")
    }

    fn scorer<'a>(&self, model: &Gshn, data: &'a Dataset) -> Option<Box<dyn Scorer + 'a>> {
        (model.config.loss.clip > 0.0).then(|| Box::new(RetrievalScorer::new(data)) as Box<dyn Scorer + 'a>)
    }

    fn scored(&self, scores: &TaskScores) -> bool {
        scores.retrieval.is_some()
    }

    fn texts<'a>(&self, data: &'a Dataset) -> Vec<&'a str> {
        data.items.iter().flat_map(|p| p.captions.iter().map(String::as_str)).collect()
    }

    fn text_unit(&self) -> &'static str {
        "caption"
    }

    fn metric(&self, scores: &TaskScores, name: &str) -> Option<f64> {
        let r = scores.retrieval.as_ref();
        match name {
            "t2i_r1" => r.map(|r| r.t2i_recall[0]),
            "t2i_r5" => r.map(|r| r.t2i_recall[1]),
            "t2i_r10" => r.map(|r| r.t2i_recall[2]),
            "i2t_r1" => r.map(|r| r.i2t_recall[0]),
            "i2t_r10" => r.map(|r| r.i2t_recall[2]),
            "hard_negative" => scores.hard_negative_accuracy,
            _ => None,
        }
    }

    fn validation(&self, scores: &TaskScores) -> Vec<(&'static str, f64)> {
        scores
            .retrieval
            .as_ref()
            .map_or(vec![], |r| vec![("i2t_r1", r.i2t_recall[0]), ("t2i_r1", r.t2i_recall[0]), ("t2i_r5", r.t2i_recall[1]), ("t2i_r10", r.t2i_recall[2])])
    }

    fn markdown(&self, scores: &TaskScores) -> String {
        let mut s = String::new();
        if let Some(m) = &scores.retrieval {
            let c = scores.claim_retrieval.as_ref();
            let ceil = |v: Option<[f64; 3]>| v.map_or(String::new(), |v| format!(" | {:.3} | {:.3} | {:.3}", v[0], v[1], v[2]));
            let head = if c.is_some() { " | truth-only ranker R@1 | R@5 | R@10" } else { "" };
            let rule = if c.is_some() { "|---|---|---" } else { "" };
            s += &format!("| direction | R@1 | R@5 | R@10 | mean rank | median rank{head} |\n|---|---|---|---|---|---{rule}|\n");
            s += &format!(
                "| image→text | {:.3} | {:.3} | {:.3} | {:.1} | {:.1}{} |\n",
                m.i2t_recall[0],
                m.i2t_recall[1],
                m.i2t_recall[2],
                m.i2t_rank[0],
                m.i2t_rank[1],
                ceil(c.map(|c| c.i2t_ceiling))
            );
            s += &format!(
                "| text→image | {:.3} | {:.3} | {:.3} | {:.1} | {:.1}{} |\n",
                m.t2i_recall[0],
                m.t2i_recall[1],
                m.t2i_recall[2],
                m.t2i_rank[0],
                m.t2i_rank[1],
                ceil(c.map(|c| c.t2i_ceiling))
            );
            if let Some(c) = c {
                s += &format!(
                    "| image→text, claim-aware | {:.3} | {:.3} | {:.3} | | | 1 | 1 | 1 |\n| text→image, claim-aware | {:.3} | {:.3} | {:.3} | | | 1 | 1 | 1 |\n\n",
                    c.i2t_recall[0], c.i2t_recall[1], c.i2t_recall[2], c.t2i_recall[0], c.t2i_recall[1], c.t2i_recall[2]
                );
                s += &format!(
                    "Claim-aware: a caption counts as found at any image it is true of; its chance level (a random ranking) is R@1/5/10 {:.3}/{:.3}/{:.3} image→text and {:.3}/{:.3}/{:.3} text→image. Truth-only ranker: the standard recall of a model that ranks by truth alone, ties broken at random — a reference, not an upper bound. {:.1} % of the captions are true of their own image only.\n\n",
                    c.i2t_chance[0], c.i2t_chance[1], c.i2t_chance[2], c.t2i_chance[0], c.t2i_chance[1], c.t2i_chance[2],
                    100.0 * c.unique_captions
                );
            } else {
                s += "\n";
            }
        }
        if let Some(h) = scores.hard_negative_accuracy {
            s += &format!("| metric | value | baseline |\n|---|---|---|\n| hard-negative accuracy (vs the caption each negative was made from) | {h:.3} | 0.5 (chance) |\n\n");
        }
        s
    }
}

/// For each caption of `data` (in image order), the images of `data` it is true of, when
/// every example carries checkable claims.
pub fn caption_truth(data: &Dataset) -> Option<Vec<Vec<usize>>> {
    let claims: Vec<&dyn CaptionClaims> = data.items.iter().map(|p| p.claims.as_deref()).collect::<Option<Vec<_>>>()?;
    Some(
        claims
            .iter()
            .flat_map(|c| (0..c.captions()).map(|k| claims.iter().enumerate().filter(|(_, o)| c.holds_of(k, **o) == Some(true)).map(|(i, _)| i).collect()))
            .collect(),
    )
}

/// Retrieval's evaluation: every image's embedding, every caption's and hard negative's (with
/// its image and the caption it was made from), then recall both ways, claim-aware recall and
/// hard-negative accuracy over the whole split.
struct RetrievalScorer<'a> {
    data: &'a Dataset,
    images: Vec<Tensor<2>>,
    texts: Vec<Tensor<2>>,
    negatives: Vec<Tensor<2>>,
    text_image: Vec<usize>,
    neg_image: Vec<usize>,
    neg_source: Vec<Option<usize>>,
}

impl<'a> RetrievalScorer<'a> {
    fn new(data: &'a Dataset) -> Self {
        Self { data, images: vec![], texts: vec![], negatives: vec![], text_image: vec![], neg_image: vec![], neg_source: vec![] }
    }
}

impl Scorer for RetrievalScorer<'_> {
    fn batch(&mut self, b: &EvalBatch) -> crate::error::Result<()> {
        let data = self.data;
        self.images.push(b.out.embedding.clone());
        let texts: Vec<&str> = b.range.clone().flat_map(|i| data[i].captions.iter().map(String::as_str)).collect();
        if !texts.is_empty() {
            self.text_image.extend(b.range.clone().flat_map(|i| std::iter::repeat_n(i, data[i].captions.len())));
            self.texts.push(b.model.encode_text(&b.batcher.texts(&texts, b.device)));
        }
        let negs: Vec<&str> = b.range.clone().flat_map(|i| data[i].negatives.iter().map(String::as_str)).collect();
        if !negs.is_empty() {
            for i in b.range.clone() {
                self.neg_image.extend(std::iter::repeat_n(i, data[i].negatives.len()));
                let sources = &data[i].negative_sources;
                self.neg_source.extend((0..data[i].negatives.len()).map(|j| sources.get(j).copied()));
            }
            self.negatives.push(b.model.encode_text(&b.batcher.texts(&negs, b.device)));
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _train: Option<&Dataset>, scores: &mut TaskScores) -> crate::error::Result<()> {
        let n = self.data.len();
        let (text_image, n_texts) = (&self.text_image, self.text_image.len());
        if n_texts == 0 || self.images.is_empty() {
            return Ok(());
        }
        let images = Tensor::cat(self.images, 0);
        let sim = to_vec(images.clone().matmul(Tensor::cat(self.texts, 0).transpose()))?;
        scores.retrieval = Some(retrieval(&sim, n, text_image));
        scores.claim_retrieval = caption_truth(self.data).map(|truth| claim_aware(&sim, n, text_image, &truth));
        if !self.negatives.is_empty() {
            let neg_sim = to_vec(images.matmul(Tensor::cat(self.negatives, 0).transpose()))?;
            let n_neg = self.neg_image.len();
            // The first caption of each image, to find caption k of image i.
            let mut first = vec![usize::MAX; n];
            for (t, &i) in text_image.iter().enumerate().rev() {
                first[i] = t;
            }
            let mut pairs = Vec::new();
            for (j, (&i, source)) in self.neg_image.iter().zip(&self.neg_source).enumerate() {
                let s_neg = neg_sim[i * n_neg + j];
                match source {
                    Some(k) => pairs.push((sim[i * n_texts + first[i] + k], s_neg)),
                    None => {
                        for (t, _) in text_image.iter().enumerate().filter(|(_, &ti)| ti == i) {
                            pairs.push((sim[i * n_texts + t], s_neg));
                        }
                    }
                }
            }
            scores.hard_negative_accuracy = Some(pairwise_accuracy(&pairs));
        }
        Ok(())
    }
}

/// Retrieval results in both directions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    /// Image → text recall at 1, 5, 10 (an image counts as found at the best rank of any of
    /// its captions).
    pub i2t_recall: [f64; 3],
    /// Text → image recall at 1, 5, 10.
    pub t2i_recall: [f64; 3],
    /// Mean and median rank (1-based) of image → text.
    pub i2t_rank: [f64; 2],
    /// Mean and median rank of text → image.
    pub t2i_rank: [f64; 2],
}

fn rank_of(scores: &[f32], positives: &[usize]) -> usize {
    // Ties count against the model: every other item scoring at least the best positive
    // comes first.
    let best = positives.iter().map(|&p| scores[p]).fold(f32::NEG_INFINITY, f32::max);
    1 + scores.iter().enumerate().filter(|(i, &s)| !positives.contains(i) && s >= best).count()
}

fn summarise(ranks: &[usize]) -> ([f64; 3], [f64; 2]) {
    let n = ranks.len().max(1) as f64;
    let recall = [1, 5, 10].map(|k| ranks.iter().filter(|&&r| r <= k).count() as f64 / n);
    let mut sorted = ranks.to_vec();
    sorted.sort_unstable();
    let median = if sorted.is_empty() {
        0.0
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2] as f64
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) as f64 / 2.0
    };
    (recall, [ranks.iter().sum::<usize>() as f64 / n, median])
}

/// Retrieval metrics from a similarity matrix `sim` (row-major `[n_images, n_texts]`) and
/// the image of each text (`text_image[t]`).
pub fn retrieval(sim: &[f32], n_images: usize, text_image: &[usize]) -> RetrievalMetrics {
    let n_texts = text_image.len();
    assert_eq!(sim.len(), n_images * n_texts, "similarity matrix shape");
    let i2t: Vec<usize> = (0..n_images)
        .map(|i| {
            let positives: Vec<usize> = (0..n_texts).filter(|&t| text_image[t] == i).collect();
            rank_of(&sim[i * n_texts..(i + 1) * n_texts], &positives)
        })
        .collect();
    let t2i: Vec<usize> = (0..n_texts)
        .map(|t| {
            let column: Vec<f32> = (0..n_images).map(|i| sim[i * n_texts + t]).collect();
            rank_of(&column, &[text_image[t]])
        })
        .collect();
    let (i2t_recall, i2t_rank) = summarise(&i2t);
    let (t2i_recall, t2i_rank) = summarise(&t2i);
    RetrievalMetrics { i2t_recall, t2i_recall, i2t_rank, t2i_rank }
}

/// Retrieval that knows which captions are true of which images (ShapeWorld's checkable
/// claims): a caption counts as found when any of its top-K images is one it is true of, an
/// image when any of its top-K captions is true of it. Beside it, its chance level (a random
/// ranking), the standard recall of a **truth-only ranker** (one that ranks by truth alone,
/// ties among the images a caption is true of broken at random — a reference point, not an
/// upper bound: a model can beat it by breaking those ties well), and how many captions
/// single their image out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimAwareMetrics {
    /// Text → image claim-aware recall at 1, 5, 10.
    pub t2i_recall: [f64; 3],
    /// Image → text claim-aware recall at 1, 5, 10.
    pub i2t_recall: [f64; 3],
    /// Standard text → image recall at 1, 5, 10 of the truth-only ranker: the mean over
    /// captions of `min(1, K / |images it is true of|)`. (Named `ceiling` in files; it is not
    /// an upper bound.)
    pub t2i_ceiling: [f64; 3],
    /// Standard image → text recall at 1, 5, 10 of the truth-only ranker: per image, the chance
    /// that a random order of the captions true of it puts one of its own in the top K.
    pub i2t_ceiling: [f64; 3],
    /// Chance level of text → image claim-aware recall at 1, 5, 10: per caption, the chance
    /// that K images drawn at random include one it is true of, averaged.
    #[serde(default)]
    pub t2i_chance: [f64; 3],
    /// Chance level of image → text claim-aware recall at 1, 5, 10: per image, the chance that
    /// K captions drawn at random include one true of it, averaged.
    #[serde(default)]
    pub i2t_chance: [f64; 3],
    /// Fraction of captions true of their own image only.
    pub unique_captions: f64,
}

/// `1 − C(total − own, k) / C(total, k)`: the chance that `k` draws without replacement from
/// `total` items hit one of `own`.
fn hit_chance(total: usize, own: usize, k: usize) -> f64 {
    if own == 0 {
        return 0.0;
    }
    if k >= total || total - own < k {
        return 1.0;
    }
    // C(total − own, k) / C(total, k) = Π_{i<k} (total − own − i) / (total − i).
    let miss: f64 = (0..k).map(|i| (total - own - i) as f64 / (total - i) as f64).product();
    1.0 - miss
}

/// Claim-aware retrieval from `sim` (row-major `[n_images, n_texts]`), the image of each text,
/// and for each text the images it is true of (its own included).
pub fn claim_aware(sim: &[f32], n_images: usize, text_image: &[usize], true_of: &[Vec<usize>]) -> ClaimAwareMetrics {
    let n_texts = text_image.len();
    assert_eq!(sim.len(), n_images * n_texts, "similarity matrix shape");
    assert_eq!(true_of.len(), n_texts, "one truth set per text");
    let ks = [1usize, 5, 10];
    let t2i: Vec<usize> = (0..n_texts)
        .map(|t| {
            let column: Vec<f32> = (0..n_images).map(|i| sim[i * n_texts + t]).collect();
            rank_of(&column, &true_of[t])
        })
        .collect();
    let mut captions_true_of = vec![Vec::new(); n_images];
    for (t, images) in true_of.iter().enumerate() {
        for &i in images {
            captions_true_of[i].push(t);
        }
    }
    let i2t: Vec<usize> = (0..n_images).map(|i| rank_of(&sim[i * n_texts..(i + 1) * n_texts], &captions_true_of[i])).collect();
    let (t2i_recall, _) = summarise(&t2i);
    let (i2t_recall, _) = summarise(&i2t);
    let nt = n_texts.max(1) as f64;
    let t2i_ceiling = ks.map(|k| true_of.iter().map(|s| (k as f64 / s.len().max(1) as f64).min(1.0)).sum::<f64>() / nt);
    let own: Vec<usize> = (0..n_images).map(|i| text_image.iter().filter(|&&a| a == i).count()).collect();
    let i2t_ceiling = ks.map(|k| (0..n_images).map(|i| hit_chance(captions_true_of[i].len(), own[i], k)).sum::<f64>() / n_images.max(1) as f64);
    let unique_captions = true_of.iter().filter(|s| s.len() == 1).count() as f64 / nt;
    let t2i_chance = ks.map(|k| true_of.iter().map(|s| hit_chance(n_images, s.len(), k)).sum::<f64>() / nt);
    let i2t_chance = ks.map(|k| captions_true_of.iter().map(|c| hit_chance(n_texts, c.len(), k)).sum::<f64>() / n_images.max(1) as f64);
    ClaimAwareMetrics { t2i_recall, i2t_recall, t2i_ceiling, i2t_ceiling, t2i_chance, i2t_chance, unique_captions }
}

/// Fraction of `(positive, negative)` score pairs where the true caption scores higher.
pub fn pairwise_accuracy(pairs: &[(f32, f32)]) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    pairs.iter().filter(|(p, n)| p > n).count() as f64 / pairs.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_retrieval() {
        // 3 images, 4 texts: texts 0, 1 describe image 0; text 2 image 1; text 3 image 2.
        #[rustfmt::skip]
        let sim = [
            // t0   t1   t2   t3
            0.9, 0.1, 0.8, 0.0,   // image 0: best own caption t0 at rank 1
            0.5, 0.6, 0.4, 0.3,   // image 1: own t2 scores 0.4; t0, t1 above → rank 3
            0.2, 0.7, 0.1, 0.7,   // image 2: own t3 ties t1 at 0.7 → rank 2 (ties count against)
        ];
        let m = retrieval(&sim, 3, &[0, 0, 1, 2]);
        assert_eq!(m.i2t_recall, [1.0 / 3.0, 1.0, 1.0]);
        assert_eq!(m.i2t_rank, [2.0, 2.0]);
        // Text → image: t0 column (0.9, 0.5, 0.2) → rank 1; t1 (0.1, 0.6, 0.7) → image 0 rank 3;
        // t2 (0.8, 0.4, 0.1) → image 1 rank 2; t3 (0.0, 0.3, 0.7) → rank 1.
        assert_eq!(m.t2i_recall, [0.5, 1.0, 1.0]);
        assert_eq!(m.t2i_rank, [7.0 / 4.0, 1.5]);
        assert_eq!(pairwise_accuracy(&[(0.9, 0.1), (0.2, 0.3), (0.5, 0.5)]), 1.0 / 3.0);
    }

    #[test]
    fn claim_aware_retrieval_and_ceilings_by_hand() {
        #[rustfmt::skip]
        let sim = [
            0.9, 0.1, 0.8, 0.0,
            0.5, 0.6, 0.4, 0.3,
            0.2, 0.7, 0.1, 0.7,
        ];
        // t1 (of image 0) is also true of image 2; every other caption only of its own image.
        let truth = vec![vec![0], vec![0, 2], vec![1], vec![2]];
        let m = claim_aware(&sim, 3, &[0, 0, 1, 2], &truth);
        // t1's column (0.1, 0.6, 0.7): image 2 is true and ranks 2nd (image 1 is above it
        // only at 0.6 < 0.7 — no: 0.7 is the best) → rank 1; t0 1, t2 2, t3 1.
        assert_eq!(m.t2i_recall, [0.75, 1.0, 1.0]);
        // Image 2's true captions are t1 and t3, both at 0.7: rank 1. Images 0 and 1 as in the
        // standard case: ranks 1 and 3.
        assert_eq!(m.i2t_recall, [2.0 / 3.0, 1.0, 1.0]);
        // Ceilings: t1 is true of 2 images → 1/2 at K = 1; the others 1 → (1 + 0.5 + 1 + 1) / 4.
        assert_eq!(m.t2i_ceiling, [0.875, 1.0, 1.0]);
        // Image 2: captions true of it t1, t3, its own only t3 → 1/2 at K = 1.
        assert_eq!(m.i2t_ceiling[0], (1.0 + 1.0 + 0.5) / 3.0);
        assert_eq!(m.unique_captions, 0.75);
        // Chance: a random image is true of t0, t2, t3 with 1/3 and of t1 with 2/3 at K = 1;
        // at K = 5 ≥ 3 images every caption is found.
        assert!((m.t2i_chance[0] - (1.0 / 3.0 * 3.0 + 2.0 / 3.0) / 4.0).abs() < 1e-12);
        assert_eq!(m.t2i_chance[1], 1.0);
        // A random caption (of 4) is true of image 0 with 2/4, image 1 with 1/4, image 2 with 2/4.
        assert!((m.i2t_chance[0] - (0.5 + 0.25 + 0.5) / 3.0).abs() < 1e-12);
        assert!((hit_chance(10, 2, 3) - (1.0 - (8.0 * 7.0 * 6.0) / (10.0 * 9.0 * 8.0))).abs() < 1e-12);
    }
}
