//! What documents are made of on the command line: references written
//! `ORIGIN/UUID`, attachments read from files, and documents prepared in TOML
//! files for `--from-file`.
//!
//! The CLI checks only what it must to build a request (a reference's shape,
//! a file it cannot read, an attachment over the size limit); every rule about
//! the documents themselves is the node's, so its named errors reach the user
//! unchanged.
//!
//! **Each document option is declared once.** A document (`ConsultationDoc`,
//! `ResponseDoc`, `LiaisonDoc`) is one struct, declared in [`document!`],
//! that derives both clap `Args` (its flags) and serde `Deserialize` (its
//! TOML file, `#[serde(default)]`); the macro adds its [`Layer`]: the flags
//! laid over the file field by field, a flag given winning. The command's
//! own flags (`--from-file`, `--data`, `--json`) sit beside it, not in it.
//! Where flag and file truly differ, the struct says so, field by field:
//!
//! - **File only** (`#[arg(skip)]`): an inline consultation body, a contact
//!   and eligibility, which are tables no flag spells well; titles and
//!   summaries as maps by any language tag (`[titles]`).
//! - **Flags only** (`#[serde(skip)]`): `--title-fr` … and `--summary-fr` …,
//!   one flag per UN language; they replace the file's map language by
//!   language ([`texts`]).
//! - **References and recipients** are one field of text: clap checks a
//!   flag's as it parses ([`ref_arg`]), so a bad one is a usage error, and the
//!   file's is read after the merge, its error naming the field ("reply_to in
//!   the file: …", [`written_ref`]).
//! - **A body** is one choice made of two fields (inline or from a file), so
//!   it is chosen as a whole before the merge ([`body_text`]): a body flag
//!   replaces the file's, and the file may not give both.
//! - **Paths in the file** are relative to the file; each document joins its
//!   own path fields to the file's folder before the merge (`paths_from`).

use comity_core::OrgId;
use comity_proto::v1 as proto;
use serde::{Deserialize, de::DeserializeOwned};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

/// The largest file the CLI will attach: 64 MiB.
pub const MAX_ATTACHMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Parses `ORIGIN/UUID`, e.g. `itu/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b`.
pub fn parse_ref(text: &str) -> Result<proto::DocumentRef, String> {
    let hint = "write ORIGIN/UUID, e.g. itu/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b";
    let Some((origin, uuid)) = text.trim().split_once('/') else {
        return Err(format!("{text:?} is not a document reference: {hint}"));
    };
    let origin = OrgId::new(origin).map_err(|e| format!("{text:?}: {e}"))?;
    let uuid = parse_uuid(uuid).map_err(|e| format!("{text:?}: {e}; {hint}"))?;
    Ok(proto::DocumentRef {
        origin: origin.to_string(),
        uuid,
    })
}

/// A document's uuid, written as the node prints it.
pub fn parse_uuid(text: &str) -> Result<String, String> {
    uuid::Uuid::try_parse(text.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| format!("{text:?} is not a UUID"))
}

/// `ORIGIN/UUID` as people read it.
pub fn display_ref(r: &proto::DocumentRef) -> String {
    format!("{}/{}", r.origin, r.uuid)
}

/// The media type to send with a file, from its extension.
pub fn media_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Reads a file to attach, refusing one over [`MAX_ATTACHMENT_BYTES`].
pub fn read_attachment(path: &Path) -> Result<proto::AttachmentUpload, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot attach {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("cannot attach {shown}: not a file"));
    }
    let too_big = |size: u64| {
        format!(
            "cannot attach {shown}: it is {:.1} MiB, and attachments are limited to 64 MiB",
            size as f64 / (1024.0 * 1024.0)
        )
    };
    if meta.len() > MAX_ATTACHMENT_BYTES {
        return Err(too_big(meta.len()));
    }
    let content = std::fs::read(path).map_err(|e| format!("cannot attach {shown}: {e}"))?;
    if content.len() as u64 > MAX_ATTACHMENT_BYTES {
        return Err(too_big(content.len() as u64));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(proto::AttachmentUpload {
        name,
        media_type: media_type(path).to_string(),
        content,
    })
}

pub fn read_attachments(paths: &[PathBuf]) -> Result<Vec<proto::AttachmentUpload>, String> {
    paths.iter().map(|p| read_attachment(p)).collect()
}

/// A text file, whole (a body, a response, a report).
pub fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A document prepared in a TOML file, and the folder its relative paths
/// (body files, attachments) are read from.
pub struct Loaded<T> {
    pub doc: T,
    pub base: PathBuf,
}

/// Reads `--from-file FILE`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>, String> {
    let text = read_text(path)?;
    let doc = parse_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Loaded { doc, base })
}

/// Loads the file named by a `--from-file` flag, if any.
pub fn load_opt<T: DeserializeOwned>(path: Option<&Path>) -> Result<Option<Loaded<T>>, String> {
    path.map(load).transpose()
}

/// TOML into a document struct, with the error on one line: "line N: what".
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| {
        let message = e.message().trim().replace('\n', " ");
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: {message}")
            }
            None => message,
        }
    })
}

/// How a value given on the command line lies over the file's, for the
/// fields of a [`document!`]: a flag given replaces the file's value, a
/// repeated flag replaces the file's whole list, a switch turns on what the
/// file may also turn on. A field only one side can give (`#[arg(skip)]` or
/// `#[serde(skip)]`) is empty on the other side, so the given side's value
/// is kept.
pub trait Layer {
    /// `self` from the flags over `file`.
    fn over(self, file: Self) -> Self;
}

impl<T> Layer for Option<T> {
    fn over(self, file: Self) -> Self {
        self.or(file)
    }
}

impl<T> Layer for Vec<T> {
    fn over(self, file: Self) -> Self {
        if self.is_empty() { file } else { self }
    }
}

impl<K, V> Layer for BTreeMap<K, V> {
    fn over(self, file: Self) -> Self {
        if self.is_empty() { file } else { self }
    }
}

impl Layer for bool {
    fn over(self, file: Self) -> Self {
        self || file
    }
}

/// Declares a document's options once: the struct is both the clap `Args`
/// and the TOML file's serde struct (the caller derives both), and the macro
/// adds its [`Layer`], flags over the file field by field.
macro_rules! document {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
        }

        impl $crate::docfile::Layer for $name {
            fn over(self, file: Self) -> Self {
                Self {
                    $($field: $crate::docfile::Layer::over(self.$field, file.$field),)*
                }
            }
        }
    };
}
pub(crate) use document;

/// A reference flag's value, checked as clap parses it and kept as written,
/// so that flag and file share one field; [`written_ref`] reads it.
pub fn ref_arg(text: &str) -> Result<String, String> {
    parse_ref(text).map(|_| text.to_string())
}

/// A reference as written in the flags or the file. A flag's was checked by
/// [`ref_arg`] already, so an error here is the file's, named by its field.
pub fn written_ref(
    field: &str,
    text: Option<&String>,
) -> Result<Option<proto::DocumentRef>, String> {
    text.map(|t| parse_ref(t).map_err(|e| format!("{field} in the file: {e}")))
        .transpose()
}

/// Texts keyed by language tag, in the order written on the command line
/// (file entries first, flags replacing them language by language).
pub fn texts(
    file: &BTreeMap<String, String>,
    flags: &[(&str, Option<String>)],
) -> Vec<proto::Text> {
    let mut out: Vec<proto::Text> = file
        .iter()
        .map(|(lang, value)| proto::Text {
            lang: lang.clone(),
            value: value.clone(),
        })
        .collect();
    for (lang, value) in flags {
        let Some(value) = value else { continue };
        match out.iter_mut().find(|t| t.lang == *lang) {
            Some(t) => t.value.clone_from(value),
            None => out.push(proto::Text {
                lang: (*lang).to_string(),
                value: value.clone(),
            }),
        }
    }
    out
}

/// A body given inline or as a file, on the command line or in the TOML file.
/// The command line wins; in the file, `body` and `body_file` exclude each other.
pub fn body_text(
    flag_text: Option<String>,
    flag_file: Option<&Path>,
    file_text: Option<&String>,
    file_file: Option<PathBuf>,
    field: &str,
) -> Result<String, String> {
    if let Some(text) = flag_text {
        return Ok(text);
    }
    if let Some(path) = flag_file {
        return read_text(path);
    }
    match (file_text, file_file) {
        (Some(_), Some(_)) => Err(format!(
            "the file gives both {field} and {field}_file: keep one"
        )),
        (Some(text), None) => Ok(text.clone()),
        (None, Some(path)) => read_text(&path),
        (None, None) => Ok(String::new()),
    }
}

/// A contact: `--contact ROLE:NAME:EMAIL` on the command line (see
/// [`parse_contact`]), `{ role = "from", name = "…", email = "…" }` in a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// In a liaison statement: "from", "response-to", "technical" or "cc".
    #[serde(default)]
    pub role: String,
    pub name: String,
    #[serde(default)]
    pub email: String,
}

impl From<Contact> for proto::Contact {
    fn from(c: Contact) -> Self {
        proto::Contact {
            name: c.name,
            email: c.email,
            role: c.role,
        }
    }
}

/// `--contact ROLE:NAME:EMAIL`, e.g. `from:CCAMP chairs:ccamp-chairs@ietf.org`.
/// The name may itself hold ':'; the role is before the first, the email
/// after the last.
pub fn parse_contact(text: &str) -> Result<Contact, String> {
    let shape =
        || format!("{text:?} is not ROLE:NAME:EMAIL, e.g. from:CCAMP chairs:ccamp-chairs@ietf.org");
    let (role, rest) = text.split_once(':').ok_or_else(shape)?;
    let (name, email) = rest.rsplit_once(':').ok_or_else(shape)?;
    if role.trim().is_empty() || name.trim().is_empty() {
        return Err(shape());
    }
    Ok(Contact {
        name: name.trim().to_string(),
        email: email.trim().to_string(),
        role: role.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let r = parse_ref("itu/0196A3C2-5E1F-7D3A-9B2C-4F6E8A1D2C3B").unwrap();
        assert_eq!(r.origin, "itu");
        assert_eq!(r.uuid, "0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b");
        let r = parse_ref("ripe-ncc/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b").unwrap();
        assert_eq!(
            display_ref(&r),
            "ripe-ncc/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b"
        );
    }

    #[test]
    fn malformed_references_say_why_in_one_line() {
        for (text, needle) in [
            ("itu", "is not a document reference"),
            ("", "is not a document reference"),
            (
                "ITU/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b",
                "invalid organisation id",
            ),
            (
                "/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b",
                "invalid organisation id",
            ),
            ("itu/", "is not a UUID"),
            ("itu/not-a-uuid", "is not a UUID"),
            ("itu/itu-t/sg15", "is not a UUID"),
        ] {
            let e = parse_ref(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn media_types_by_extension() {
        assert_eq!(
            media_type(Path::new("T17-SG16-LS-0123.PDF")),
            "application/pdf"
        );
        assert_eq!(media_type(Path::new("a/b.md")), "text/markdown");
        assert_eq!(media_type(Path::new("x.jpeg")), "image/jpeg");
        assert_eq!(
            media_type(Path::new("Makefile")),
            "application/octet-stream"
        );
    }

    #[test]
    fn attachments_are_read_and_limited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("annex.txt");
        std::fs::write(&path, b"annex").unwrap();
        let a = read_attachment(&path).unwrap();
        assert_eq!(
            (a.name.as_str(), a.media_type.as_str()),
            ("annex.txt", "text/plain")
        );
        assert_eq!(a.content, b"annex");

        let big = dir.path().join("big.zip");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_ATTACHMENT_BYTES + 1).unwrap();
        let e = read_attachment(&big).unwrap_err();
        assert!(e.contains("limited to 64 MiB"), "{e}");
        assert!(read_attachment(&dir.path().join("missing.pdf")).is_err());
    }

    #[test]
    fn contacts_parse() {
        let c = parse_contact("from:CCAMP chairs:ccamp-chairs@ietf.org").unwrap();
        assert_eq!(
            (c.role.as_str(), c.name.as_str(), c.email.as_str()),
            ("from", "CCAMP chairs", "ccamp-chairs@ietf.org")
        );
        let c = parse_contact("technical:Q14/15: Rapporteur:q14@example.org").unwrap();
        assert_eq!(c.name, "Q14/15: Rapporteur");
        assert!(parse_contact("from-only").is_err());
        assert!(parse_contact(":name:e@x").is_err());
    }

    #[test]
    fn texts_merge_file_then_flags() {
        let file = BTreeMap::from([
            ("fr".to_string(), "Titre".to_string()),
            ("es".to_string(), "Título".to_string()),
        ]);
        let t = texts(
            &file,
            &[
                ("fr", Some("Nouveau titre".into())),
                ("ar", None),
                ("ru", Some("Заголовок".into())),
            ],
        );
        let pairs: Vec<_> = t
            .iter()
            .map(|t| (t.lang.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("es", "Título"),
                ("fr", "Nouveau titre"),
                ("ru", "Заголовок")
            ]
        );
    }

    document! {
        /// A document of two shared fields and one only the file has.
        #[derive(clap::Args, Clone, Debug, Default, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Note {
            #[arg(long)]
            pub title: Option<String>,
            #[arg(long = "tag")]
            pub tags: Vec<String>,
            #[arg(skip)]
            pub signature: Option<String>,
        }
    }

    #[derive(clap::Parser)]
    struct NoteCommand {
        #[command(flatten)]
        note: Note,
    }

    const NOTE_FILE: &str =
        "title = \"From the file\"\ntags = [\"a\", \"b\"]\nsignature = \"S.\"\n";

    #[test]
    fn a_flag_given_replaces_the_files_value() {
        use clap::Parser;
        let file: Note = parse_toml(NOTE_FILE).unwrap();
        let flags = NoteCommand::try_parse_from(["t", "--title", "From the flag", "--tag", "c"])
            .unwrap()
            .note;
        let note = flags.over(file.clone());
        assert_eq!(note.title.as_deref(), Some("From the flag"));
        assert_eq!(note.tags, ["c"]);
        // No flag given: the file's values stand.
        let none = NoteCommand::try_parse_from(["t"]).unwrap().note;
        let note = none.over(file);
        assert_eq!(note.title.as_deref(), Some("From the file"));
        assert_eq!(note.tags, ["a", "b"]);
    }

    #[test]
    fn a_file_only_field_is_read_from_the_file_and_is_no_flag() {
        use clap::Parser;
        let file: Note = parse_toml(NOTE_FILE).unwrap();
        let flags = NoteCommand::try_parse_from(["t", "--title", "T"])
            .unwrap()
            .note;
        assert_eq!(flags.over(file).signature.as_deref(), Some("S."));
        assert!(NoteCommand::try_parse_from(["t", "--signature", "X"]).is_err());
    }

    #[test]
    fn toml_errors_name_the_line() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            title: String,
        }
        let e = parse_toml::<Doc>("title = \"x\"\ntilte = \"y\"\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(!e.contains('\n'));
    }
}
