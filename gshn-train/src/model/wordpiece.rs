//! BERT's uncased WordPiece tokenizer, as HuggingFace's `tokenizers` runs it for
//! sentence-transformers' all-MiniLM-L6-v2 (`BertNormalizer`, `BertPreTokenizer`, `WordPiece`,
//! the `[CLS] … [SEP]` template), written out so that no tokenizer crate is needed.
//!
//! 1. The special tokens (`[PAD] [UNK] [CLS] [SEP] [MASK]`) written literally in the text are
//!    kept whole (they are "added tokens" matched before normalisation).
//! 2. Normalisation: drop NUL, U+FFFD and control characters (categories Cc, Cf, Co except
//!    tab, newline, carriage return), map white space to a space, put spaces around CJK
//!    ideographs, strip accents (NFD, then drop the non-spacing marks Mn), lower-case.
//! 3. Pre-tokenisation: split on white space, then make every punctuation character (ASCII
//!    punctuation or a Unicode P* category) a word of its own.
//! 4. WordPiece: per word, the longest vocabulary prefix, then the longest `##`-prefixed
//!    continuation, and so on; a word with a piece that matches nothing, or longer than 100
//!    characters, becomes one `[UNK]`.
//! 5. `[CLS] pieces [SEP]`, cut to `max_len` ids in all (sentence-transformers cuts at 256 and
//!    pads to the longest text of a batch — not tokenizer.json's fixed 128).
//!
//! The Unicode tables are those of the `unicode_categories` crate, the ones HuggingFace's
//! tokenizers use, so that rare characters are split the same way.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

use super::weights::WeightsError;

/// Words longer than this many characters become `[UNK]`.
pub const MAX_WORD_CHARS: usize = 100;

/// An uncased BERT WordPiece tokenizer over a `vocab.txt` vocabulary (line number = id).
#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    pieces: Vec<String>,
    /// `[PAD]`'s id.
    pub pad: u32,
    /// `[UNK]`'s id.
    pub unk: u32,
    /// `[CLS]`'s id.
    pub cls: u32,
    /// `[SEP]`'s id.
    pub sep: u32,
    specials: Vec<(String, u32)>,
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// BERT's normalisation of a text without special tokens: clean, CJK spacing, accents
/// stripped, lower case.
pub fn normalize(text: &str) -> String {
    let mut spaced = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{FFFD}' || is_control(c) {
            continue;
        }
        let c = if is_whitespace(c) { ' ' } else { c };
        if is_cjk(c) {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    spaced.nfd().filter(|c| !c.is_mark_nonspacing()).flat_map(char::to_lowercase).collect()
}

/// BERT's pre-tokenisation of a normalised text: white-space split, each punctuation
/// character a word of its own.
pub fn pre_tokenize(normalized: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for chunk in normalized.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        let mut start = 0;
        for (i, c) in chunk.char_indices() {
            if is_punctuation(c) {
                if start < i {
                    words.push(&chunk[start..i]);
                }
                words.push(&chunk[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < chunk.len() {
            words.push(&chunk[start..]);
        }
    }
    words
}

impl WordPiece {
    /// A tokenizer over the lines of a `vocab.txt` (line `i` is the piece with id `i`).
    pub fn from_vocab_text(text: &str) -> Result<Self, String> {
        let pieces: Vec<String> = text.lines().map(|l| l.trim_end_matches('\r').to_string()).collect();
        let vocab: HashMap<String, u32> = pieces.iter().enumerate().map(|(i, p)| (p.clone(), i as u32)).collect();
        let id = |t: &str| vocab.get(t).copied().ok_or_else(|| format!("the vocabulary has no {t} token"));
        let (pad, unk, cls, sep, mask) = (id("[PAD]")?, id("[UNK]")?, id("[CLS]")?, id("[SEP]")?, id("[MASK]")?);
        let specials = vec![("[PAD]".into(), pad), ("[UNK]".into(), unk), ("[CLS]".into(), cls), ("[SEP]".into(), sep), ("[MASK]".into(), mask)];
        Ok(Self { vocab, pieces, pad, unk, cls, sep, specials })
    }

    /// The tokenizer of a `vocab.txt` file.
    pub fn from_vocab_file(path: &Path) -> Result<Self, WeightsError> {
        let text = std::fs::read_to_string(path).map_err(|e| WeightsError::read(path, e))?;
        Self::from_vocab_text(&text).map_err(|reason| WeightsError::Load { path: path.to_path_buf(), reason })
    }

    /// Pieces in the vocabulary.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether the vocabulary is empty (never: it holds the special tokens).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The piece with id `id`.
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(String::as_str)
    }

    /// The ids of one word's pieces: greedy longest match, `##` on continuations; a word with
    /// an unmatched remainder or more than [`MAX_WORD_CHARS`] characters is one `[UNK]`.
    fn word_ids(&self, word: &str, out: &mut Vec<u32>) {
        if word.chars().count() > MAX_WORD_CHARS {
            out.push(self.unk);
            return;
        }
        let mark = out.len();
        let mut start = 0;
        let mut piece = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                piece.clear();
                if start > 0 {
                    piece.push_str("##");
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&piece) {
                    found = Some(id);
                    break;
                }
                end -= word[start..end].chars().next_back().map_or(1, char::len_utf8);
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(mark);
                    out.push(self.unk);
                    return;
                }
            }
        }
    }

    /// The piece ids of `text`, without `[CLS]`/`[SEP]` and uncut.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The leftmost special token written literally (the longest at one position).
            let next = self.specials.iter().filter_map(|(s, id)| rest.find(s.as_str()).map(|at| (at, std::cmp::Reverse(s.len()), *id))).min();
            let (plain, special) = match next {
                Some((at, std::cmp::Reverse(len), id)) => (&rest[..at], Some((id, at + len))),
                None => (rest, None),
            };
            let normalized = normalize(plain);
            for w in pre_tokenize(&normalized) {
                self.word_ids(w, &mut ids);
            }
            match special {
                Some((id, end)) => {
                    ids.push(id);
                    rest = &rest[end..];
                }
                None => break,
            }
        }
        ids
    }

    /// The pieces of `text` as strings (for reading and debugging).
    pub fn tokens(&self, text: &str) -> Vec<&str> {
        self.tokenize(text).into_iter().filter_map(|id| self.piece(id)).collect()
    }

    /// `[CLS] pieces [SEP]`, the pieces cut so that the whole is at most `max_len` ids
    /// (`max_len` ≥ 2).
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = self.tokenize(text);
        ids.truncate(max_len.max(2) - 2);
        ids.insert(0, self.cls);
        ids.push(self.sep);
        ids
    }

    /// A padded batch: ids `[B, L]` and a padding mask `[B, L]` (true on padding), `L` the
    /// longest encoding (at most `max_len`); with `bucket`, `L` is rounded up to the next
    /// power of two (at most `max_len`) so that batches of similar texts share one shape.
    pub fn batch(&self, texts: &[&str], max_len: usize, bucket: bool, device: &Device) -> (Tensor<2, Int>, Tensor<2, Bool>) {
        let (enc, l) = self.encode_all(texts, max_len, bucket);
        self.tensors(&enc, l, device)
    }

    /// The encodings of `texts` ([`encode`](Self::encode)) and the padded length of their
    /// batch ([`batch`](Self::batch)).
    pub fn encode_all(&self, texts: &[&str], max_len: usize, bucket: bool) -> (Vec<Vec<u32>>, usize) {
        let enc: Vec<Vec<u32>> = texts.iter().map(|t| self.encode(t, max_len)).collect();
        let longest = enc.iter().map(Vec::len).max().unwrap_or(2);
        let l = if bucket { longest.next_power_of_two().min(max_len).max(longest) } else { longest };
        (enc, l)
    }

    /// Ids `[B, l]` padded with `[PAD]` and the padding mask `[B, l]` (true on padding) of
    /// encodings.
    pub fn tensors(&self, enc: &[Vec<u32>], l: usize, device: &Device) -> (Tensor<2, Int>, Tensor<2, Bool>) {
        let n = enc.len();
        let mut ids = vec![self.pad as i64; n * l];
        let mut pad = vec![true; n * l];
        for (b, e) in enc.iter().enumerate() {
            for (i, &id) in e.iter().enumerate() {
                ids[b * l + i] = id as i64;
                pad[b * l + i] = false;
            }
        }
        (Tensor::from_data(TensorData::new(ids, [n, l]), device), Tensor::from_data(TensorData::new(pad, [n, l]), device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n,\nworld\n!\nnaive\ncafe\ntoken\n##ization\n東\n京\nun\n##aff\n##able\na\n$";
        WordPiece::from_vocab_text(vocab).unwrap()
    }

    #[test]
    fn normalises_splits_and_matches_pieces() {
        let t = tiny();
        assert_eq!(
            t.tokens("Héllo, WORLD!! naïve café 東京 tokenization"),
            ["hello", ",", "world", "!", "!", "naive", "cafe", "東", "京", "token", "##ization"]
        );
        assert_eq!(t.tokens("unaffable"), ["un", "##aff", "##able"]);
        // An unmatched remainder makes the whole word unknown.
        assert_eq!(t.tokens("unaffablex hello"), ["[UNK]", "hello"]);
        assert_eq!(t.tokens(&"a".repeat(101)), ["[UNK]"]);
        // Control characters vanish, other white space splits, `$` is punctuation.
        assert_eq!(t.tokens("hel\u{200D}lo\u{3000}a$a"), ["hello", "a", "$", "a"]);
        // Special tokens written literally are kept whole.
        assert_eq!(t.tokens("hello[SEP]world [MASK]"), ["hello", "[SEP]", "world", "[MASK]"]);
        assert_eq!(t.encode("hello world", 3), vec![t.cls, 5, t.sep]);
    }
}
