//! ShapeWorld-VE: visual entailment with exact labels (the paper's SNLI-VE task on generated
//! scenes; label order `contradiction 0, neutral 1, entailment 2` as in ALBEF's data).
//!
//! Some scenes carry an **occluder**: a plain band over image columns `x0..x1`, full height.
//! Every object lies wholly in front of it or wholly behind it, never across its edge; what is
//! behind is not drawn. The *worlds* of an image are the scenes with its visible pixels: the
//! same visible objects, and any set of objects wholly behind the band, placed as the
//! generator places objects (centres at least `r + 1` from the image's edge, two objects
//! further apart than their radii plus 1 px). A hypothesis is
//!
//! * **entailment** when it holds in every world of the image,
//! * **contradiction** when it holds in none,
//! * **neutral** when it holds in some and fails in others — the image cannot decide it.
//!
//! Without an occluder an image has one world. With one, [`judge`] decides the label by
//! trying the empty band and objects at the extreme positions the band allows (its corners
//! and centre, one object or two); [`Witnesses`] are the two worlds it found for a neutral
//! hypothesis, rendering to the same image. That search is complete for the hypothesis forms
//! made here, because each is monotone in the hidden objects or needs at most one more:
//!
//! * existence and attribute (`there is a large red circle`): a single hidden object of the
//!   pattern makes it true, and the band always fits the largest object;
//! * count (`there are exactly two circles`), only for counts within one of the visible
//!   count: hidden objects can only add, so one more is the only case to try
//!   ([`judge`] gives `None` for counts further above the visible count);
//! * relation (`a red circle is left of a blue square`): a hidden object helps most at the
//!   band's extreme position along the relation's axis, two hidden objects at opposite
//!   corners.
//!
//! Contradictions differ from a true statement by one attribute (colour, shape or size), a
//! swapped relation or a count off by one; the generator keeps the classes balanced and
//! the claim types spread within each class ([`Balance`]). docs/shapeworld.md has the
//! definition with pictures of the cases.

use std::collections::BTreeMap;

use gshn_snn::rng::SeedRng;
use serde::{Deserialize, Serialize};

use super::shapeworld::{Occluder, Pattern, Relation, Scene, Thing, COLOURS, NUMBERS, RELATION_MARGIN, SHAPES, SIZES};
use crate::dataset::QaItem;

/// An entailment label, numbered as in ALBEF's SNLI-VE files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    /// The image rules the hypothesis out (0).
    Contradiction,
    /// The image cannot decide it (1).
    Neutral,
    /// The image proves it (2).
    Entailment,
}

/// The label names in index order.
pub const LABELS: [&str; 3] = ["contradiction", "neutral", "entailment"];

impl Label {
    /// The three labels in index order.
    pub const ALL: [Label; 3] = [Label::Contradiction, Label::Neutral, Label::Entailment];

    /// The class index (contradiction 0, neutral 1, entailment 2).
    pub fn index(self) -> usize {
        self as usize
    }

    /// "contradiction", "neutral", "entailment".
    pub fn name(self) -> &'static str {
        LABELS[self.index()]
    }
}

/// What a hypothesis claims, for accuracy per claim type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimType {
    /// An object of a shape or a colour exists.
    Existence,
    /// An object with all three attributes exists.
    Attribute,
    /// Exactly `k` objects of a shape.
    Count,
    /// One object stands in a spatial relation to another.
    Relation,
}

impl ClaimType {
    /// The four types.
    pub const ALL: [ClaimType; 4] = [ClaimType::Existence, ClaimType::Attribute, ClaimType::Count, ClaimType::Relation];

    /// "existence", "attribute", "count", "relation".
    pub fn name(self) -> &'static str {
        match self {
            ClaimType::Existence => "existence",
            ClaimType::Attribute => "attribute",
            ClaimType::Count => "count",
            ClaimType::Relation => "relation",
        }
    }
}

/// A hypothesis about one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Hypothesis {
    /// Some object matches the pattern.
    Exists(Pattern),
    /// Exactly `k` objects match the pattern.
    Count(Pattern, usize),
    /// Some object matching the first pattern stands in the relation to another matching
    /// the second.
    Relation(Pattern, Relation, Pattern),
}

impl Hypothesis {
    /// Its claim type: existence of a full description is an attribute claim.
    pub fn claim_type(&self) -> ClaimType {
        match self {
            Hypothesis::Exists(p) if p.shape.is_some() && p.colour.is_some() && p.size.is_some() => ClaimType::Attribute,
            Hypothesis::Exists(_) => ClaimType::Existence,
            Hypothesis::Count(..) => ClaimType::Count,
            Hypothesis::Relation(..) => ClaimType::Relation,
        }
    }

    /// The words: "there is a red object", "there are exactly two circles", "a small red
    /// circle is left of a large blue square".
    pub fn text(&self) -> String {
        match self {
            Hypothesis::Exists(p) => format!("there is a {}", p.phrase()),
            Hypothesis::Count(p, 0) => format!("there are no {}s", p.phrase()),
            Hypothesis::Count(p, 1) => format!("there is exactly one {}", p.phrase()),
            Hypothesis::Count(p, k) => format!("there are exactly {} {}s", NUMBERS[(*k).min(6)], p.phrase()),
            Hypothesis::Relation(a, r, b) => format!("a {} is {} a {}", a.phrase(), r.words(), b.phrase()),
        }
    }

    /// Whether it holds of a scene whose objects are `things` (at `scale` pixels per
    /// reference pixel).
    pub fn holds(&self, things: &[Thing], scale: f64) -> bool {
        match self {
            Hypothesis::Exists(p) => things.iter().any(|t| p.matches(t)),
            Hypothesis::Count(p, k) => things.iter().filter(|t| p.matches(t)).count() == *k,
            Hypothesis::Relation(a, r, b) => {
                let margin = RELATION_MARGIN * scale;
                things
                    .iter()
                    .enumerate()
                    .any(|(i, x)| a.matches(x) && things.iter().enumerate().any(|(j, y)| i != j && b.matches(y) && r.between(x, y, margin)))
            }
        }
    }

    /// The patterns it mentions.
    fn patterns(&self) -> Vec<Pattern> {
        match self {
            Hypothesis::Exists(p) | Hypothesis::Count(p, _) => vec![*p],
            Hypothesis::Relation(a, _, b) => vec![*a, *b],
        }
    }
}

/// A hypothesis with its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledHypothesis {
    /// The hypothesis.
    pub hypothesis: Hypothesis,
    /// Its exact label for the image.
    pub label: Label,
}

impl LabelledHypothesis {
    /// As the model's input: kind = claim type, text, answer = label index.
    pub fn item(&self) -> QaItem {
        QaItem { kind: self.hypothesis.claim_type().name().into(), text: self.hypothesis.text(), answer: self.label.index() }
    }
}

/// Two worlds of a neutral hypothesis's image: the objects behind the occluder in one where
/// it holds and in one where it fails (the visible objects are the scene's).
#[derive(Debug, Clone, PartialEq)]
pub struct Witnesses {
    /// Hidden objects of a world where the hypothesis holds.
    pub holds: Vec<Thing>,
    /// Hidden objects of a world where it fails.
    pub fails: Vec<Thing>,
}

impl Witnesses {
    /// The two worlds as scenes (the same visible pixels as `scene`).
    pub fn scenes(&self, scene: &Scene) -> (Scene, Scene) {
        let with = |hidden: &Vec<Thing>| Scene { hidden: hidden.clone(), ..scene.clone() };
        (with(&self.holds), with(&self.fails))
    }
}

/// The centres an object of radius `r` may take wholly behind `o` in an image of side `size`:
/// `[x_min, x_max] × [y_min, y_max]` (and, as the generator places objects, at least `r + 1`
/// from the image's edge), or `None` when it does not fit.
fn behind(o: Occluder, r: f64, size: u32) -> Option<[f64; 4]> {
    let (x_min, x_max) = ((o.x0 as f64 + r).max(r + 1.0), (o.x1 as f64 - r).min(size as f64 - r - 1.0));
    let (y_min, y_max) = (r + 1.0, size as f64 - r - 1.0);
    (x_min <= x_max && y_min <= y_max).then_some([x_min, x_max, y_min, y_max])
}

/// The corners and the centre of the box of centres an object may take behind the band.
fn extreme_positions(b: [f64; 4]) -> [[f64; 2]; 5] {
    let [x0, x1, y0, y1] = b;
    [[x0, y0], [x0, y1], [x1, y0], [x1, y1], [(x0 + x1) / 2.0, (y0 + y1) / 2.0]]
}

/// An object matching `p` (unset attributes: the first shape and colour, small).
fn instance(p: &Pattern, centre: [f64; 2]) -> Thing {
    Thing { shape: p.shape.unwrap_or(0), colour: p.colour.unwrap_or(0), size: p.size.unwrap_or(0), centre }
}

/// The hidden sets [`judge`] tries: none, one object of each mentioned pattern at each
/// extreme position, and (relations) two non-overlapping objects at extreme positions.
fn hidden_candidates(h: &Hypothesis, scene: &Scene, o: Occluder) -> Vec<Vec<Thing>> {
    let scale = scene.scale();
    let placed = |p: &Pattern| -> Vec<Thing> {
        let r = instance(p, [0.0, 0.0]).radius(scale);
        behind(o, r, scene.size).map_or(vec![], |b| extreme_positions(b).iter().map(|&c| instance(p, c)).collect())
    };
    let mut sets = vec![vec![]];
    let patterns = h.patterns();
    for p in &patterns {
        sets.extend(placed(p).into_iter().map(|t| vec![t]));
    }
    if let [a, b] = patterns[..] {
        for x in placed(&a) {
            for y in placed(&b) {
                let d = ((x.centre[0] - y.centre[0]).powi(2) + (x.centre[1] - y.centre[1]).powi(2)).sqrt();
                if d > x.radius(scale) + y.radius(scale) + 1.0 {
                    sets.push(vec![x, y]);
                }
            }
        }
    }
    sets
}

/// The exact label of `h` for `scene`'s image, with two witness worlds when it is neutral.
/// `None` for a count more than one above the visible count in an occluded scene (the
/// search would have to pack several objects; the generator never asks).
pub fn judge(h: &Hypothesis, scene: &Scene) -> Option<(Label, Option<Witnesses>)> {
    let scale = scene.scale();
    let visible = &scene.things;
    let decided = |holds: bool| if holds { Label::Entailment } else { Label::Contradiction };
    let Some(o) = scene.occluder else {
        return Some((decided(h.holds(visible, scale)), None));
    };
    if let Hypothesis::Count(p, k) = h {
        if *k > visible.iter().filter(|t| p.matches(t)).count() + 1 {
            return None;
        }
    }
    let (mut holds, mut fails) = (None, None);
    for hidden in hidden_candidates(h, scene, o) {
        let world: Vec<Thing> = visible.iter().chain(&hidden).copied().collect();
        let slot = if h.holds(&world, scale) { &mut holds } else { &mut fails };
        slot.get_or_insert(hidden);
    }
    Some(match (holds, fails) {
        (Some(holds), Some(fails)) => (Label::Neutral, Some(Witnesses { holds, fails })),
        (holds, _) => (decided(holds.is_some()), None),
    })
}

/// Puts an occluder over `scene`: a band at least as wide as the largest object plus two
/// pixels (so that any object fits behind it), drawn uniformly among the bands (widths up to
/// 6 px more, every column) that leave every object wholly in front of it or wholly behind it
/// and at least one visible. `None` when there is no such band (crowded scenes).
pub fn occlude(scene: &Scene, rng: &mut SeedRng) -> Option<Scene> {
    let scale = scene.scale();
    let min_w = (2.0 * SIZES[1].1 * scale + 2.0).ceil() as u32;
    let extra = (6.0 * scale).round() as u32;
    let split = |o: Occluder| -> Option<(Vec<Thing>, Vec<Thing>)> {
        let (mut visible, mut hidden) = (vec![], vec![]);
        for t in &scene.things {
            let (x, r) = (t.centre[0], t.radius(scale));
            if x - r >= o.x0 as f64 && x + r <= o.x1 as f64 {
                hidden.push(*t);
            } else if x + r < o.x0 as f64 || x - r > o.x1 as f64 {
                visible.push(*t);
            } else {
                return None;
            }
        }
        (!visible.is_empty()).then_some((visible, hidden))
    };
    let bands: Vec<Occluder> = (min_w..=min_w + extra)
        .filter(|&w| w < scene.size)
        .flat_map(|w| (0..=scene.size - w).map(move |x0| Occluder { x0, x1: x0 + w }))
        .filter(|&o| split(o).is_some())
        .collect();
    if bands.is_empty() {
        return None;
    }
    let o = bands[rng.below(bands.len() as u64) as usize];
    let (things, hidden) = split(o).expect("a listed band splits the scene");
    Some(Scene { things, hidden, occluder: Some(o), ..scene.clone() })
}

/// Candidate hypotheses for a scene, built from what is visible: existence of every shape and
/// colour; each visible object's full description and every one-attribute change of it;
/// counts of each shape within one of the visible count; each clear relation between two
/// visible objects and its swap.
pub fn candidates(scene: &Scene) -> Vec<Hypothesis> {
    let visible = &scene.things;
    let margin = RELATION_MARGIN * scene.scale();
    let none = Pattern { shape: None, colour: None, size: None };
    let mut pool: Vec<Hypothesis> = (0..SHAPES.len()).map(|s| Hypothesis::Exists(Pattern { shape: Some(s), ..none })).collect();
    pool.extend((0..COLOURS.len()).map(|c| Hypothesis::Exists(Pattern { colour: Some(c), ..none })));
    for t in visible {
        let p = Pattern::of(t);
        pool.push(Hypothesis::Exists(p));
        pool.extend((0..COLOURS.len()).filter(|&c| c != t.colour).map(|c| Hypothesis::Exists(Pattern { colour: Some(c), ..p })));
        pool.extend((0..SHAPES.len()).filter(|&s| s != t.shape).map(|s| Hypothesis::Exists(Pattern { shape: Some(s), ..p })));
        pool.extend((0..SIZES.len()).filter(|&z| z != t.size).map(|z| Hypothesis::Exists(Pattern { size: Some(z), ..p })));
    }
    for s in 0..SHAPES.len() {
        let p = Pattern { shape: Some(s), ..none };
        let c = visible.iter().filter(|t| p.matches(t)).count();
        pool.extend((c.saturating_sub(1)..=(c + 1).min(NUMBERS.len() - 1)).map(|k| Hypothesis::Count(p, k)));
    }
    for (i, a) in visible.iter().enumerate() {
        for (j, b) in visible.iter().enumerate() {
            for r in [Relation::LeftOf, Relation::RightOf, Relation::Above, Relation::Below] {
                if i != j && r.between(a, b, margin) {
                    pool.push(Hypothesis::Relation(Pattern::of(a), r, Pattern::of(b)));
                    pool.push(Hypothesis::Relation(Pattern::of(a), r.swapped(), Pattern::of(b)));
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    pool.retain(|h| seen.insert(h.text()));
    pool
}

/// Running counts of the hypotheses drawn so far per (label, claim type), so that the classes
/// stay balanced over a split and the claim types spread within each class.
#[derive(Debug, Clone, Default)]
pub struct Balance {
    counts: BTreeMap<(Label, ClaimType), usize>,
}

impl Balance {
    /// Hypotheses drawn with `label`.
    pub fn label(&self, label: Label) -> usize {
        self.counts.iter().filter(|((l, _), _)| *l == label).map(|(_, n)| n).sum()
    }

    /// Hypotheses drawn with `label` and `kind`.
    pub fn of(&self, label: Label, kind: ClaimType) -> usize {
        self.counts.get(&(label, kind)).copied().unwrap_or(0)
    }
}

/// Up to `n` distinct labelled hypotheses about `scene`: each draw takes the label drawn least
/// often so far among those this image can give (ties at random), then the least drawn claim
/// type of that label, then a random candidate of both. Hypotheses that name a colour–shape
/// pair `allowed` refuses (a compositional hold-out in training) are not drawn.
pub fn hypotheses(scene: &Scene, n: usize, balance: &mut Balance, rng: &mut SeedRng, allowed: &dyn Fn(usize, usize) -> bool) -> Vec<LabelledHypothesis> {
    let shown = |h: &Hypothesis| {
        h.patterns().iter().all(|p| match (p.colour, p.shape) {
            (Some(c), Some(s)) => allowed(c, s),
            _ => true,
        })
    };
    let mut pool: Vec<LabelledHypothesis> =
        candidates(scene).into_iter().filter(shown).filter_map(|h| judge(&h, scene).map(|(label, _)| LabelledHypothesis { hypothesis: h, label })).collect();
    let mut out = Vec::with_capacity(n.min(pool.len()));
    for _ in 0..n {
        let least = |keys: Vec<usize>, rng: &mut SeedRng| -> Option<usize> {
            let low = *keys.iter().min()?;
            let ties: Vec<usize> = keys.iter().enumerate().filter(|(_, &k)| k == low).map(|(i, _)| i).collect();
            Some(ties[rng.below(ties.len() as u64) as usize])
        };
        let labels: Vec<Label> = Label::ALL.into_iter().filter(|l| pool.iter().any(|h| h.label == *l)).collect();
        let Some(li) = least(labels.iter().map(|&l| balance.label(l)).collect(), rng) else { break };
        let label = labels[li];
        let kinds: Vec<ClaimType> = ClaimType::ALL.into_iter().filter(|k| pool.iter().any(|h| h.label == label && h.hypothesis.claim_type() == *k)).collect();
        let kind = kinds[least(kinds.iter().map(|&k| balance.of(label, k)).collect(), rng).expect("the label has a candidate")];
        let fit: Vec<usize> = pool.iter().enumerate().filter(|(_, h)| h.label == label && h.hypothesis.claim_type() == kind).map(|(i, _)| i).collect();
        let chosen = pool.swap_remove(fit[rng.below(fit.len() as u64) as usize]);
        *balance.counts.entry((label, kind)).or_default() += 1;
        out.push(chosen);
    }
    out
}
