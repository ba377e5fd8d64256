//! ShapeWorld-NLVR: pairs of scenes and statements about the pair with exact truth (NLVR²'s
//! task: two images + one statement → true / false).
//!
//! Both scenes come from ShapeWorld's generator. A statement is drawn first (its form and
//! words), then a truth value — whichever the statement's form has had less often so far —
//! and scene pairs are drawn until the statement has that truth on the pair (up to 2,000
//! pairs, enough for the rarest forms; a statement that fails is drawn again, which happens
//! for well under 1 % of them). So every form is balanced between true and false, and a
//! statement text appears with pairs that make it true and with pairs that make it false:
//! the text alone cannot answer it. Further statements about the same pair (more than one
//! statement per pair) are drawn until one has its form's wanted truth *on that pair*: a
//! form that is rarely true is then kept mostly when false, which a text-only model can
//! learn — the shipped configs use one statement per pair.
//!
//! Kinds: **count** (`the left image has more circles than the right image`, `both images
//! have the same number of red objects`, `the right image has exactly two squares`),
//! **existence** (`both images contain a triangle`, `exactly one image contains a blue
//! object`, `neither image contains a square`) and **relation** (`both images have a
//! circle above a square`, `exactly one image has a triangle left of a circle`).
//!
//! [`Statement::swapped`] is the statement about the pair in the other order (left and right
//! exchanged in the words): BLIP's augmentation swaps the images and the words together, and
//! the truth stays.

use std::collections::BTreeMap;

use gshn_snn::rng::SeedRng;
use serde::{Deserialize, Serialize};

use super::shapeworld::{Pattern, Relation, Scene, ShapeWorldConfig, Thing, COLOURS, NUMBERS, RELATION_MARGIN, SHAPES};

/// A side of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The first image.
    Left,
    /// The second image.
    Right,
}

impl Side {
    fn word(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    fn other(self) -> Self {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// How many of the two images a property must hold in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantifier {
    /// Both images.
    Both,
    /// Exactly one image.
    ExactlyOne,
    /// Neither image.
    Neither,
}

impl Quantifier {
    fn test(self, left: bool, right: bool) -> bool {
        match self {
            Quantifier::Both => left && right,
            Quantifier::ExactlyOne => left != right,
            Quantifier::Neither => !left && !right,
        }
    }
}

/// A statement about a pair of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Statement {
    /// The `side` image has more objects matching the pattern than the other image.
    More(Side, Pattern),
    /// Both images have as many objects matching the pattern.
    SameCount(Pattern),
    /// The `side` image has exactly `k` objects matching the pattern.
    Exactly(Side, Pattern, usize),
    /// An object matching the pattern is in both / exactly one / neither image.
    Contains(Quantifier, Pattern),
    /// An object matching `a` stands in the relation to one matching `b` in both / exactly
    /// one image.
    Relation(Quantifier, Pattern, Relation, Pattern),
}

/// What a statement is about, for accuracy per kind.
pub const KINDS: [&str; 3] = ["count", "existence", "relation"];

fn plural(p: &Pattern) -> String {
    format!("{}s", p.phrase())
}

fn count(scene: &Scene, p: &Pattern) -> usize {
    scene.things.iter().filter(|t| p.matches(t)).count()
}

fn related(scene: &Scene, a: &Pattern, r: Relation, b: &Pattern) -> bool {
    let margin = RELATION_MARGIN * scene.scale();
    let t: &[Thing] = &scene.things;
    t.iter().enumerate().any(|(i, x)| a.matches(x) && t.iter().enumerate().any(|(j, y)| i != j && b.matches(y) && r.between(x, y, margin)))
}

impl Statement {
    /// The form the truth is balanced over: the statement with its patterns left out (and
    /// the side, which the image swap exchanges), e.g. `exactly-2`, `contains-both`.
    pub fn form(&self) -> String {
        let q = |q: &Quantifier| match q {
            Quantifier::Both => "both",
            Quantifier::ExactlyOne => "exactly-one",
            Quantifier::Neither => "neither",
        };
        match self {
            Statement::More(..) => "more".into(),
            Statement::SameCount(_) => "same-count".into(),
            Statement::Exactly(_, _, k) => format!("exactly-{k}"),
            Statement::Contains(x, _) => format!("contains-{}", q(x)),
            Statement::Relation(x, ..) => format!("relation-{}", q(x)),
        }
    }

    /// `count`, `existence` or `relation`.
    pub fn kind(&self) -> &'static str {
        match self {
            Statement::More(..) | Statement::SameCount(_) | Statement::Exactly(..) => KINDS[0],
            Statement::Contains(..) => KINDS[1],
            Statement::Relation(..) => KINDS[2],
        }
    }

    /// The words.
    pub fn text(&self) -> String {
        let quant = |q: &Quantifier| match q {
            Quantifier::Both => "both images",
            Quantifier::ExactlyOne => "exactly one image",
            Quantifier::Neither => "neither image",
        };
        match self {
            Statement::More(side, p) => format!("the {} image has more {} than the {} image", side.word(), plural(p), side.other().word()),
            Statement::SameCount(p) => format!("both images have the same number of {}", plural(p)),
            Statement::Exactly(side, p, 0) => format!("the {} image has no {}", side.word(), plural(p)),
            Statement::Exactly(side, p, 1) => format!("the {} image has exactly one {}", side.word(), p.phrase()),
            Statement::Exactly(side, p, k) => format!("the {} image has exactly {} {}", side.word(), NUMBERS[(*k).min(6)], plural(p)),
            Statement::Contains(Quantifier::Neither, p) => format!("neither image contains a {}", p.phrase()),
            Statement::Contains(q, p) => format!("{} contain{} a {}", quant(q), if *q == Quantifier::Both { "" } else { "s" }, p.phrase()),
            Statement::Relation(q, a, r, b) => {
                format!("{} {} a {} {} a {}", quant(q), if *q == Quantifier::Both { "have" } else { "has" }, a.phrase(), r.words(), b.phrase())
            }
        }
    }

    /// Whether it holds of the pair (`left`, `right`).
    pub fn holds(&self, left: &Scene, right: &Scene) -> bool {
        let pick = |s: Side| if s == Side::Left { (left, right) } else { (right, left) };
        match self {
            Statement::More(side, p) => {
                let (this, other) = pick(*side);
                count(this, p) > count(other, p)
            }
            Statement::SameCount(p) => count(left, p) == count(right, p),
            Statement::Exactly(side, p, k) => count(pick(*side).0, p) == *k,
            Statement::Contains(q, p) => q.test(count(left, p) > 0, count(right, p) > 0),
            Statement::Relation(q, a, r, b) => q.test(related(left, a, *r, b), related(right, a, *r, b)),
        }
    }

    /// The statement about the pair in the other order: `swapped().holds(right, left) ==
    /// holds(left, right)`.
    pub fn swapped(&self) -> Self {
        match self {
            Statement::More(side, p) => Statement::More(side.other(), *p),
            Statement::Exactly(side, p, k) => Statement::Exactly(side.other(), *p, *k),
            other => other.clone(),
        }
    }

    /// A random statement: kind uniform, then its form, patterns of one attribute (a shape
    /// or a colour).
    pub fn random(rng: &mut SeedRng) -> Self {
        let none = Pattern { shape: None, colour: None, size: None };
        let pattern = |rng: &mut SeedRng| {
            if rng.below(2) == 0 {
                Pattern { shape: Some(rng.below(SHAPES.len() as u64) as usize), ..none }
            } else {
                Pattern { colour: Some(rng.below(COLOURS.len() as u64) as usize), ..none }
            }
        };
        let side = |rng: &mut SeedRng| if rng.below(2) == 0 { Side::Left } else { Side::Right };
        match rng.below(3) {
            0 => match rng.below(3) {
                0 => Statement::More(side(rng), pattern(rng)),
                1 => Statement::SameCount(pattern(rng)),
                _ => Statement::Exactly(side(rng), pattern(rng), rng.below(4) as usize),
            },
            1 => {
                let q = [Quantifier::Both, Quantifier::ExactlyOne, Quantifier::Neither][rng.below(3) as usize];
                Statement::Contains(q, pattern(rng))
            }
            _ => {
                let q = [Quantifier::Both, Quantifier::ExactlyOne][rng.below(2) as usize];
                let shape = |rng: &mut SeedRng| Pattern { shape: Some(rng.below(SHAPES.len() as u64) as usize), ..none };
                let r = [Relation::LeftOf, Relation::RightOf, Relation::Above, Relation::Below][rng.below(4) as usize];
                Statement::Relation(q, shape(rng), r, shape(rng))
            }
        }
    }
}

/// A statement with its truth on the example's pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledStatement {
    /// The statement.
    pub statement: Statement,
    /// Whether it holds of (scene, partner).
    pub truth: bool,
}

impl LabelledStatement {
    /// As the model's input: kind, text, the text with the images swapped, answer (0 false,
    /// 1 true).
    pub fn item(&self) -> crate::dataset::PairStatement {
        crate::dataset::PairStatement {
            kind: self.statement.kind().into(),
            text: self.statement.text(),
            swapped: self.statement.swapped().text(),
            answer: self.truth as usize,
        }
    }
}

/// Running counts of (form, truth), so that each statement form is balanced between true and
/// false.
#[derive(Debug, Clone, Default)]
pub struct Balance {
    counts: BTreeMap<(String, bool), usize>,
}

impl Balance {
    /// The truth the statement's form has had less often (true on a tie).
    fn wanted(&self, s: &Statement) -> bool {
        let n = |t: bool| self.counts.get(&(s.form(), t)).copied().unwrap_or(0);
        n(true) <= n(false)
    }

    fn add(&mut self, s: &Statement, truth: bool) {
        *self.counts.entry((s.form(), truth)).or_default() += 1;
    }
}

/// Most scene pairs drawn for one statement before another statement is tried.
const PAIR_TRIES: usize = 2000;

/// A pair of scenes and `n` statements about it (at least one; `n` is at least 1): the first
/// statement picks the pair (scenes drawn from `allowed` kinds until it has the wanted truth),
/// the others are drawn until each has its wanted truth on that pair.
pub fn pair(
    cfg: &ShapeWorldConfig,
    n: usize,
    balance: &mut Balance,
    rng: &mut SeedRng,
    allowed: &dyn Fn(usize, usize) -> bool,
) -> (Scene, Scene, Vec<LabelledStatement>) {
    let (left, right, first) = loop {
        let statement = Statement::random(rng);
        let want = balance.wanted(&statement);
        let found = (0..PAIR_TRIES).find_map(|_| {
            let (l, r) = (Scene::random(cfg, rng, allowed), Scene::random(cfg, rng, allowed));
            (statement.holds(&l, &r) == want).then_some((l, r))
        });
        if let Some((l, r)) = found {
            break (l, r, LabelledStatement { statement, truth: want });
        }
    };
    balance.add(&first.statement, first.truth);
    let mut out = vec![first];
    for _ in 1..n.max(1) {
        for _ in 0..PAIR_TRIES {
            let statement = Statement::random(rng);
            let want = balance.wanted(&statement);
            if statement.holds(&left, &right) == want && !out.iter().any(|s| s.statement == statement) {
                balance.add(&statement, want);
                out.push(LabelledStatement { statement, truth: want });
                break;
            }
        }
    }
    (left, right, out)
}
