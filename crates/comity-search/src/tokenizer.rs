//! Analysers: one tokenizer for every script, then per-language filters.
//!
//! [`MultiScriptTokenizer`] splits text into words (letters, digits and
//! combining marks, so Arabic with its vowel marks stays one word) and turns
//! each run of Chinese, Japanese kana or other CJK ideographs into
//! overlapping **bigrams** (`网络安全` → `网络`, `络安`, `安全`), with a lone
//! ideograph kept as a unigram. Bigrams need no dictionary (no memory, no
//! load time, no segmentation errors): any two-character word is found
//! wherever it occurs, and a longer word is a phrase of consecutive bigrams,
//! which the query parser builds by itself. This is Lucene's CJK bigram
//! approach. The same base tokenizer is used for every language, so a
//! Chinese name quoted in an English text is found too.
//!
//! Each language group adds filters: lower-casing always; tantivy's Snowball
//! stemmers (`frostem`) for English, French, Spanish, Russian and Arabic;
//! ASCII folding (before stemming) for French, Spanish and the other Latin
//! languages, so that `publiée` and `publiee`, typed without accents, meet.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, Stemmer, TextAnalyzer, Token,
    TokenStream, Tokenizer, TokenizerManager,
};

/// Words longer than this (in bytes) are dropped: they are hashes, URLs or
/// garbage, and would bloat the term dictionary.
const MAX_TOKEN_BYTES: usize = 64;

/// The language groups that have their own analyser (and their own fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LangGroup {
    /// Arabic: Snowball Arabic stemmer (it also removes vowel marks).
    Ar,
    /// Chinese, Japanese, Korean: CJK bigrams, no stemming.
    Cjk,
    /// English: Snowball English (Porter 2).
    En,
    /// Spanish: ASCII folding, then Snowball Spanish.
    Es,
    /// French: ASCII folding, then Snowball French.
    Fr,
    /// Russian: Snowball Russian.
    Ru,
    /// Every other language: lower-casing and ASCII folding only.
    Other,
}

impl LangGroup {
    /// All groups, in the order their fields are made.
    pub const ALL: [LangGroup; 7] = [
        LangGroup::Ar,
        LangGroup::Cjk,
        LangGroup::En,
        LangGroup::Es,
        LangGroup::Fr,
        LangGroup::Ru,
        LangGroup::Other,
    ];

    /// The group of a BCP 47 tag, by its primary language subtag.
    pub fn of(lang: &str) -> LangGroup {
        let primary = lang.split('-').next().unwrap_or(lang).to_ascii_lowercase();
        match primary.as_str() {
            "ar" => LangGroup::Ar,
            "zh" | "ja" | "ko" | "yue" | "cmn" => LangGroup::Cjk,
            "en" => LangGroup::En,
            "es" => LangGroup::Es,
            "fr" => LangGroup::Fr,
            "ru" => LangGroup::Ru,
            _ => LangGroup::Other,
        }
    }

    /// The short name used in field and tokenizer names.
    pub fn name(self) -> &'static str {
        match self {
            LangGroup::Ar => "ar",
            LangGroup::Cjk => "cjk",
            LangGroup::En => "en",
            LangGroup::Es => "es",
            LangGroup::Fr => "fr",
            LangGroup::Ru => "ru",
            LangGroup::Other => "other",
        }
    }

    /// The tokenizer name registered for this group.
    pub(crate) fn tokenizer_name(self) -> String {
        format!("comity_{}", self.name())
    }

    /// The group's analyser.
    pub fn analyzer(self) -> TextAnalyzer {
        let base = TextAnalyzer::builder(MultiScriptTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(LowerCaser);
        match self {
            LangGroup::Ar => base.filter(Stemmer::new(Language::Arabic)).build(),
            LangGroup::Cjk => base.build(),
            LangGroup::En => base.filter(Stemmer::new(Language::English)).build(),
            LangGroup::Es => base
                .filter(AsciiFoldingFilter)
                .filter(Stemmer::new(Language::Spanish))
                .build(),
            LangGroup::Fr => base
                .filter(AsciiFoldingFilter)
                .filter(Stemmer::new(Language::French))
                .build(),
            LangGroup::Ru => base.filter(Stemmer::new(Language::Russian)).build(),
            LangGroup::Other => base.filter(AsciiFoldingFilter).build(),
        }
    }
}

/// Registers every group's analyser under its name.
pub(crate) fn register(manager: &TokenizerManager) {
    for group in LangGroup::ALL {
        manager.register(&group.tokenizer_name(), group.analyzer());
    }
}

/// Ideographs and kana: written without spaces between words.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3005 | 0x3007            // 々 〇
        | 0x3040..=0x30FF          // Hiragana, Katakana
        | 0x31F0..=0x31FF          // Katakana phonetic extensions
        | 0x3400..=0x4DBF          // CJK Extension A
        | 0x4E00..=0x9FFF          // CJK Unified Ideographs
        | 0xF900..=0xFAFF          // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F          // half-width Katakana
        | 0x20000..=0x3134F        // Extensions B to G, compatibility supplement
    )
}

/// Part of a word: letters and digits (which, in Rust, include the vowel
/// marks of Arabic and Indic scripts), plus combining diacritics of
/// decomposed Latin, Greek and Cyrillic text.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c as u32, 0x0300..=0x036F | 0x0483..=0x0489)
}

/// Words and CJK bigrams; see the module documentation.
#[derive(Clone, Default)]
pub struct MultiScriptTokenizer {
    token: Token,
}

/// The token stream of [`MultiScriptTokenizer`].
pub struct MultiScriptTokenStream<'a> {
    text: &'a str,
    /// Byte offset of the next character to look at.
    cursor: usize,
    /// Whether the previous token was a bigram whose second character is at
    /// `cursor` (so a run's last character is not emitted again alone).
    in_cjk_run: bool,
    token: &'a mut Token,
}

impl Tokenizer for MultiScriptTokenizer {
    type TokenStream<'a> = MultiScriptTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> MultiScriptTokenStream<'a> {
        self.token.reset();
        MultiScriptTokenStream {
            text,
            cursor: 0,
            in_cjk_run: false,
            token: &mut self.token,
        }
    }
}

impl MultiScriptTokenStream<'_> {
    fn emit(&mut self, from: usize, to: usize) {
        self.token.text.clear();
        self.token.text.push_str(&self.text[from..to]);
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = self.token.position.wrapping_add(1);
        self.token.position_length = 1;
    }
}

impl TokenStream for MultiScriptTokenStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            let rest = &self.text[self.cursor..];
            let mut chars = rest.char_indices();
            let Some((_, c)) = chars.next() else {
                return false;
            };
            let start = self.cursor;
            let next_at = start + c.len_utf8();
            if is_cjk(c) {
                let next = chars.next().map(|(_, n)| n).filter(|n| is_cjk(*n));
                match next {
                    Some(n) => {
                        // A bigram: this character and the next. The
                        // stream moves on by one character only.
                        self.cursor = next_at;
                        self.in_cjk_run = true;
                        self.emit(start, next_at + n.len_utf8());
                        return true;
                    }
                    None => {
                        self.cursor = next_at;
                        if std::mem::replace(&mut self.in_cjk_run, false) {
                            // The run's last character: already in the
                            // previous bigram.
                            continue;
                        }
                        self.emit(start, next_at);
                        return true;
                    }
                }
            }
            self.in_cjk_run = false;
            if is_word_char(c) {
                let end = rest
                    .char_indices()
                    .find(|(_, ch)| !is_word_char(*ch) || is_cjk(*ch))
                    .map_or(self.text.len(), |(i, _)| start + i);
                self.cursor = end;
                self.emit(start, end);
                return true;
            }
            self.cursor = next_at;
        }
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(group: LangGroup, text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut analyzer = group.analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push((t.text.clone(), t.offset_from, t.offset_to, t.position));
        }
        out
    }

    fn texts(group: LangGroup, text: &str) -> Vec<String> {
        tokens(group, text).into_iter().map(|t| t.0).collect()
    }

    #[test]
    fn chinese_runs_become_consecutive_bigrams() {
        let t = tokens(LangGroup::Cjk, "网络安全，标准");
        let got: Vec<(&str, usize)> = t.iter().map(|x| (x.0.as_str(), x.3)).collect();
        assert_eq!(
            got,
            vec![("网络", 0), ("络安", 1), ("安全", 2), ("标准", 3)]
        );
        // Offsets are byte offsets on character boundaries.
        assert_eq!((t[0].1, t[0].2), (0, 6));
        assert_eq!((t[2].1, t[2].2), (6, 12));
    }

    #[test]
    fn a_lone_ideograph_and_mixed_scripts() {
        assert_eq!(
            texts(LangGroup::Cjk, "第17研究组 IPv6 和 ITU-T"),
            vec!["第", "17", "研究", "究组", "ipv6", "和", "itu", "t"]
        );
    }

    #[test]
    fn arabic_vowel_marks_stay_inside_the_word() {
        // "الإنترنتُ" with a damma: one word, stemmed like the bare word.
        let marked = texts(LangGroup::Ar, "الإنترنتُ");
        let bare = texts(LangGroup::Ar, "الإنترنت");
        assert_eq!(marked.len(), 1, "{marked:?}");
        assert_eq!(marked, bare);
    }

    #[test]
    fn french_inflections_meet_and_accents_fold() {
        let a = texts(LangGroup::Fr, "Consultations publiques");
        let b = texts(LangGroup::Fr, "consultation publique");
        assert_eq!(a, b);
        assert_eq!(
            texts(LangGroup::Fr, "publiée"),
            texts(LangGroup::Fr, "publiee")
        );
        // Elision: the apostrophe splits.
        assert!(texts(LangGroup::Fr, "l'Internet").contains(&"internet".to_string()));
    }

    #[test]
    fn russian_and_spanish_stem() {
        assert_eq!(
            texts(LangGroup::Ru, "консультации"),
            texts(LangGroup::Ru, "консультация")
        );
        assert_eq!(
            texts(LangGroup::Es, "consultas públicas"),
            texts(LangGroup::Es, "consulta publica")
        );
    }

    #[test]
    fn group_of_tags() {
        assert_eq!(LangGroup::of("zh-Hant"), LangGroup::Cjk);
        assert_eq!(LangGroup::of("FR-ca"), LangGroup::Fr);
        assert_eq!(LangGroup::of("de"), LangGroup::Other);
    }
}
