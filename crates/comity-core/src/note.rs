//! C2SP signed notes (<https://c2sp.org/signed-note>): a text, a blank line,
//! then one line per signature, `— <key name> base64(key ID || signature)`.
//!
//! Comity signs checkpoints as notes, so that any C2SP tool or witness can
//! read them. This module is the format only: parsing with every rule of the
//! specification, writing, key IDs, verifier keys (vkeys), and Ed25519 note
//! signatures (type 0x01). Checkpoints and cosignatures are in
//! [`crate::checkpoint`].

use crate::keys::{IdentityKey, PublicKey};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use sha2::{Digest, Sha256};
use std::fmt;

/// The signature type of plain Ed25519 note signatures.
pub const SIG_TYPE_ED25519: u8 = 0x01;
/// The signature type of timestamped Ed25519 checkpoint cosignatures.
pub const SIG_TYPE_COSIGNATURE: u8 = 0x04;

/// At most this many signature lines are read; the specification asks for at
/// least 16. A checkpoint carries the origin's signature and one cosignature
/// per partner, so this bounds the partners whose cosignatures travel with it.
pub const MAX_SIGNATURES: usize = 256;

/// At most this many bytes of note are read.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note, a signature line or a verifier key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("a note may be at most {MAX_NOTE_BYTES} bytes")]
    TooLarge,
    #[error("a note may not contain control characters other than newline")]
    ControlCharacter,
    #[error("a note must be a text ending in a newline, a blank line, then signature lines")]
    Malformed,
    #[error("a note must carry at least one signature line")]
    NoSignatures,
    #[error("a note may carry at most {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("signature line {0:?} is not `— <key name> <base64>`")]
    BadSignatureLine(String),
    #[error("key name {0:?} must be non-empty, without spaces or `+`")]
    BadKeyName(String),
    #[error("verifier key {0:?} is not `<name>+<8 hex digits>+<base64>`")]
    BadVerifierKey(String),
    #[error("verifier key {name:?} has key ID {found:08x}, but its key gives {expected:08x}")]
    KeyIdMismatch {
        name: String,
        found: u32,
        expected: u32,
    },
    #[error("unsupported signature type 0x{0:02x}")]
    UnsupportedType(u8),
    #[error("no signature by {name} (key ID {key_id:08x}) is on the note")]
    NotSigned { name: String, key_id: u32 },
    #[error("the signature by {name} (key ID {key_id:08x}) does not verify")]
    BadSignature { name: String, key_id: u32 },
}

/// One signature line: who signed (name and key ID) and the signature bytes
/// after the key ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line as written in a note, without its newline.
    pub fn line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}", self.name, BASE64.encode(bytes))
    }

    fn parse(line: &str) -> Result<Self, NoteError> {
        let bad = || NoteError::BadSignatureLine(line.to_string());
        let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(bad)?;
        let (name, encoded) = rest.split_once(' ').ok_or_else(bad)?;
        check_key_name(name)?;
        let bytes = BASE64.decode(encoded).map_err(|_| bad())?;
        let (key_id, signature) = bytes.split_first_chunk::<4>().ok_or_else(bad)?;
        Ok(Self {
            name: name.to_string(),
            key_id: u32::from_be_bytes(*key_id),
            signature: signature.to_vec(),
        })
    }
}

/// A signed note: its text (ending in a newline) and its signatures, in the
/// order they were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Reads a note, applying every rule of the specification: valid UTF-8,
    /// no control characters but newline, a text ending in a newline, the
    /// last blank line before the signatures, well-formed signature lines.
    /// The text of the note `bytes` (what its signatures sign), found as
    /// [`Note::parse`] finds it but without checking or decoding anything:
    /// for comparing notes already kept.
    pub fn text_of(bytes: &[u8]) -> Option<&[u8]> {
        let split = bytes.windows(2).rposition(|w| w == b"\n\n")?;
        Some(&bytes[..=split])
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| NoteError::Malformed)?;
        if text.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::ControlCharacter);
        }
        // The note text ends with the newline before the last blank line.
        let split = text.rfind("\n\n").ok_or(NoteError::Malformed)?;
        let (body, signatures) = (&text[..=split], &text[split + 2..]);
        if !signatures.ends_with('\n') {
            return Err(NoteError::Malformed);
        }
        let lines: Vec<&str> = signatures[..signatures.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let signatures = lines
            .into_iter()
            .map(NoteSignature::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        Ok(Self {
            text: body.to_string(),
            signatures,
        })
    }

    /// The signature of `name` with `key_id`, if the note carries one.
    pub fn signature_by(&self, name: &str, key_id: u32) -> Option<&NoteSignature> {
        self.signatures
            .iter()
            .find(|s| s.name == name && s.key_id == key_id)
    }

    /// Adds a signature line, replacing any earlier one by the same key.
    pub fn add_signature(&mut self, signature: NoteSignature) {
        self.signatures
            .retain(|s| !(s.name == signature.name && s.key_id == signature.key_id));
        self.signatures.push(signature);
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.text)?;
        for signature in &self.signatures {
            writeln!(f, "{}", signature.line())?;
        }
        Ok(())
    }
}

/// Checks a key name: non-empty, with no Unicode space and no `+`.
pub fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::BadKeyName(name.to_string()));
    }
    Ok(())
}

/// The key ID of a key: SHA-256(name || 0x0A || type || public key)[:4].
pub fn key_id(name: &str, sig_type: u8, key: &PublicKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', sig_type]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A verifier key: a name, a signature type and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub sig_type: u8,
    pub key: PublicKey,
}

impl VerifierKey {
    pub fn new(name: &str, sig_type: u8, key: PublicKey) -> Result<Self, NoteError> {
        check_key_name(name)?;
        match sig_type {
            SIG_TYPE_ED25519 | SIG_TYPE_COSIGNATURE => Ok(Self {
                name: name.to_string(),
                sig_type,
                key,
            }),
            other => Err(NoteError::UnsupportedType(other)),
        }
    }

    pub fn key_id(&self) -> u32 {
        key_id(&self.name, self.sig_type, &self.key)
    }

    /// Reads `<name>+<hex key ID>+<base64(type || key)>`, checking that the
    /// key ID is the one the key gives.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = || NoteError::BadVerifierKey(text.to_string());
        let mut parts = text.split('+');
        let (Some(name), Some(id), Some(encoded), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if id.len() != 8 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        let found = u32::from_str_radix(id, 16).map_err(|_| bad())?;
        let bytes = BASE64.decode(encoded).map_err(|_| bad())?;
        let (&sig_type, key) = bytes.split_first().ok_or_else(bad)?;
        let key = PublicKey::from_bytes(key).map_err(|_| bad())?;
        let vkey = Self::new(name, sig_type, key)?;
        let expected = vkey.key_id();
        if found != expected {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_string(),
                found,
                expected,
            });
        }
        Ok(vkey)
    }

    /// Checks this key's plain Ed25519 signature (type 0x01) on a note.
    pub fn verify(&self, note: &Note) -> Result<(), NoteError> {
        if self.sig_type != SIG_TYPE_ED25519 {
            return Err(NoteError::UnsupportedType(self.sig_type));
        }
        let key_id = self.key_id();
        let not_signed = || NoteError::NotSigned {
            name: self.name.clone(),
            key_id,
        };
        let signature = note
            .signature_by(&self.name, key_id)
            .ok_or_else(not_signed)?;
        if self.key.verify(note.text.as_bytes(), &signature.signature) {
            Ok(())
        } else {
            Err(NoteError::BadSignature {
                name: self.name.clone(),
                key_id,
            })
        }
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = Vec::with_capacity(33);
        material.push(self.sig_type);
        material.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id(),
            BASE64.encode(material)
        )
    }
}

/// Signs a note text with a plain Ed25519 note signature (type 0x01).
pub fn sign(text: &str, name: &str, key: &IdentityKey) -> Result<NoteSignature, NoteError> {
    check_key_name(name)?;
    if !text.ends_with('\n') || text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed);
    }
    Ok(NoteSignature {
        name: name.to_string(),
        key_id: key_id(name, SIG_TYPE_ED25519, &key.public()),
        signature: key.sign(text.as_bytes()).to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of c2sp.org/signed-note.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    #[test]
    fn the_text_of_a_note_is_found_as_parse_finds_it() {
        let parsed = Note::parse(SPEC_NOTE.as_bytes()).expect("note");
        assert_eq!(
            Note::text_of(SPEC_NOTE.as_bytes()),
            Some(parsed.text.as_bytes())
        );
        // The last blank line ends the text, as in parse.
        let two = "a\n\nb\n\n\u{2014} x sig\n";
        assert_eq!(Note::text_of(two.as_bytes()), Some("a\n\nb\n".as_bytes()));
        assert_eq!(Note::text_of(b"no blank line\n"), None);
    }

    #[test]
    fn the_specification_example_verifies() {
        let vkey = VerifierKey::parse(SPEC_VKEY).expect("vkey");
        assert_eq!(vkey.name, "example.com/foo");
        assert_eq!(vkey.key_id(), 0x530d903a);
        assert_eq!(vkey.to_string(), SPEC_VKEY);
        let note = Note::parse(SPEC_NOTE.as_bytes()).expect("note");
        assert_eq!(note.text, "This is an example message.\n");
        assert_eq!(note.to_string(), SPEC_NOTE);
        vkey.verify(&note).expect("the example verifies");

        let tampered = SPEC_NOTE.replace("example message", "example massage");
        let note = Note::parse(tampered.as_bytes()).expect("still a note");
        assert!(matches!(
            vkey.verify(&note),
            Err(NoteError::BadSignature { .. })
        ));
    }

    /// golang.org/x/mod/sumdb/note's TestSign: a known seed signs a known
    /// text into a known note, byte for byte (Ed25519 is deterministic).
    #[test]
    fn signing_matches_the_go_reference_implementation() {
        let skey = BASE64
            .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .expect("base64");
        assert_eq!(skey[0], SIG_TYPE_ED25519);
        let key = IdentityKey::from_secret_bytes(&skey[1..]).expect("seed");
        let vkey = VerifierKey::new("PeterNeumann", SIG_TYPE_ED25519, key.public()).expect("vkey");
        assert_eq!(
            vkey.to_string(),
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        let note = Note {
            text: text.to_string(),
            signatures: vec![sign(text, "PeterNeumann", &key).expect("sign")],
        };
        assert_eq!(
            note.to_string(),
            format!(
                "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            )
        );
        vkey.verify(&note).expect("verifies");
    }

    #[test]
    fn malformed_notes_are_refused() {
        let good = SPEC_NOTE;
        for (bad, why) in [
            ("no blank line\n\u{2014} a AAAA\n", "no separator"),
            ("text\n\n", "no signatures"),
            ("text\n\n\u{2014} a AAAAAAA=", "no final newline"),
            ("text\n\n\u{2014} a\n", "no signature"),
            ("text\n\n\u{2014} a b+c AAAAAAA=\n", "space in name"),
            ("text\n\n\u{2014} a+b AAAAAAA=\n", "plus in name"),
            ("text\n\n\u{2014} a AAA=\n", "under four bytes"),
            ("text\n\n\u{2014} a !!!!\n", "not base64"),
            ("text\n\n- a AAAAAAA=\n", "hyphen, not em dash"),
            ("te\u{0}xt\n\n\u{2014} a AAAAAAA=\n", "NUL"),
            ("te\txt\n\n\u{2014} a AAAAAAA=\n", "tab"),
            ("text\r\n\n\u{2014} a AAAAAAA=\n", "carriage return"),
        ] {
            assert!(Note::parse(bad.as_bytes()).is_err(), "{why}: {bad:?}");
        }
        assert!(Note::parse(&[0xff, b'\n', b'\n']).is_err(), "not UTF-8");
        assert!(Note::parse(good.as_bytes()).is_ok());
        // The text may hold blank lines: the last one separates.
        let note = Note::parse("a\n\nb\n\n\u{2014} k AAAAAAA=\n".as_bytes()).expect("note");
        assert_eq!(note.text, "a\n\nb\n");
    }

    #[test]
    fn bad_verifier_keys_are_refused() {
        let bytes = SPEC_VKEY.as_bytes();
        // Every truncation and every single-byte change is refused.
        for end in 0..bytes.len() {
            let text = String::from_utf8_lossy(&bytes[..end]);
            assert!(VerifierKey::parse(&text).is_err(), "truncated: {text}");
        }
        for i in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[i] = changed[i].wrapping_add(1);
            if let Ok(text) = std::str::from_utf8(&changed) {
                assert!(
                    VerifierKey::parse(text).is_err(),
                    "changed byte {i}: {text}"
                );
            }
        }
    }
}
