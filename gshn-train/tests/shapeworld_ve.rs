//! ShapeWorld-VE: every label is checked against the scene. A neutral hypothesis comes with
//! two worlds that render to the same image, one where it holds and one where it fails; an
//! entailment holds (a contradiction fails) in the scene's own hidden objects and in random
//! other hidden objects behind the same occluder; without an occluder the visible objects
//! decide. Classes are balanced, claim types spread, and plain ShapeWorld is unchanged.

use std::collections::BTreeMap;

use gshn_snn::rng::SeedRng;
use gshn_train::data::shapeworld::{generate, Scene, ShapeWorldConfig, Split, Thing, OCCLUDER_CATEGORY, SIZES};
use gshn_train::data::shapeworld_ve::{judge, ClaimType, Hypothesis, Label};
use proptest::prelude::*;

fn ve(occluders: f64, hypotheses: usize) -> ShapeWorldConfig {
    ShapeWorldConfig { occluders, hypotheses, ..Default::default() }
}

/// Up to three random non-overlapping objects wholly behind the scene's occluder.
fn random_hidden(scene: &Scene, rng: &mut SeedRng) -> Vec<Thing> {
    let o = scene.occluder.expect("an occluded scene");
    let scale = scene.scale();
    let mut out: Vec<Thing> = vec![];
    for _ in 0..rng.below(4) {
        let size = rng.below(2) as usize;
        let r = SIZES[size].1 * scale;
        let (x0, x1) = ((o.x0 as f64 + r).max(r + 1.0), (o.x1 as f64 - r).min(scene.size as f64 - r - 1.0));
        let (y0, y1) = (r + 1.0, scene.size as f64 - r - 1.0);
        let t = Thing {
            shape: rng.below(3) as usize,
            colour: rng.below(6) as usize,
            size,
            centre: [x0 + rng.next_f64() * (x1 - x0), y0 + rng.next_f64() * (y1 - y0)],
        };
        let clear = out.iter().all(|u| {
            let d = ((u.centre[0] - t.centre[0]).powi(2) + (u.centre[1] - t.centre[1]).powi(2)).sqrt();
            d > u.radius(scale) + r + 1.0
        });
        if clear {
            out.push(t);
        }
    }
    out
}

/// Whether every hidden object lies wholly behind the occluder.
fn wholly_behind(scene: &Scene, hidden: &[Thing]) -> bool {
    let o = scene.occluder.expect("an occluded scene");
    hidden.iter().all(|t| t.centre[0] - t.radius(scene.scale()) >= o.x0 as f64 && t.centre[0] + t.radius(scene.scale()) <= o.x1 as f64)
}

/// Checks every label of `n` generated examples against their scenes.
fn check_labels(seed: u64, n: usize) {
    let mut rng = SeedRng::new(seed).fork("check");
    for ex in generate(&ve(0.6, 5), seed, Split::Train, n) {
        let scene = &ex.scene;
        let scale = scene.scale();
        let with_hidden = |hidden: &[Thing]| scene.things.iter().chain(hidden).copied().collect::<Vec<_>>();
        for h in &ex.hypotheses {
            let (label, witnesses) = judge(&h.hypothesis, scene).expect("a generated hypothesis is decidable");
            assert_eq!(label, h.label, "{:?}", h.hypothesis);
            let text = h.hypothesis.text();
            match (scene.occluder, h.label) {
                (None, Label::Entailment) => assert!(h.hypothesis.holds(&scene.things, scale), "{text}"),
                (None, Label::Contradiction) => assert!(!h.hypothesis.holds(&scene.things, scale), "{text}"),
                (None, Label::Neutral) => panic!("a neutral hypothesis about a scene without occluder: {text}"),
                (Some(_), Label::Neutral) => {
                    let w = witnesses.expect("neutral comes with witnesses");
                    let (yes, no) = w.scenes(scene);
                    assert!(h.hypothesis.holds(&with_hidden(&yes.hidden), scale), "{text}: holds in its witness");
                    assert!(!h.hypothesis.holds(&with_hidden(&no.hidden), scale), "{text}: fails in its witness");
                    assert!(wholly_behind(scene, &yes.hidden) && wholly_behind(scene, &no.hidden), "{text}: witnesses hide behind the band");
                    let image = scene.render();
                    assert!(yes.render() == image && no.render() == image, "{text}: both worlds render to the scene's image");
                    assert!(yes.panoptic().labels == scene.panoptic().labels, "{text}: and to the same segments");
                }
                (Some(_), decided) => {
                    let want = decided == Label::Entailment;
                    assert_eq!(h.hypothesis.holds(&with_hidden(&scene.hidden), scale), want, "{text}: the scene's own hidden objects");
                    assert_eq!(h.hypothesis.holds(&scene.things, scale), want, "{text}: nothing hidden");
                    for _ in 0..20 {
                        let hidden = random_hidden(scene, &mut rng);
                        assert_eq!(h.hypothesis.holds(&with_hidden(&hidden), scale), want, "{text}: hidden {hidden:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn every_label_is_exact() {
    check_labels(0, 300);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn labels_are_exact_on_any_seed(seed in any::<u64>()) {
        check_labels(seed, 25);
    }
}

#[test]
fn occluded_scenes_hide_whole_objects_and_draw_a_plain_band() {
    let examples = generate(&ve(1.0, 0), 7, Split::Test, 200);
    let occluded: Vec<&Scene> = examples.iter().map(|e| &e.scene).filter(|s| s.occluder.is_some()).collect();
    assert!(occluded.len() > 130, "{} of 200 scenes got an occluder", occluded.len());
    assert!(occluded.iter().any(|s| !s.hidden.is_empty()), "some objects hide");
    for s in occluded {
        let o = s.occluder.unwrap();
        assert!(!s.things.is_empty() && wholly_behind(s, &s.hidden));
        let seg = s.panoptic();
        let band = seg.segments.iter().find(|x| x.category_id == Some(OCCLUDER_CATEGORY)).expect("the occluder is a segment");
        assert_eq!(band.area, ((o.x1 - o.x0) * s.size) as u64, "the band covers whole columns");
        assert_eq!(seg.segments.iter().filter(|x| x.is_thing).count(), s.things.len(), "hidden objects are not segments");
        // The visible objects lie wholly outside the band.
        for t in &s.things {
            let r = t.radius(s.scale());
            assert!(t.centre[0] + r < o.x0 as f64 || t.centre[0] - r > o.x1 as f64);
        }
    }
}

#[test]
fn classes_are_balanced_and_claim_types_spread() {
    let examples = generate(&ve(0.5, 3), 1, Split::Train, 600);
    let mut per: BTreeMap<(Label, ClaimType), usize> = BTreeMap::new();
    for h in examples.iter().flat_map(|e| &e.hypotheses) {
        *per.entry((h.label, h.hypothesis.claim_type())).or_default() += 1;
    }
    let total: usize = per.values().sum();
    assert!(total >= 1700, "{total} hypotheses for 600 images");
    for l in Label::ALL {
        let n: usize = per.iter().filter(|((x, _), _)| *x == l).map(|(_, n)| n).sum();
        let share = n as f64 / total as f64;
        assert!((0.30..=0.37).contains(&share), "{l:?}: {share:.3} of the hypotheses ({per:?})");
        let kinds = ClaimType::ALL.iter().filter(|k| per.get(&(l, **k)).copied().unwrap_or(0) * 20 >= n).count();
        assert!(kinds >= 3, "{l:?} spreads over {kinds} claim types with ≥ 5 % each: {per:?}");
    }
}

#[test]
fn hypotheses_read_as_sentences_with_albef_label_order() {
    assert_eq!([Label::Contradiction.index(), Label::Neutral.index(), Label::Entailment.index()], [0, 1, 2]);
    let examples = generate(&ve(0.5, 4), 2, Split::Val, 50);
    let texts: Vec<String> = examples.iter().flat_map(|e| &e.hypotheses).map(|h| h.hypothesis.text()).collect();
    assert!(texts.iter().any(|t| t.starts_with("there is a ")), "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("there are exactly ") || t.starts_with("there is exactly one ") || t.starts_with("there are no ")));
    assert!(texts.iter().any(|t| [" left of ", " right of ", " above ", " below "].iter().any(|r| t.contains(r))));
    let items: Vec<_> = examples.iter().map(|e| e.to_example()).collect();
    assert!(items.iter().all(|e| e.hypotheses.len() <= 4) && items.iter().map(|e| e.hypotheses.len()).sum::<usize>() > 150);
    assert!(items.iter().flat_map(|e| &e.hypotheses).all(|q| q.answer < 3 && ["existence", "attribute", "count", "relation"].contains(&q.kind.as_str())));
}

#[test]
fn plain_shapeworld_is_unchanged_by_hypotheses() {
    let plain = generate(&ShapeWorldConfig::default(), 5, Split::Train, 40);
    let with = generate(&ve(0.0, 3), 5, Split::Train, 40);
    for (a, b) in plain.iter().zip(&with) {
        assert_eq!((&a.scene, &a.captions, &a.negatives, &a.questions), (&b.scene, &b.captions, &b.negatives, &b.questions));
        assert!(a.hypotheses.is_empty() && !b.hypotheses.is_empty());
        assert!(b.hypotheses.iter().all(|h| h.label != Label::Neutral), "no occluder, no neutral");
    }
}

#[test]
fn a_count_out_of_reach_of_one_hidden_object_is_not_judged() {
    let ex = generate(&ve(1.0, 0), 3, Split::Train, 50).into_iter().find(|e| e.scene.occluder.is_some()).unwrap();
    let p = gshn_train::data::shapeworld::Pattern { shape: Some(0), colour: None, size: None };
    let visible = ex.scene.things.iter().filter(|t| p.matches(t)).count();
    assert!(judge(&Hypothesis::Count(p, visible + 2), &ex.scene).is_none());
    assert_eq!(judge(&Hypothesis::Count(p, visible + 1), &ex.scene).unwrap().0, Label::Neutral);
}
