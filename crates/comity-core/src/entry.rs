//! Log entries: the header that is signed and hashed exactly as it travels,
//! its signature, and the payload it commits to.

use crate::{Hash, IdentityKey, OrgId, proto};
use prost::Message;
use time::OffsetDateTime;

/// Domain separation for entry signatures: a signature over an entry header can
/// never be replayed as a signature over anything else.
pub const SIGNATURE_CONTEXT: &[u8] = b"comity/v1/entry\0";
/// The only entry format this build reads and writes.
pub const ENTRY_FORMAT: u32 = 1;

/// What an entry says, mirrored from `comity.v1.EntryKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Profile,
    Consultation,
    Response,
    Liaison,
    Receipt,
    KeyRotation,
}

impl EntryKind {
    pub fn from_proto(value: i32) -> Option<Self> {
        use proto::EntryKind as P;
        Some(match P::try_from(value).ok()? {
            P::Profile => Self::Profile,
            P::Consultation => Self::Consultation,
            P::Response => Self::Response,
            P::Liaison => Self::Liaison,
            P::Receipt => Self::Receipt,
            P::KeyRotation => Self::KeyRotation,
            P::Unspecified => return None,
        })
    }

    pub fn to_proto(self) -> proto::EntryKind {
        use proto::EntryKind as P;
        match self {
            Self::Profile => P::Profile,
            Self::Consultation => P::Consultation,
            Self::Response => P::Response,
            Self::Liaison => P::Liaison,
            Self::Receipt => P::Receipt,
            Self::KeyRotation => P::KeyRotation,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Consultation => "consultation",
            Self::Response => "response",
            Self::Liaison => "liaison",
            Self::Receipt => "receipt",
            Self::KeyRotation => "key_rotation",
        }
    }
}

/// Who may read an entry's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    Public,
    Restricted(Vec<OrgId>),
}

impl Audience {
    fn to_proto(&self) -> proto::Audience {
        use proto::audience::Scope;
        match self {
            Self::Public => proto::Audience {
                scope: Scope::Public as i32,
                orgs: Vec::new(),
            },
            Self::Restricted(orgs) => proto::Audience {
                scope: Scope::Restricted as i32,
                orgs: orgs.iter().map(|o| o.to_string()).collect(),
            },
        }
    }
}

/// The position of a log's last entry: its seq and the hash of its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
}

/// Why an entry could not be decoded into a well-formed [`SignedEntry`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("entry header is not a valid protobuf EntryHeader: {0}")]
    Header(String),
    #[error("entry format {0} is not supported (this build reads format {ENTRY_FORMAT})")]
    Format(u32),
    #[error("entry origin: {0}")]
    Origin(#[from] crate::OrgIdError),
    #[error("entry seq must start at 1")]
    ZeroSeq,
    #[error("entry prev must be empty at seq 1 and 32 bytes after, got {len} bytes at seq {seq}")]
    Prev { seq: u64, len: usize },
    #[error("entry payload hash must be 32 bytes")]
    PayloadHash,
    #[error("entry kind {0} is unknown")]
    Kind(i32),
    #[error("entry audience: {0}")]
    Audience(String),
    #[error("entry signature must be 64 bytes, got {0}")]
    SignatureLength(usize),
    #[error("entry has no creation time")]
    CreatedAt,
    #[error(
        "entry creation time is out of range: it must be from year {first} to year {last} (UTC)",
        first = crate::dates::FIRST_YEAR,
        last = crate::dates::LAST_YEAR
    )]
    CreatedAtOutOfRange,
}

/// A decoded, well-formed entry. Whether it is *authentic and in order* is the
/// business of [`crate::verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct SignedEntry {
    wire: proto::Entry,
    header: proto::EntryHeader,
    id: Hash,
    origin: OrgId,
    kind: EntryKind,
    audience: Audience,
    prev: Option<Hash>,
    payload_hash: Hash,
}

impl SignedEntry {
    /// Decodes the header and checks its shape. Nothing is verified yet.
    pub fn decode(wire: proto::Entry) -> Result<Self, DecodeError> {
        let header = proto::EntryHeader::decode(wire.header.as_slice())
            .map_err(|e| DecodeError::Header(e.to_string()))?;
        if header.format != ENTRY_FORMAT {
            return Err(DecodeError::Format(header.format));
        }
        let origin = OrgId::new(header.origin.clone())?;
        if header.seq == 0 {
            return Err(DecodeError::ZeroSeq);
        }
        let prev = match (header.seq, header.prev.len()) {
            (1, 0) => None,
            (s, 32) if s > 1 => Hash::from_slice(&header.prev),
            (seq, len) => return Err(DecodeError::Prev { seq, len }),
        };
        let payload_hash =
            Hash::from_slice(&header.payload_hash).ok_or(DecodeError::PayloadHash)?;
        let kind = EntryKind::from_proto(header.kind).ok_or(DecodeError::Kind(header.kind))?;
        let audience = decode_audience(header.audience.as_ref())?;
        if wire.signature.len() != 64 {
            return Err(DecodeError::SignatureLength(wire.signature.len()));
        }
        match &header.created_at {
            None => return Err(DecodeError::CreatedAt),
            Some(t) if !crate::dates::in_range(t) => return Err(DecodeError::CreatedAtOutOfRange),
            Some(_) => {}
        }
        let id = Hash::of(&wire.header);
        Ok(Self {
            wire,
            header,
            id,
            origin,
            kind,
            audience,
            prev,
            payload_hash,
        })
    }

    /// Decodes from the bytes of an encoded `comity.v1.Entry`.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire =
            proto::Entry::decode(bytes).map_err(|e| DecodeError::Header(format!("entry: {e}")))?;
        Self::decode(wire)
    }

    /// The entry id: BLAKE3 of the header bytes.
    pub fn id(&self) -> Hash {
        self.id
    }
    pub fn origin(&self) -> &OrgId {
        &self.origin
    }
    pub fn seq(&self) -> u64 {
        self.header.seq
    }
    pub fn prev(&self) -> Option<Hash> {
        self.prev
    }
    pub fn kind(&self) -> EntryKind {
        self.kind
    }
    pub fn audience(&self) -> &Audience {
        &self.audience
    }
    pub fn payload_hash(&self) -> Hash {
        self.payload_hash
    }
    pub fn payload_size(&self) -> u64 {
        self.header.payload_size
    }
    pub fn created_at(&self) -> Option<&prost_types::Timestamp> {
        self.header.created_at.as_ref()
    }
    pub fn header(&self) -> &proto::EntryHeader {
        &self.header
    }
    pub fn header_bytes(&self) -> &[u8] {
        &self.wire.header
    }
    pub fn signature(&self) -> &[u8] {
        &self.wire.signature
    }
    pub fn payload(&self) -> &[u8] {
        &self.wire.payload
    }
    pub fn wire(&self) -> &proto::Entry {
        &self.wire
    }
    pub fn into_wire(self) -> proto::Entry {
        self.wire
    }
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq(),
            hash: self.id,
        }
    }

    /// A restricted entry held without its payload.
    pub fn is_redacted(&self) -> bool {
        matches!(self.audience, Audience::Restricted(_)) && self.wire.payload.is_empty()
    }

    /// Whether `reader` may receive the payload.
    pub fn readable_by(&self, reader: &OrgId) -> bool {
        match &self.audience {
            Audience::Public => true,
            Audience::Restricted(orgs) => reader == &self.origin || orgs.contains(reader),
        }
    }

    /// This entry as `reader` may receive it: whole, or as a redacted stub whose
    /// header and signature still verify and still chain.
    pub fn for_reader(&self, reader: &OrgId) -> proto::Entry {
        if self.readable_by(reader) {
            self.wire.clone()
        } else {
            proto::Entry {
                header: self.wire.header.clone(),
                signature: self.wire.signature.clone(),
                payload: Vec::new(),
            }
        }
    }

    /// The bytes a signature covers.
    pub fn signed_message(header: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(SIGNATURE_CONTEXT.len() + header.len());
        message.extend_from_slice(SIGNATURE_CONTEXT);
        message.extend_from_slice(header);
        message
    }
}

fn decode_audience(audience: Option<&proto::Audience>) -> Result<Audience, DecodeError> {
    use proto::audience::Scope;
    let Some(audience) = audience else {
        return Err(DecodeError::Audience("missing".into()));
    };
    match Scope::try_from(audience.scope) {
        Ok(Scope::Public) if audience.orgs.is_empty() => Ok(Audience::Public),
        Ok(Scope::Public) => Err(DecodeError::Audience(
            "a public entry lists no organisations".into(),
        )),
        Ok(Scope::Restricted) if !audience.orgs.is_empty() => audience
            .orgs
            .iter()
            .map(|o| OrgId::new(o.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map(Audience::Restricted)
            .map_err(|e| DecodeError::Audience(e.to_string())),
        Ok(Scope::Restricted) => Err(DecodeError::Audience(
            "a restricted entry names at least one organisation".into(),
        )),
        _ => Err(DecodeError::Audience(format!(
            "unknown scope {}",
            audience.scope
        ))),
    }
}

/// An entry about to be appended to one's own log.
#[derive(Debug, Clone)]
pub struct UnsignedEntry {
    pub origin: OrgId,
    pub kind: EntryKind,
    pub audience: Audience,
    pub payload: Vec<u8>,
    /// The origin's clock when it made the entry: informative, never used
    /// for order.
    pub created_at: OffsetDateTime,
}

impl UnsignedEntry {
    /// An entry made at `created_at`, by the caller's clock (core reads none).
    pub fn new(
        origin: OrgId,
        kind: EntryKind,
        payload: Vec<u8>,
        created_at: OffsetDateTime,
    ) -> Self {
        Self {
            origin,
            kind,
            audience: Audience::Public,
            payload,
            created_at,
        }
    }

    /// Signs the entry as the successor of `head` (`None` for the first entry).
    pub fn sign(self, key: &IdentityKey, head: Option<Head>) -> SignedEntry {
        let payload_hash = Hash::of(&self.payload);
        let header = proto::EntryHeader {
            format: ENTRY_FORMAT,
            origin: self.origin.to_string(),
            seq: head.map_or(1, |h| h.seq + 1),
            prev: head.map(|h| h.hash.0.to_vec()).unwrap_or_default(),
            created_at: Some(crate::dates::to_timestamp(self.created_at)),
            kind: self.kind.to_proto() as i32,
            payload_hash: payload_hash.0.to_vec(),
            payload_size: self.payload.len() as u64,
            audience: Some(self.audience.to_proto()),
        };
        let header_bytes = header.encode_to_vec();
        let signature = key.sign(&SignedEntry::signed_message(&header_bytes));
        let id = Hash::of(&header_bytes);
        SignedEntry {
            wire: proto::Entry {
                header: header_bytes,
                signature: signature.to_vec(),
                payload: self.payload,
            },
            prev: head.map(|h| h.hash),
            payload_hash,
            header,
            id,
            origin: self.origin,
            kind: self.kind,
            audience: self.audience,
        }
    }
}
