//! The interface in the six official languages of the United Nations, from
//! the Fluent catalogues in `locales/<lang>/main.ftl` (compiled in, so a
//! missing catalogue is a build error, and a test checks that every catalogue
//! has every message). The reader's language comes from their choice (a
//! `?lang=` link, kept in a `lang` cookie), then `Accept-Language`, then
//! English.

use comity_core::proto;
use fluent_templates::{LanguageIdentifier, Loader, fluent_bundle::FluentValue, langid};
use std::{borrow::Cow, collections::HashMap};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // Pages set `dir` themselves; isolation marks would only clutter
        // attribute values and tests.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ar,
    En,
    Es,
    Fr,
    Ru,
    Zh,
}

impl Lang {
    /// In the order the language menu shows them (alphabetical in English, as
    /// the UN lists them).
    pub const ALL: [Lang; 6] = [Lang::Ar, Lang::Zh, Lang::En, Lang::Fr, Lang::Ru, Lang::Es];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ar => "ar",
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::Ru => "ru",
            Lang::Zh => "zh",
        }
    }

    /// The language's name in itself, for the menu.
    pub fn endonym(self) -> &'static str {
        match self {
            Lang::Ar => "العربية",
            Lang::En => "English",
            Lang::Es => "Español",
            Lang::Fr => "Français",
            Lang::Ru => "Русский",
            Lang::Zh => "中文",
        }
    }

    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            _ => "ltr",
        }
    }

    fn langid(self) -> LanguageIdentifier {
        match self {
            Lang::Ar => langid!("ar"),
            Lang::En => langid!("en"),
            Lang::Es => langid!("es"),
            Lang::Fr => langid!("fr"),
            Lang::Ru => langid!("ru"),
            Lang::Zh => langid!("zh"),
        }
    }

    /// A language tag as a person or browser writes it: "fr", "fr-CA",
    /// "zh-Hans", "AR".
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The best of an `Accept-Language` header, by quality.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag)
                && q > 0.0
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    /// The message `key`, in this language.
    pub fn t(self, key: &str) -> String {
        LOCALES.lookup(&self.langid(), key)
    }

    /// The message `key` with arguments.
    pub fn ta(self, key: &str, args: &[(&'static str, String)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone())))
            .collect();
        LOCALES.lookup_with_args(&self.langid(), key, &args)
    }

    /// The message `key` for the number `n` (`$n`), in this language's
    /// plural form for it ("1 minute", "3 минуты", "يومين").
    pub fn tn(self, key: &str, n: i64) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> =
            HashMap::from([(Cow::Borrowed("n"), FluentValue::from(n))]);
        LOCALES.lookup_with_args(&self.langid(), key, &args)
    }

    /// The name of a language tag, in this language when it is one of the
    /// six, else the tag itself.
    pub fn language_name(self, tag: &str) -> String {
        match Lang::parse(tag) {
            Some(l) => self.t(&format!("language-{}", l.code())),
            None => tag.to_string(),
        }
    }
}

/// A text of a document, chosen for the reader.
pub struct Picked<'a> {
    pub value: &'a str,
    /// The text's language tag.
    pub lang: &'a str,
    /// Set when the reader's language was not available, so the text is
    /// shown in its own language.
    pub fallback: bool,
}

/// The text in the reader's language when the document has one, otherwise
/// in its own (first) language.
pub fn pick(texts: &[proto::Text], reader: Lang) -> Option<Picked<'_>> {
    let matches = |t: &proto::Text| Lang::parse(&t.lang) == Some(reader);
    let found = texts.iter().find(|t| matches(t) && !t.value.is_empty());
    match found {
        Some(t) => Some(Picked {
            value: &t.value,
            lang: &t.lang,
            fallback: false,
        }),
        None => texts.iter().find(|t| !t.value.is_empty()).map(|t| Picked {
            value: &t.value,
            lang: &t.lang,
            fallback: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter(|l| {
                l.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c == '-')
            })
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
            .collect()
    }

    #[test]
    fn every_catalogue_has_every_message() {
        let catalogues = [
            ("ar", include_str!("../locales/ar/main.ftl")),
            ("en", include_str!("../locales/en/main.ftl")),
            ("es", include_str!("../locales/es/main.ftl")),
            ("fr", include_str!("../locales/fr/main.ftl")),
            ("ru", include_str!("../locales/ru/main.ftl")),
            ("zh", include_str!("../locales/zh/main.ftl")),
        ];
        let english = keys(catalogues[1].1);
        assert!(english.len() > 50);
        for (lang, text) in catalogues {
            let these = keys(text);
            let missing: Vec<_> = english.difference(&these).collect();
            let extra: Vec<_> = these.difference(&english).collect();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
            assert!(extra.is_empty(), "{lang} has unknown {extra:?}");
        }
    }

    #[test]
    fn messages_are_translated() {
        assert_eq!(Lang::En.t("nav-consultations"), "Consultations");
        assert_ne!(
            Lang::Fr.t("nav-consultations"),
            Lang::Ar.t("nav-consultations")
        );
        assert!(
            Lang::Ru
                .ta("doc-fallback", &[("language", "English".into())])
                .contains("English")
        );
    }

    #[test]
    fn languages_are_negotiated() {
        assert_eq!(Lang::parse("zh-Hans"), Some(Lang::Zh));
        assert_eq!(Lang::parse("de"), None);
        assert_eq!(
            Lang::from_accept_language("de-DE,fr;q=0.8,es;q=0.9"),
            Some(Lang::Es)
        );
        assert_eq!(Lang::from_accept_language("de, ja"), None);
    }

    #[test]
    fn documents_fall_back_to_their_own_language() {
        let texts = vec![
            proto::Text {
                lang: "fr".into(),
                value: "Consultation".into(),
            },
            proto::Text {
                lang: "en".into(),
                value: "Consultation (en)".into(),
            },
        ];
        let p = pick(&texts, Lang::En).unwrap();
        assert_eq!((p.value, p.fallback), ("Consultation (en)", false));
        let p = pick(&texts, Lang::Ru).unwrap();
        assert_eq!((p.lang, p.fallback), ("fr", true));
    }
}
