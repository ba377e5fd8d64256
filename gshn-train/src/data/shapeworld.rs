//! ShapeWorld: generated multi-object scenes with exact panoptic ground truth, captions that
//! pin each scene down, hard-negative captions, and question–answer pairs.
//!
//! A scene is a wall and a floor ("stuff", split at a random horizon, lightly textured) and
//! 1–6 non-overlapping "things": a shape (circle, square, triangle) × a colour (six) × a size
//! (small, large). Everything is drawn from one [`SeedRng`], so a seed gives the same data
//! on every machine. Captions, negatives and questions are built from structured
//! [`Claim`]s whose truth is checked against the scene ([`Claim::holds`]).

use gshn_seg::{SegmentInfo, Segmentation};
use gshn_snn::rng::SeedRng;
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use crate::dataset::CaptionClaims;

/// Thing shapes.
pub const SHAPES: [&str; 3] = ["circle", "square", "triangle"];
/// Thing colours and their RGB values.
pub const COLOURS: [(&str, [u8; 3]); 6] = [
    ("red", [220, 40, 40]),
    ("green", [40, 180, 60]),
    ("blue", [40, 80, 220]),
    ("yellow", [230, 210, 40]),
    ("purple", [150, 60, 190]),
    ("cyan", [40, 200, 210]),
];
/// Thing sizes and their radii in pixels (at 64 px).
pub const SIZES: [(&str, f64); 2] = [("small", 5.5), ("large", 9.0)];
/// Stuff: wall and floor colours (muted, never a thing colour).
pub const WALLS: [(&str, [u8; 3]); 3] = [("grey", [150, 150, 150]), ("white", [225, 225, 215]), ("beige", [200, 185, 150])];
/// Floor colours.
pub const FLOORS: [(&str, [u8; 3]); 3] = [("brown", [120, 85, 55]), ("dark", [70, 70, 75]), ("tan", [170, 140, 100])];
/// Panoptic categories: 1–3 shapes (things), 4 wall, 5 floor (stuff).
pub const WALL_CATEGORY: u32 = 4;
/// The floor's category id.
pub const FLOOR_CATEGORY: u32 = 5;
/// The occluder's category id (stuff; only in scenes with an occluder, ShapeWorld-VE).
pub const OCCLUDER_CATEGORY: u32 = 6;
/// The occluder's plain colour (never a thing, wall or floor colour).
pub const OCCLUDER_COLOUR: [u8; 3] = [25, 25, 30];

/// A plain band drawn over image columns `x0..x1` (full height): what lies behind it cannot be
/// seen (ShapeWorld-VE, `crate::data::shapeworld_ve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occluder {
    /// First covered column.
    pub x0: u32,
    /// One past the last covered column.
    pub x1: u32,
}

impl Occluder {
    /// Whether column `x` is covered.
    pub fn covers(&self, x: u32) -> bool {
        (self.x0..self.x1).contains(&x)
    }
}

/// One object in a scene.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    /// Index into [`SHAPES`].
    pub shape: usize,
    /// Index into [`COLOURS`].
    pub colour: usize,
    /// Index into [`SIZES`].
    pub size: usize,
    /// Centre `[x, y]` in pixels.
    pub centre: [f64; 2],
}

impl Thing {
    /// "small red circle".
    pub fn phrase(&self) -> String {
        format!("{} {} {}", SIZES[self.size].0, COLOURS[self.colour].0, SHAPES[self.shape])
    }

    /// Radius in pixels at `scale` pixels per reference pixel.
    pub fn radius(&self, scale: f64) -> f64 {
        SIZES[self.size].1 * scale
    }

    /// Whether pixel centre `(x + ½, y + ½)` lies inside the shape.
    pub fn covers(&self, x: u32, y: u32, scale: f64) -> bool {
        let (dx, dy) = (x as f64 + 0.5 - self.centre[0], y as f64 + 0.5 - self.centre[1]);
        let r = self.radius(scale);
        match self.shape {
            0 => dx * dx + dy * dy <= r * r,
            1 => dx.abs() <= 0.85 * r && dy.abs() <= 0.85 * r,
            _ => {
                // Upward triangle: apex at −r, base at +0.8r.
                let t = (dy + r) / (1.8 * r);
                (0.0..=1.0).contains(&t) && dx.abs() <= t * r
            }
        }
    }
}

/// Spatial relations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Relation {
    /// Centre further left by a clear margin.
    LeftOf,
    /// Centre further right.
    RightOf,
    /// Centre higher.
    Above,
    /// Centre lower.
    Below,
}

impl Relation {
    /// The words.
    pub fn words(&self) -> &'static str {
        match self {
            Relation::LeftOf => "left of",
            Relation::RightOf => "right of",
            Relation::Above => "above",
            Relation::Below => "below",
        }
    }

    /// The opposite relation.
    pub fn swapped(&self) -> Self {
        match self {
            Relation::LeftOf => Relation::RightOf,
            Relation::RightOf => Relation::LeftOf,
            Relation::Above => Relation::Below,
            Relation::Below => Relation::Above,
        }
    }

    /// Whether `a` stands in this relation to `b` (centres apart by more than `margin`).
    pub fn between(&self, a: &Thing, b: &Thing, margin: f64) -> bool {
        match self {
            Relation::LeftOf => a.centre[0] + margin < b.centre[0],
            Relation::RightOf => a.centre[0] > b.centre[0] + margin,
            Relation::Above => a.centre[1] + margin < b.centre[1],
            Relation::Below => a.centre[1] > b.centre[1] + margin,
        }
    }
}

/// A description of objects by attributes; `None` matches anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    /// Shape index.
    pub shape: Option<usize>,
    /// Colour index.
    pub colour: Option<usize>,
    /// Size index.
    pub size: Option<usize>,
}

impl Pattern {
    /// The full description of a thing.
    pub fn of(t: &Thing) -> Self {
        Self { shape: Some(t.shape), colour: Some(t.colour), size: Some(t.size) }
    }

    /// Whether `t` matches.
    pub fn matches(&self, t: &Thing) -> bool {
        self.shape.is_none_or(|s| s == t.shape) && self.colour.is_none_or(|c| c == t.colour) && self.size.is_none_or(|z| z == t.size)
    }

    /// "small red circle", "red object", "circle".
    pub fn phrase(&self) -> String {
        let mut w = Vec::new();
        if let Some(z) = self.size {
            w.push(SIZES[z].0);
        }
        if let Some(c) = self.colour {
            w.push(COLOURS[c].0);
        }
        w.push(self.shape.map_or("object", |s| SHAPES[s]));
        w.join(" ")
    }
}

/// A checkable statement about a scene; captions and negatives are rendered from these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Claim {
    /// Exactly these things, as a multiset of full descriptions.
    Inventory(Vec<Pattern>),
    /// Exactly `n` things match the pattern.
    Count(Pattern, usize),
    /// Some thing matching `a` stands in `rel` to some thing matching `b`.
    Relation(Pattern, Relation, Pattern),
    /// The wall and floor colours.
    Stuff(usize, usize),
    /// Some thing matching the pattern stands in a third of the image: 0 left, 1 middle,
    /// 2 right (by its centre).
    Side(Pattern, usize),
    /// Exactly these counts per pattern, and none of the sibling patterns not listed (e.g.
    /// "two circles and one square": no triangle). `by_shape` says which attribute varies.
    Tally {
        /// `(pattern, count)` pairs, counts ≥ 1.
        counts: Vec<(Pattern, usize)>,
        /// Whether the patterns are shapes (else colours).
        by_shape: bool,
    },
    /// Distinct things matching these patterns on this wall and floor.
    Scene(Vec<Pattern>, usize, usize),
}

/// Names of the image thirds for [`Claim::Side`].
pub const SIDES: [&str; 3] = ["on the left", "in the middle", "on the right"];

/// The third of the image a centre `x` falls in.
pub fn side_of(x: f64, size: u32) -> usize {
    ((3.0 * x / size as f64) as usize).min(2)
}

/// Words for small counts.
pub const NUMBERS: [&str; 7] = ["no", "one", "two", "three", "four", "five", "six"];

/// The margin (pixels at 64 px) that makes a relation clear.
pub const RELATION_MARGIN: f64 = 4.0;

impl Claim {
    /// Whether the claim is true of `scene`.
    pub fn holds(&self, scene: &Scene) -> bool {
        let margin = RELATION_MARGIN * scene.scale();
        match self {
            Claim::Inventory(ps) => unmatched(ps, &scene.things) == Some(0),
            Claim::Count(p, n) => scene.things.iter().filter(|t| p.matches(t)).count() == *n,
            Claim::Relation(a, r, b) => {
                scene.things.iter().any(|x| a.matches(x) && scene.things.iter().any(|y| !std::ptr::eq(x, y) && b.matches(y) && r.between(x, y, margin)))
            }
            Claim::Stuff(w, f) => scene.wall == *w && scene.floor == *f,
            Claim::Side(p, side) => scene.things.iter().any(|t| p.matches(t) && side_of(t.centre[0], scene.size) == *side),
            Claim::Tally { counts, by_shape } => {
                let kinds = if *by_shape { SHAPES.len() } else { COLOURS.len() };
                (0..kinds).all(|k| {
                    let p = if *by_shape { Pattern { shape: Some(k), colour: None, size: None } } else { Pattern { shape: None, colour: Some(k), size: None } };
                    let want = counts.iter().find(|(q, _)| *q == p).map_or(0, |(_, n)| *n);
                    scene.things.iter().filter(|t| p.matches(t)).count() == want
                })
            }
            Claim::Scene(ps, w, f) => scene.wall == *w && scene.floor == *f && unmatched(ps, &scene.things).is_some(),
        }
    }

    /// The claim in words.
    pub fn text(&self) -> String {
        match self {
            Claim::Inventory(ps) => join_and(ps.iter().map(|p| format!("a {}", p.phrase())).collect()),
            Claim::Count(p, n) => {
                let noun = p.phrase();
                let plural = if *n == 1 { noun } else { format!("{noun}s") };
                format!("there {} {} {}", if *n == 1 { "is" } else { "are" }, NUMBERS[(*n).min(6)], plural)
            }
            Claim::Relation(a, r, b) => format!("a {} {} a {}", a.phrase(), r.words(), b.phrase()),
            Claim::Stuff(w, f) => format!("objects on a {} floor in front of a {} wall", FLOORS[*f].0, WALLS[*w].0),
            Claim::Side(p, side) => format!("a {} {}", p.phrase(), SIDES[*side]),
            Claim::Tally { counts, .. } => {
                let parts: Vec<String> = counts
                    .iter()
                    .map(|(p, n)| {
                        let noun = p.phrase();
                        format!("{} {}", NUMBERS[(*n).min(6)], if *n == 1 { noun } else { format!("{noun}s") })
                    })
                    .collect();
                format!("there {} {}", if counts.first().is_some_and(|c| c.1 == 1) { "is" } else { "are" }, join_and(parts))
            }
            Claim::Scene(ps, w, f) => {
                let list = join_and(ps.iter().map(|p| format!("a {}", p.phrase())).collect());
                format!("{list} on a {} floor in front of a {} wall", FLOORS[*f].0, WALLS[*w].0)
            }
        }
    }
}
/// Matches each pattern to a distinct thing; the number of things left over, or `None` if
/// some pattern finds no thing.
fn unmatched(patterns: &[Pattern], things: &[Thing]) -> Option<usize> {
    let mut left: Vec<&Thing> = things.iter().collect();
    for p in patterns {
        let i = left.iter().position(|t| p.matches(t))?;
        left.remove(i);
    }
    Some(left.len())
}

/// "a", "a and b", "a, b and c".
fn join_and(mut parts: Vec<String>) -> String {
    match parts.len() {
        0 | 1 => parts.pop().unwrap_or_default(),
        n => {
            let last = parts.pop().expect("n ≥ 2");
            format!("{} and {last}", parts[..n - 1].join(", "))
        }
    }
}

/// Question types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuestionType {
    /// "what colour is the …?"
    Colour,
    /// "what shape is the … object?"
    Shape,
    /// "how many …s are there?"
    Count,
    /// "is there a …?"
    Existence,
    /// "is the … left of the …?"
    Relation,
}

/// A question with its answer (an entry of [`answer_vocabulary`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The type.
    pub kind: QuestionType,
    /// The words.
    pub text: String,
    /// The answer.
    pub answer: String,
}

/// The fixed answer vocabulary: colours, shapes, counts 0–6, yes, no.
pub fn answer_vocabulary() -> Vec<String> {
    let mut v: Vec<String> = COLOURS.iter().map(|c| c.0.to_string()).collect();
    v.extend(SHAPES.iter().map(|s| s.to_string()));
    v.extend((0..=6).map(|n| n.to_string()));
    v.extend(["yes".to_string(), "no".to_string()]);
    v
}

/// One generated scene with everything known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Image side in pixels.
    pub size: u32,
    /// Index into [`WALLS`].
    pub wall: usize,
    /// Index into [`FLOORS`].
    pub floor: usize,
    /// Row where the floor starts.
    pub horizon: u32,
    /// The objects, left to right.
    pub things: Vec<Thing>,
    /// Seed of the texture noise.
    pub texture_seed: u64,
    /// A plain band over part of the image (ShapeWorld-VE); `things` are the objects outside
    /// it, `hidden` those wholly behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occluder: Option<Occluder>,
    /// Objects wholly behind the occluder (not drawn, not segments, not in any caption).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<Thing>,
}

/// Parses a compositional hold-out pair `colour:shape` (e.g. `red:triangle`), checking both
/// names against [`COLOURS`] and [`SHAPES`].
pub fn parse_holdout(pair: &str) -> Result<(String, String), String> {
    let (c, s) = pair.split_once(':').ok_or_else(|| format!("`{pair}` is not a colour:shape pair such as red:triangle"))?;
    if !COLOURS.iter().any(|x| x.0 == c) {
        return Err(format!("unknown colour `{c}` in `{pair}`"));
    }
    if !SHAPES.contains(&s) {
        return Err(format!("unknown shape `{s}` in `{pair}`"));
    }
    Ok((c.to_string(), s.to_string()))
}

/// Generator settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeWorldConfig {
    /// Image side in pixels (≥ 32). Default 64.
    pub image_size: u32,
    /// Fewest objects per scene (≥ 1). Default 1.
    pub min_objects: usize,
    /// Most objects per scene (≤ 6). Default 6.
    pub max_objects: usize,
    /// Colour–shape pairs never shown in training (compositional hold-out), e.g.
    /// `[("red", "triangle")]`. Default none.
    pub holdout: Vec<(String, String)>,
    /// Fraction of scenes offered an occluder (ShapeWorld-VE, in `[0, 1]`): a plain band with
    /// some objects wholly behind it, where one fits (crowded scenes have no band that splits
    /// their objects cleanly, so the occluded share is lower). Default 0 (no scene changes,
    /// no random draw).
    #[serde(default)]
    pub occluders: f64,
    /// Visual-entailment hypotheses per image (ShapeWorld-VE). Default 0.
    #[serde(default)]
    pub hypotheses: usize,
    /// Statements per image pair (ShapeWorld-NLVR): > 0 makes every example a pair of
    /// scenes. Default 0.
    #[serde(default)]
    pub statements: usize,
}

impl Default for ShapeWorldConfig {
    fn default() -> Self {
        Self { image_size: 64, min_objects: 1, max_objects: 6, holdout: Vec::new(), occluders: 0.0, hypotheses: 0, statements: 0 }
    }
}

/// Everything about one example: the scene, its captions, negatives and questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeWorldExample {
    /// The scene.
    pub scene: Scene,
    /// Five true captions.
    pub captions: Vec<Claim>,
    /// Hard-negative captions: one attribute changed or one relation swapped (all false).
    pub negatives: Vec<Claim>,
    /// For each negative, the index of the caption it was made from.
    #[serde(default)]
    pub negative_sources: Vec<usize>,
    /// Questions with answers.
    pub questions: Vec<Question>,
    /// Visual-entailment hypotheses with their exact labels (ShapeWorld-VE; none by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hypotheses: Vec<super::shapeworld_ve::LabelledHypothesis>,
    /// The second scene of the pair (ShapeWorld-NLVR; the captions and questions describe
    /// `scene`, the left image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<Scene>,
    /// Statements about the pair (`scene`, `partner`) with their truth (ShapeWorld-NLVR).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<super::shapeworld_nlvr::LabelledStatement>,
}

impl Scene {
    /// Pixels per reference pixel (1 at 64 px).
    pub fn scale(&self) -> f64 {
        self.size as f64 / 64.0
    }

    /// Draws a random scene; `allowed(colour, shape)` filters thing kinds (for hold-outs).
    pub fn random(cfg: &ShapeWorldConfig, rng: &mut SeedRng, allowed: &dyn Fn(usize, usize) -> bool) -> Self {
        let size = cfg.image_size;
        let scale = size as f64 / 64.0;
        let n = cfg.min_objects + rng.below((cfg.max_objects - cfg.min_objects + 1) as u64) as usize;
        let mut things: Vec<Thing> = Vec::with_capacity(n);
        let mut tries = 0;
        while things.len() < n && tries < 2000 {
            tries += 1;
            let (shape, colour) = (rng.below(3) as usize, rng.below(6) as usize);
            if !allowed(colour, shape) {
                continue;
            }
            let sz = rng.below(2) as usize;
            let r = SIZES[sz].1 * scale;
            let lo = r + 1.0;
            let span = size as f64 - 2.0 * lo;
            let centre = [lo + rng.next_f64() * span, lo + rng.next_f64() * span];
            let t = Thing { shape, colour, size: sz, centre };
            let clear = things.iter().all(|o| {
                let d = ((o.centre[0] - centre[0]).powi(2) + (o.centre[1] - centre[1]).powi(2)).sqrt();
                d > o.radius(scale) + r + 1.0
            });
            if clear {
                things.push(t);
            }
        }
        things.sort_by(|a, b| a.centre[0].total_cmp(&b.centre[0]));
        let horizon = (size as f64 * (0.3 + 0.25 * rng.next_f64())) as u32;
        Scene { size, wall: rng.below(3) as usize, floor: rng.below(3) as usize, horizon, things, texture_seed: rng.next_u64(), occluder: None, hidden: vec![] }
    }

    /// The image: wall, floor with a light texture, things on top, the occluder (if any) over
    /// everything.
    pub fn render(&self) -> RgbImage {
        let mut tex = SeedRng::new(self.texture_seed);
        let scale = self.scale();
        RgbImage::from_fn(self.size, self.size, |x, y| {
            let noise = (tex.next_f32() * 16.0) as i32 - 8;
            if self.occluder.is_some_and(|o| o.covers(x)) {
                return Rgb(OCCLUDER_COLOUR);
            }
            if let Some(t) = self.things.iter().rev().find(|t| t.covers(x, y, scale)) {
                return Rgb(COLOURS[t.colour].1);
            }
            let base = if y < self.horizon { WALLS[self.wall].1 } else { FLOORS[self.floor].1 };
            Rgb(base.map(|c| (c as i32 + noise).clamp(0, 255) as u8))
        })
    }

    /// The exact panoptic ground truth: the visible things (category `shape + 1`) first, then
    /// wall and floor, then the occluder when there is one. Every pixel belongs to exactly one
    /// segment.
    pub fn panoptic(&self) -> Segmentation {
        let scale = self.scale();
        let n = self.things.len() as u32;
        let labels: Vec<u32> = (0..self.size)
            .flat_map(|y| (0..self.size).map(move |x| (x, y)))
            .map(|(x, y)| match self.things.iter().rposition(|t| t.covers(x, y, scale)) {
                _ if self.occluder.is_some_and(|o| o.covers(x)) => n + 2,
                Some(k) => k as u32,
                None if y < self.horizon => n,
                None => n + 1,
            })
            .collect();
        let mut seg = Segmentation::from_labels(self.size, self.size, labels).expect("labels cover the image");
        let stuff = if self.occluder.is_some() { 3 } else { 2 };
        seg.segments
            .resize(n as usize + stuff, SegmentInfo { id: 0, category_id: None, is_thing: false, is_crowd: false, area: 0, bbox: [0; 4], centroid: [0.0; 2] });
        for (k, s) in seg.segments.iter_mut().enumerate() {
            s.id = k as u32 + 1;
            let (cat, thing) = match self.things.get(k) {
                Some(t) => (t.shape as u32 + 1, true),
                None if k == n as usize => (WALL_CATEGORY, false),
                None if k == n as usize + 1 => (FLOOR_CATEGORY, false),
                None => (OCCLUDER_CATEGORY, false),
            };
            s.category_id = Some(cat);
            s.is_thing = thing;
        }
        seg
    }
}

/// Builds the five captions, the hard negatives and the questions of a scene.
pub fn describe(scene: &Scene, rng: &mut SeedRng) -> ShapeWorldExample {
    let things = &scene.things;
    let margin = RELATION_MARGIN * scene.scale();
    let mut captions = vec![Claim::Inventory(things.iter().map(Pattern::of).collect())];
    let pick = |rng: &mut SeedRng| &things[rng.below(things.len() as u64) as usize];
    // Every caption should single its scene out, so counts are complete tallies.
    let tally = |by_shape: bool| {
        let kinds = if by_shape { SHAPES.len() } else { COLOURS.len() };
        let counts = (0..kinds)
            .map(|k| if by_shape { Pattern { shape: Some(k), colour: None, size: None } } else { Pattern { shape: None, colour: Some(k), size: None } })
            .map(|p| (p, things.iter().filter(|t| p.matches(t)).count()))
            .filter(|(_, n)| *n > 0)
            .collect();
        Claim::Tally { counts, by_shape }
    };
    captions.push(tally(true));
    // Relations between pairs with a clear separation.
    let mut relations = Vec::new();
    for a in things {
        for b in things {
            if std::ptr::eq(a, b) {
                continue;
            }
            for r in [Relation::LeftOf, Relation::RightOf, Relation::Above, Relation::Below] {
                if r.between(a, b, margin) {
                    relations.push(Claim::Relation(Pattern::of(a), r, Pattern::of(b)));
                }
            }
        }
    }
    rng.shuffle(&mut relations);
    captions.extend(relations.iter().take(2).cloned());
    captions.push(tally(false));
    // The stuff with (up to three of) the objects.
    let mut some: Vec<Pattern> = things.iter().map(Pattern::of).collect();
    rng.shuffle(&mut some);
    some.truncate(3);
    captions.push(Claim::Scene(some, scene.wall, scene.floor));
    // Scenes with few relations get where-in-the-image captions instead.
    for t in things.iter().cycle().take(3 * things.len()) {
        if captions.len() >= 5 {
            break;
        }
        let c = Claim::Side(Pattern::of(t), side_of(t.centre[0], scene.size));
        if !captions.contains(&c) {
            captions.push(c);
        }
    }
    while captions.len() < 5 {
        let t = pick(rng);
        captions.push(Claim::Count(Pattern { shape: None, colour: None, size: Some(t.size) }, things.iter().filter(|o| o.size == t.size).count()));
    }
    captions.truncate(5);

    // Hard negatives: change one attribute of one object in the inventory; swap a relation.
    // Each remembers the caption it was made from.
    let mut negatives = Vec::new();
    let mut sources = Vec::new();
    for _ in 0..8 {
        let k = rng.below(things.len() as u64) as usize;
        let mut ps: Vec<Pattern> = things.iter().map(Pattern::of).collect();
        let which = rng.below(3);
        let p = &mut ps[k];
        match which {
            0 => p.colour = Some((p.colour.unwrap() + 1 + rng.below(5) as usize) % 6),
            1 => p.shape = Some((p.shape.unwrap() + 1 + rng.below(2) as usize) % 3),
            _ => p.size = Some(1 - p.size.unwrap()),
        }
        let c = Claim::Inventory(ps);
        if !c.holds(scene) && !negatives.contains(&c) {
            negatives.push(c);
            sources.push(0); // caption 0 is the inventory
        }
        if negatives.len() >= 2 {
            break;
        }
    }
    for rel in relations.iter().take(2) {
        if let Claim::Relation(a, r, b) = rel {
            let c = Claim::Relation(*a, r.swapped(), *b);
            if let (false, Some(source)) = (c.holds(scene), captions.iter().position(|k| k == rel)) {
                negatives.push(c);
                sources.push(source);
            }
        }
    }

    // Questions.
    let mut questions = Vec::new();
    let unique = |p: &Pattern| things.iter().filter(|t| p.matches(t)).count() == 1;
    let t = pick(rng);
    let shape_only = Pattern { shape: Some(t.shape), colour: None, size: None };
    let full = Pattern::of(t);
    let colour_q = if unique(&shape_only) { shape_only } else { Pattern { colour: None, ..full } };
    if unique(&colour_q) {
        questions.push(Question { kind: QuestionType::Colour, text: format!("what colour is the {}?", colour_q.phrase()), answer: COLOURS[t.colour].0.into() });
    }
    let colour_only = Pattern { shape: None, colour: Some(t.colour), size: None };
    let shape_q = if unique(&colour_only) { colour_only } else { Pattern { shape: None, ..full } };
    if unique(&shape_q) {
        questions.push(Question { kind: QuestionType::Shape, text: format!("what shape is the {}?", shape_q.phrase()), answer: SHAPES[t.shape].into() });
    }
    let s = rng.below(3) as usize;
    let count_p = Pattern { shape: Some(s), colour: None, size: None };
    questions.push(Question {
        kind: QuestionType::Count,
        text: format!("how many {}s are there?", SHAPES[s]),
        answer: things.iter().filter(|o| count_p.matches(o)).count().to_string(),
    });
    let exist = Pattern { shape: Some(rng.below(3) as usize), colour: Some(rng.below(6) as usize), size: None };
    let yes = things.iter().any(|o| exist.matches(o));
    questions.push(Question { kind: QuestionType::Existence, text: format!("is there a {}?", exist.phrase()), answer: if yes { "yes" } else { "no" }.into() });
    if let Some(Claim::Relation(a, r, b)) = relations.first() {
        let (r, answer) = if rng.below(2) == 0 { (*r, "yes") } else { (r.swapped(), "no") };
        let claim = Claim::Relation(*a, r, *b);
        let answer = if claim.holds(scene) { "yes" } else { answer };
        questions.push(Question {
            kind: QuestionType::Relation,
            text: format!("is the {} {} the {}?", a.phrase(), r.words(), b.phrase()),
            answer: answer.into(),
        });
    }
    ShapeWorldExample { scene: scene.clone(), captions, negatives, negative_sources: sources, questions, hypotheses: vec![], partner: None, statements: vec![] }
}

/// Which split an example belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// Training.
    Train,
    /// Validation.
    Val,
    /// Test.
    Test,
}

impl Split {
    /// "train", "val", "test".
    pub fn name(&self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// Generates `n` examples of `split`, deterministically from `seed` (each split its own
/// stream). Training scenes never contain a held-out colour–shape pair. Occluders and
/// entailment hypotheses (ShapeWorld-VE) draw from a stream of their own, so that with
/// `occluders = 0` and `hypotheses = 0` the scenes, captions and questions are those of plain
/// ShapeWorld, and hypotheses added to them leave them unchanged.
pub fn generate(cfg: &ShapeWorldConfig, seed: u64, split: Split, n: usize) -> Vec<ShapeWorldExample> {
    let mut rng = SeedRng::new(seed).fork("shapeworld").fork(split.name());
    let mut ve_rng = SeedRng::new(seed).fork("shapeworld-ve").fork(split.name());
    let mut balance = super::shapeworld_ve::Balance::default();
    let mut nlvr_rng = SeedRng::new(seed).fork("shapeworld-nlvr").fork(split.name());
    let mut nlvr_balance = super::shapeworld_nlvr::Balance::default();
    let held: Vec<(usize, usize)> =
        cfg.holdout.iter().filter_map(|(c, s)| Some((COLOURS.iter().position(|x| x.0 == c)?, SHAPES.iter().position(|x| x == s)?))).collect();
    let allowed = |c: usize, s: usize| split != Split::Train || !held.contains(&(c, s));
    (0..n)
        .map(|_| {
            let (scene, partner, statements) = if cfg.statements > 0 {
                // ShapeWorld-NLVR: the pair comes from the statements' own stream.
                let (left, right, statements) = super::shapeworld_nlvr::pair(cfg, cfg.statements, &mut nlvr_balance, &mut nlvr_rng, &allowed);
                (left, Some(right), statements)
            } else {
                let scene = Scene::random(cfg, &mut rng, &allowed);
                let occluded = (cfg.occluders > 0.0 && ve_rng.next_f64() < cfg.occluders).then(|| super::shapeworld_ve::occlude(&scene, &mut ve_rng)).flatten();
                (occluded.unwrap_or(scene), None, vec![])
            };
            let mut example = describe(&scene, &mut rng);
            if cfg.hypotheses > 0 {
                example.hypotheses = super::shapeworld_ve::hypotheses(&scene, cfg.hypotheses, &mut balance, &mut ve_rng, &allowed);
            }
            ShapeWorldExample { partner, statements, ..example }
        })
        .collect()
}

/// The panoptic categories of ShapeWorld (COCO panoptic format).
pub fn categories() -> Vec<gshn_seg::panoptic::PanopticCategory> {
    use gshn_seg::panoptic::PanopticCategory;
    let mut v: Vec<PanopticCategory> = SHAPES
        .iter()
        .enumerate()
        .map(|(i, s)| PanopticCategory { id: i as u32 + 1, name: s.to_string(), isthing: 1, color: None, supercategory: Some("shape".into()) })
        .collect();
    v.push(PanopticCategory { id: WALL_CATEGORY, name: "wall".into(), isthing: 0, color: None, supercategory: Some("stuff".into()) });
    v.push(PanopticCategory { id: FLOOR_CATEGORY, name: "floor".into(), isthing: 0, color: None, supercategory: Some("stuff".into()) });
    v.push(PanopticCategory { id: OCCLUDER_CATEGORY, name: "occluder".into(), isthing: 0, color: None, supercategory: Some("stuff".into()) });
    v
}

/// What a ShapeWorld example's captions claim, and the scene to check claims against.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleClaims {
    /// The scene.
    pub scene: Scene,
    /// The claim of each caption, in caption order.
    pub captions: Vec<Claim>,
}

impl CaptionClaims for ExampleClaims {
    fn captions(&self) -> usize {
        self.captions.len()
    }

    fn holds_of(&self, k: usize, other: &dyn CaptionClaims) -> Option<bool> {
        let other = other.as_any().downcast_ref::<ExampleClaims>()?;
        Some(self.captions.get(k)?.holds(&other.scene))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl ShapeWorldExample {
    /// The example as the model's input: the rendered image, its exact panoptic
    /// segmentation, the caption texts, the hard negatives and the questions (answers as
    /// indices into [`answer_vocabulary`]).
    pub fn to_example(&self) -> crate::dataset::Example {
        let answers = answer_vocabulary();
        let questions = self
            .questions
            .iter()
            .map(|q| crate::dataset::QaItem {
                kind: format!("{:?}", q.kind).to_lowercase(),
                text: q.text.clone(),
                answer: answers.iter().position(|a| *a == q.answer).expect("ShapeWorld answers are in the vocabulary"),
            })
            .collect();
        crate::dataset::Example {
            hypotheses: self.hypotheses.iter().map(|h| h.item()).collect(),
            statements: self.statements.iter().map(|s| s.item()).collect(),
            partner: self.partner.as_ref().map(|p| Box::new(crate::dataset::Example::image_only(p.render(), p.panoptic()))),
            image: self.scene.render(),
            segmentation: self.scene.panoptic(),
            captions: self.captions.iter().map(|c| c.text()).collect(),
            negatives: self.negatives.iter().map(|c| c.text()).collect(),
            questions,
            negative_sources: self.negative_sources.clone(),
            claims: Some(std::sync::Arc::new(ExampleClaims { scene: self.scene.clone(), captions: self.captions.clone() })),
        }
    }
}
