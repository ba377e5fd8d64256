//! ShapeWorld-NLVR: every statement is re-evaluated from its two scenes, swapping the images
//! and the words keeps the truth, each kind is balanced, and a statement's text does not give
//! its truth away.

use std::collections::BTreeMap;

use gshn_train::data::shapeworld::{generate, ShapeWorldConfig, Split};
use gshn_train::data::shapeworld_nlvr::KINDS;
use proptest::prelude::*;

fn nlvr(statements: usize) -> ShapeWorldConfig {
    ShapeWorldConfig { statements, ..Default::default() }
}

fn check_truth(seed: u64, n: usize) {
    for ex in generate(&nlvr(3), seed, Split::Train, n) {
        let right = ex.partner.as_ref().expect("every example is a pair");
        assert!(!ex.statements.is_empty());
        for s in &ex.statements {
            let text = s.statement.text();
            assert_eq!(s.statement.holds(&ex.scene, right), s.truth, "{text}");
            let swapped = s.statement.swapped();
            assert_eq!(swapped.holds(right, &ex.scene), s.truth, "{text} swapped: {}", swapped.text());
            if text.starts_with("the left image") || text.starts_with("the right image") {
                let exchanged = text.replace("left", "\u{0}").replace("right", "left").replace('\u{0}', "right");
                assert_eq!(swapped.text(), exchanged);
            } else {
                // Both/exactly one/neither, and "left of" inside one image: unchanged.
                assert_eq!(swapped.text(), text, "a symmetric statement swaps to itself");
            }
        }
    }
}

#[test]
fn every_statement_is_true_or_false_of_its_two_scenes() {
    check_truth(0, 300);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn statements_are_exact_on_any_seed(seed in any::<u64>()) {
        check_truth(seed, 20);
    }
}

#[test]
fn forms_are_balanced_and_texts_do_not_give_the_answer() {
    let train = generate(&nlvr(1), 1, Split::Train, 3000);
    let test = generate(&nlvr(1), 1, Split::Test, 1000);
    let mut per_form: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_text: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for s in train.iter().flat_map(|e| &e.statements) {
        *per_kind.entry(s.statement.kind()).or_default() += 1;
        let f = per_form.entry(s.statement.form()).or_default();
        let t = per_text.entry(s.statement.text()).or_default();
        if s.truth {
            f.0 += 1;
            t.0 += 1;
        } else {
            f.1 += 1;
            t.1 += 1;
        }
    }
    assert!(KINDS.iter().all(|k| per_kind.get(k).copied().unwrap_or(0) > 800), "{per_kind:?}");
    for (form, (t, f)) in &per_form {
        assert!(t.abs_diff(*f) <= 1, "{form}: {t} true, {f} false");
    }
    let frequent: Vec<_> = per_text.values().filter(|(t, f)| t + f >= 8).collect();
    let both = frequent.iter().filter(|(t, f)| *t > 0 && *f > 0).count();
    assert!(frequent.len() > 50 && both * 10 >= frequent.len() * 9, "{both} of {} frequent statements seen both true and false", frequent.len());
    // The best text-only lookup (each text's majority truth in training) stays near chance.
    let (mut right, mut total) = (0, 0);
    for s in test.iter().flat_map(|e| &e.statements) {
        let guess = per_text.get(&s.statement.text()).is_some_and(|(t, f)| t >= f);
        right += (guess == s.truth) as usize;
        total += 1;
    }
    let lookup = right as f64 / total as f64;
    assert!(lookup < 0.58, "the text-lookup baseline reaches {lookup:.3}");
}

#[test]
fn pairs_can_carry_entailment_hypotheses_on_their_left_scene() {
    let cfg = ShapeWorldConfig { statements: 1, hypotheses: 2, ..Default::default() };
    for e in generate(&cfg, 9, Split::Train, 50) {
        assert!(e.partner.is_some() && e.statements.len() == 1 && !e.hypotheses.is_empty());
        for h in &e.hypotheses {
            assert_eq!(h.hypothesis.holds(&e.scene.things, e.scene.scale()), h.label == gshn_train::data::shapeworld_ve::Label::Entailment);
        }
    }
}

#[test]
fn pairs_become_examples_with_a_partner_and_plain_shapeworld_is_unchanged() {
    let ex = generate(&nlvr(2), 4, Split::Val, 10);
    let items: Vec<_> = ex.iter().map(|e| e.to_example()).collect();
    for (e, item) in ex.iter().zip(&items) {
        let p = item.partner.as_ref().expect("a partner image");
        assert_eq!(p.image, e.partner.as_ref().unwrap().render());
        assert!(p.captions.is_empty() && p.statements.is_empty());
        assert_eq!(item.statements.len(), e.statements.len());
        assert!(item.statements.iter().all(|s| s.answer <= 1 && KINDS.contains(&s.kind.as_str())));
        assert_eq!(item.captions.len(), 5, "the left scene keeps its captions");
    }
    let plain = generate(&ShapeWorldConfig::default(), 4, Split::Val, 10);
    assert!(plain.iter().all(|e| e.partner.is_none() && e.statements.is_empty()));
    assert_eq!(generate(&ShapeWorldConfig::default(), 4, Split::Val, 10), plain, "deterministic");
    assert_eq!(generate(&nlvr(2), 4, Split::Val, 10), ex, "deterministic");
}
