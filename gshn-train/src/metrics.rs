//! Evaluation metrics: image–text retrieval with several captions per image, hard-negative
//! discrimination, and answer accuracy.

use serde::{Deserialize, Serialize};

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
}
