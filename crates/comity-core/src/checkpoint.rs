//! Checkpoints (<https://c2sp.org/tlog-checkpoint>) and cosignatures
//! (<https://c2sp.org/tlog-cosignature>) of Comity logs.
//!
//! A checkpoint is a signed note whose text is three lines: the origin line,
//! the tree size, and the base64 RFC 6962 root ([`crate::merkle`]). Comity's
//! origin line for organisation `itu` is `comity/itu`: the `comity/` prefix
//! keeps Comity logs apart from any other log a witness follows, and org ids
//! are unique in a federation. The origin signs with its identity key under
//! the key name equal to the origin line (type 0x01). A partner cosigns with
//! its own identity key under the key name of its own origin line
//! (`comity/ietf`), with a timestamped Ed25519 cosignature (type 0x04).
//!
//! No message one identity key signs can be taken for another kind: every
//! note text starts with `comity/<org>\n` (an org id holds no `/`) or
//! `cosignature/v1\n`, and holds no NUL; an entry's signed message is
//! `comity/v1/entry\0` followed by binary header bytes, a rotation proof
//! `comity/v1/key-rotation\0 ...` (both with a NUL at a fixed place), a TLS
//! 1.3 CertificateVerify starts with 64 spaces, and a certificate's signed
//! part with the DER byte 0x30. See docs/ARCHITECTURE.md.

use crate::keys::{IdentityKey, PublicKey};
use crate::merkle::MerkleHash;
use crate::note::{self, Note, NoteError, NoteSignature, SIG_TYPE_COSIGNATURE, SIG_TYPE_ED25519};
use crate::org::OrgId;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};

/// The header line of a v1 cosigned message.
const COSIGNATURE_HEADER: &str = "cosignature/v1\n";

/// Why a checkpoint or a cosignature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("a checkpoint's text must be an origin line, a tree size and a base64 root hash")]
    Malformed,
    #[error("the tree size {0:?} is not a decimal number without leading zeroes")]
    BadSize(String),
    #[error("the root hash {0:?} is not 32 bytes of base64")]
    BadRoot(String),
    #[error("the checkpoint's origin line is {found:?}, expected {expected:?}")]
    WrongOrigin { found: String, expected: String },
    #[error("the cosignature by {0} is not a timestamp and a 64-byte signature")]
    BadCosignature(String),
    #[error("the cosignature's timestamp exceeds 2^63 - 1")]
    BadTimestamp,
}

/// The origin line (and key name) of an organisation's log.
pub fn origin_line(org: &OrgId) -> String {
    format!("comity/{org}")
}

/// A checkpoint's note text: which log, how many leaves, which root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: MerkleHash,
    /// Extension lines, kept as read. Comity writes none.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint of `org`'s log at `size` leaves.
    pub fn new(org: &OrgId, size: u64, root: MerkleHash) -> Self {
        Self {
            origin: origin_line(org),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text, with its final newline.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Reads a checkpoint's note text.
    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::Malformed)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed);
        };
        if origin.is_empty() {
            return Err(CheckpointError::Malformed);
        }
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::Malformed);
        }
        let canonical = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size_value = size
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| CheckpointError::BadSize(size.to_string()))?;
        let root_value = BASE64
            .decode(root)
            .ok()
            .and_then(|bytes| MerkleHash::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| CheckpointError::BadRoot(root.to_string()))?;
        Ok(Self {
            origin: origin.to_string(),
            size: size_value,
            root: root_value,
            extensions,
        })
    }

    /// Signs the checkpoint as its origin, `org`, whose identity key is `key`.
    pub fn sign(&self, key: &IdentityKey) -> Result<SignedCheckpoint, CheckpointError> {
        let text = self.text();
        let signature = note::sign(&text, &self.origin, key)?;
        Ok(SignedCheckpoint {
            checkpoint: self.clone(),
            note: Note {
                text,
                signatures: vec![signature],
            },
        })
    }
}

/// A checkpoint with its note: the origin's signature and any cosignatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: Note,
}

impl SignedCheckpoint {
    /// Reads a signed checkpoint of `org` and checks the origin's signature
    /// with `key`, the key `org` signs with at this size.
    pub fn verify(bytes: &[u8], org: &OrgId, key: &PublicKey) -> Result<Self, CheckpointError> {
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse_text(&note.text)?;
        let expected = origin_line(org);
        if checkpoint.origin != expected {
            return Err(CheckpointError::WrongOrigin {
                found: checkpoint.origin,
                expected,
            });
        }
        note::VerifierKey::new(&expected, SIG_TYPE_ED25519, *key)?.verify(&note)?;
        Ok(Self { checkpoint, note })
    }

    /// The whole note, as text.
    pub fn to_text(&self) -> String {
        self.note.to_string()
    }

    /// Adds (or replaces) a cosignature.
    pub fn add_cosignature(&mut self, cosignature: &Cosignature) {
        self.note.add_signature(cosignature.signature.clone());
    }

    /// The cosignatures on this checkpoint that `cosigner` (whose key is
    /// `key`) made and that verify: their timestamps.
    pub fn cosigned_by(&self, cosigner: &OrgId, key: &PublicKey) -> Option<u64> {
        let name = origin_line(cosigner);
        let key_id = note::key_id(&name, SIG_TYPE_COSIGNATURE, key);
        let line = self.note.signature_by(&name, key_id)?;
        let cosignature = Cosignature {
            signature: line.clone(),
        };
        cosignature.verify(&self.note.text, key).ok()
    }
}

/// A timestamped Ed25519 cosignature (type 0x04) of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub signature: NoteSignature,
}

/// The message a v1 cosignature signs.
fn cosigned_message(timestamp: u64, checkpoint_text: &str) -> Vec<u8> {
    format!("{COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_text}").into_bytes()
}

impl Cosignature {
    /// Cosigns a checkpoint's note text as `cosigner`, at `timestamp`
    /// (seconds since the epoch).
    pub fn sign(
        checkpoint_text: &str,
        cosigner: &OrgId,
        key: &IdentityKey,
        timestamp: u64,
    ) -> Result<Self, CheckpointError> {
        if timestamp > i64::MAX as u64 {
            return Err(CheckpointError::BadTimestamp);
        }
        let name = origin_line(cosigner);
        let signature = key.sign(&cosigned_message(timestamp, checkpoint_text));
        let mut bytes = Vec::with_capacity(72);
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature);
        Ok(Self {
            signature: NoteSignature {
                key_id: note::key_id(&name, SIG_TYPE_COSIGNATURE, &key.public()),
                name,
                signature: bytes,
            },
        })
    }

    /// The timestamp it carries, if it is well formed.
    pub fn timestamp(&self) -> Result<u64, CheckpointError> {
        let bad = || CheckpointError::BadCosignature(self.signature.name.clone());
        let (timestamp, signature) = self
            .signature
            .signature
            .split_first_chunk::<8>()
            .ok_or_else(bad)?;
        if signature.len() != 64 {
            return Err(bad());
        }
        let timestamp = u64::from_be_bytes(*timestamp);
        if timestamp > i64::MAX as u64 {
            return Err(CheckpointError::BadTimestamp);
        }
        Ok(timestamp)
    }

    /// Checks the cosignature on `checkpoint_text` with `key`, and returns
    /// its timestamp.
    pub fn verify(&self, checkpoint_text: &str, key: &PublicKey) -> Result<u64, CheckpointError> {
        let timestamp = self.timestamp()?;
        let expected_id = note::key_id(&self.signature.name, SIG_TYPE_COSIGNATURE, key);
        let failed = || {
            CheckpointError::Note(NoteError::BadSignature {
                name: self.signature.name.clone(),
                key_id: self.signature.key_id,
            })
        };
        if self.signature.key_id != expected_id {
            return Err(failed());
        }
        let message = cosigned_message(timestamp, checkpoint_text);
        if key.verify(&message, &self.signature.signature[8..]) {
            Ok(timestamp)
        } else {
            Err(failed())
        }
    }

    /// The signature line, as it appears in a note.
    pub fn line(&self) -> String {
        self.signature.line()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{CompactRange, leaf_hash};

    fn org(id: &str) -> OrgId {
        id.parse().expect("org id")
    }

    #[test]
    fn the_specification_checkpoint_text_parses() {
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let checkpoint = Checkpoint::parse_text(text).expect("checkpoint");
        assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size, 20852163);
        assert_eq!(checkpoint.text(), text);
        let note = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
        let parsed = Note::parse(note.as_bytes()).expect("note");
        assert_eq!(parsed.text, text);
        assert_eq!(parsed.signatures.len(), 2);
        let cosignature = Cosignature {
            signature: parsed.signatures[1].clone(),
        };
        // The example's cosignature carries 2023-03-20T12:25:47Z.
        assert_eq!(cosignature.timestamp(), Ok(1679315147));
        assert_eq!(parsed.to_string(), note);
    }

    #[test]
    fn bad_checkpoint_texts_are_refused() {
        let root = BASE64.encode([7u8; 32]);
        for bad in [
            format!("comity/itu\n5\n{root}"),
            format!("comity/itu\n05\n{root}\n"),
            format!("comity/itu\n-5\n{root}\n"),
            format!("comity/itu\n+5\n{root}\n"),
            format!("comity/itu\n\n{root}\n"),
            format!("\n5\n{root}\n"),
            format!("comity/itu\n5\n{}\n", BASE64.encode([7u8; 31])),
            format!("comity/itu\n5\n{root}\n\n"),
            "comity/itu\n5\n".to_string(),
            format!("comity/itu\n18446744073709551616\n{root}\n"),
        ] {
            assert!(Checkpoint::parse_text(&bad).is_err(), "{bad:?}");
        }
        assert!(Checkpoint::parse_text(&format!("comity/itu\n0\n{root}\n")).is_ok());
        let with_extension = format!("comity/itu\n5\n{root}\nextra\n");
        let parsed = Checkpoint::parse_text(&with_extension).expect("extension lines");
        assert_eq!(parsed.extensions, vec!["extra".to_string()]);
        assert_eq!(parsed.text(), with_extension);
    }

    #[test]
    fn a_checkpoint_signs_verifies_and_collects_cosignatures() {
        let itu = org("itu");
        let ietf = org("ietf");
        let itu_key = IdentityKey::generate();
        let ietf_key = IdentityKey::generate();
        let mut range = CompactRange::new();
        for i in 0..5u8 {
            range.append(leaf_hash(&[i]));
        }
        let checkpoint = Checkpoint::new(&itu, range.size(), range.root());
        assert!(checkpoint.text().starts_with("comity/itu\n5\n"));
        let mut signed = checkpoint.sign(&itu_key).expect("sign");
        let text = signed.to_text();
        let verified =
            SignedCheckpoint::verify(text.as_bytes(), &itu, &itu_key.public()).expect("verify");
        assert_eq!(verified.checkpoint, checkpoint);

        // Another key, another origin: refused.
        assert!(SignedCheckpoint::verify(text.as_bytes(), &itu, &ietf_key.public()).is_err());
        assert!(matches!(
            SignedCheckpoint::verify(text.as_bytes(), &ietf, &itu_key.public()),
            Err(CheckpointError::WrongOrigin { .. })
        ));

        let cosignature =
            Cosignature::sign(&checkpoint.text(), &ietf, &ietf_key, 1_800_000_000).expect("cosign");
        assert_eq!(
            cosignature.verify(&checkpoint.text(), &ietf_key.public()),
            Ok(1_800_000_000)
        );
        assert!(
            cosignature
                .verify(&checkpoint.text(), &itu_key.public())
                .is_err()
        );
        signed.add_cosignature(&cosignature);
        // The cosigned note still verifies as the origin's, and keeps the cosignature.
        let text = signed.to_text();
        let back =
            SignedCheckpoint::verify(text.as_bytes(), &itu, &itu_key.public()).expect("verify");
        assert_eq!(
            back.cosigned_by(&ietf, &ietf_key.public()),
            Some(1_800_000_000)
        );
        assert_eq!(back.cosigned_by(&ietf, &itu_key.public()), None);

        // A cosignature over another root does not verify on this one.
        let other = Checkpoint::new(&itu, 5, [9; 32]);
        assert!(
            cosignature
                .verify(&other.text(), &ietf_key.public())
                .is_err()
        );
        // Replacing the cosignature keeps one line per key.
        let again =
            Cosignature::sign(&checkpoint.text(), &ietf, &ietf_key, 1_800_000_060).expect("cosign");
        signed.add_cosignature(&again);
        assert_eq!(signed.note.signatures.len(), 2);
        assert_eq!(
            signed.cosigned_by(&ietf, &ietf_key.public()),
            Some(1_800_000_060)
        );
    }

    /// The cosignature's key ID uses type 0x04, the origin's 0x01, so one
    /// key and name can do both without ambiguity.
    #[test]
    fn cosignature_and_signature_key_ids_differ() {
        let key = IdentityKey::generate();
        let name = origin_line(&org("itu"));
        assert_ne!(
            note::key_id(&name, SIG_TYPE_ED25519, &key.public()),
            note::key_id(&name, SIG_TYPE_COSIGNATURE, &key.public())
        );
    }
}
