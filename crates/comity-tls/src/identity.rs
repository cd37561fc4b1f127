//! A node's TLS identity (a certificate self-signed with its Ed25519 identity
//! key), the shared slot that lets a running node switch to a new one, and
//! reading the key back out of a peer's certificate.

use std::{
    fmt,
    sync::{Arc, PoisonError, RwLock},
};

use comity_core::{IdentityKey, OrgId, PublicKey};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, PKCS_ED25519,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};
use tracing::info;
use x509_parser::{certificate::X509Certificate, oid_registry::OID_SIG_ED25519};

use crate::{TlsError, provider};

/// How long before "now" a new certificate starts to be valid (tolerates clock skew).
const VALID_BEFORE_NOW: Duration = Duration::days(1);
/// How long after "now" a new certificate stays valid. Nodes make a fresh
/// certificate from their identity key at start-up (and when the key is
/// rotated), so this only bounds how long one process may run on one
/// certificate before it must restart or put a new [`TlsIdentity`] in its
/// [`SharedIdentity`].
const VALID_AFTER_NOW: Duration = Duration::days(365);

/// A node's certificate and private key, both DER, ready for rustls.
///
/// The certificate is self-signed with the organisation's Ed25519 identity
/// key, so the key peers pin for signed log entries is also the TLS key.
///
/// Cloning is cheap enough to do per connection: the parsed signing key is
/// shared, not parsed again.
pub struct TlsIdentity {
    certificate: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    public: PublicKey,
    /// The certificate with its parsed signing key, as the server presents it.
    certified: Arc<CertifiedKey>,
}

impl TlsIdentity {
    /// Creates a certificate for `org`, self-signed with `key` (Ed25519), with
    /// CN and DNS SAN set to the org id (informative only: peers identify each
    /// other by key), valid from a day ago to a year ahead.
    pub fn new(key: &IdentityKey, org: &OrgId) -> Result<Self, TlsError> {
        let now = OffsetDateTime::now_utc();
        let pkcs8 = PrivatePkcs8KeyDer::from(key.to_pkcs8_der().map_err(TlsError::KeyEncoding)?);
        let generation = |source| TlsError::CertificateGeneration {
            org: org.clone(),
            source,
        };
        let key_pair =
            KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &PKCS_ED25519).map_err(generation)?;

        let mut params = CertificateParams::new(vec![org.to_string()]).map_err(generation)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, org.as_str());
        params.distinguished_name = name;
        params.not_before = now - VALID_BEFORE_NOW;
        params.not_after = now + VALID_AFTER_NOW;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let certificate = params.self_signed(&key_pair).map_err(generation)?;

        Self::assemble(certificate.der().clone(), pkcs8, key.public())
    }

    /// Pairs an existing certificate (e.g. one kept on disk) with its identity
    /// key. The certificate must carry exactly that key.
    pub fn from_certificate(
        certificate: CertificateDer<'static>,
        key: &IdentityKey,
    ) -> Result<Self, TlsError> {
        let in_certificate = key_of_certificate(&certificate)?;
        if in_certificate != key.public() {
            return Err(TlsError::CertificateKeyMismatch {
                certificate: Box::new(in_certificate),
                identity: Box::new(key.public()),
            });
        }
        let pkcs8 = PrivatePkcs8KeyDer::from(key.to_pkcs8_der().map_err(TlsError::KeyEncoding)?);
        Self::assemble(certificate, pkcs8, key.public())
    }

    /// Loads the signing key once (checking that it matches the certificate),
    /// so handshakes do not parse it again.
    fn assemble(
        certificate: CertificateDer<'static>,
        key: PrivatePkcs8KeyDer<'static>,
        public: PublicKey,
    ) -> Result<Self, TlsError> {
        let certified = CertifiedKey::from_der(
            vec![certificate.clone()],
            PrivateKeyDer::Pkcs8(key.clone_key()),
            &provider(),
        )
        .map_err(TlsError::SigningKey)?;
        Ok(Self {
            certificate,
            key,
            public,
            certified: Arc::new(certified),
        })
    }

    /// The DER certificate this node presents.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// The public key in the certificate: what peers pin.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }

    /// The certificate and parsed signing key, for the server's resolver.
    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified)
    }
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        Self {
            certificate: self.certificate.clone(),
            key: self.key.clone_key(),
            public: self.public,
            certified: Arc::clone(&self.certified),
        }
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("public_key", &self.public)
            .finish_non_exhaustive()
    }
}

/// The node's current [`TlsIdentity`], replaceable at runtime (e.g. after
/// `comity key rotate`).
///
/// [`crate::server_config`] presents whatever identity is current at each
/// handshake, so after [`SharedIdentity::replace`] the running server shows
/// the new certificate to every *new* connection, without a restart.
/// Connections already established stay up with the certificate they were
/// opened with. Build client configurations per connection from
/// [`SharedIdentity::current`], so they too present the new key.
#[derive(Debug)]
pub struct SharedIdentity {
    current: RwLock<TlsIdentity>,
}

impl SharedIdentity {
    /// A slot holding `identity`.
    pub fn new(identity: TlsIdentity) -> Self {
        Self {
            current: RwLock::new(identity),
        }
    }

    /// A copy of the current identity (cheap: the parsed key is shared).
    pub fn current(&self) -> TlsIdentity {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `identity` the current one: from the next handshake on, the
    /// server presents it. Nothing checks that it is for the same
    /// organisation; the caller decides what a valid rotation is.
    pub fn replace(&self, identity: TlsIdentity) {
        let new_key = identity.public_key();
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
            identity,
        );
        info!(
            old_key = %old.public_key(),
            new_key = %new_key,
            "TLS identity replaced: new connections get the certificate for the new key"
        );
    }

    /// The current certificate and signing key, for the server's resolver.
    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .certified_key()
    }
}

/// The Ed25519 public key in a certificate's SubjectPublicKeyInfo.
///
/// This is how a peer is identified: by its key, never by a name in its
/// certificate. Fails if the bytes are not one X.509 certificate or the key is
/// not Ed25519. It does not check validity or signatures (the verifiers do).
pub fn key_of_certificate(cert: &CertificateDer<'_>) -> Result<PublicKey, TlsError> {
    ed25519_key(&parse(cert)?)
}

/// Parses exactly one DER certificate, with nothing after it.
pub(crate) fn parse<'a>(cert: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, TlsError> {
    let (rest, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| TlsError::CertificateParse(e.to_string()))?;
    if !rest.is_empty() {
        return Err(TlsError::CertificateParse(format!(
            "{} bytes of trailing data after the certificate",
            rest.len()
        )));
    }
    Ok(parsed)
}

/// The Ed25519 key of a parsed certificate (RFC 8410: OID 1.3.101.112, no
/// parameters, 32 key bytes).
pub(crate) fn ed25519_key(cert: &X509Certificate<'_>) -> Result<PublicKey, TlsError> {
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_SIG_ED25519 || spki.algorithm.parameters.is_some() {
        return Err(TlsError::NotEd25519 {
            algorithm: spki.algorithm.algorithm.to_id_string(),
        });
    }
    if spki.subject_public_key.unused_bits != 0 {
        return Err(TlsError::CertificateParse(
            "the Ed25519 key is not a whole number of bytes".to_owned(),
        ));
    }
    PublicKey::from_bytes(&spki.subject_public_key.data).map_err(TlsError::InvalidPublicKey)
}

/// Whether `cert` is signed (Ed25519) by `key`, its own key.
pub(crate) fn is_self_signed(cert: &X509Certificate<'_>, key: &PublicKey) -> bool {
    cert.signature_algorithm.algorithm == OID_SIG_ED25519
        && cert.signature_value.unused_bits == 0
        && key.verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{IsCa, Issuer, PKCS_ECDSA_P256_SHA256};

    fn org(id: &str) -> OrgId {
        OrgId::new(id).unwrap()
    }

    #[test]
    fn key_of_certificate_returns_the_identity_key() {
        let key = IdentityKey::generate();
        let identity = TlsIdentity::new(&key, &org("ietf")).unwrap();
        assert_eq!(
            key_of_certificate(identity.certificate()).unwrap(),
            key.public()
        );
        assert_eq!(identity.public_key(), key.public());
    }

    #[test]
    fn new_certificate_is_self_signed_named_after_the_org_and_valid_now() {
        let key = IdentityKey::generate();
        let identity = TlsIdentity::new(&key, &org("itu-t")).unwrap();
        let cert = parse(identity.certificate()).unwrap();
        assert!(is_self_signed(&cert, &key.public()));
        assert!(!is_self_signed(&cert, &IdentityKey::generate().public()));
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "itu-t");
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", san.value.general_names),
            r#"[DNSName("itu-t")]"#
        );
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let validity = cert.validity();
        let day = 24 * 3600;
        assert!((validity.not_before.timestamp() - (now - day)).abs() < 60);
        assert!((validity.not_after.timestamp() - (now + 365 * day)).abs() < 60);
        assert!(!cert.is_ca());
    }

    #[test]
    fn key_of_certificate_rejects_garbage_and_trailing_bytes() {
        let err = key_of_certificate(&CertificateDer::from(vec![1, 2, 3])).unwrap_err();
        assert!(matches!(err, TlsError::CertificateParse(_)), "{err}");

        let key = IdentityKey::generate();
        let identity = TlsIdentity::new(&key, &org("ietf")).unwrap();
        let mut der = identity.certificate().to_vec();
        der.push(0);
        let err = key_of_certificate(&CertificateDer::from(der)).unwrap_err();
        assert!(matches!(err, TlsError::CertificateParse(_)), "{err}");
    }

    #[test]
    fn key_of_certificate_rejects_non_ed25519_keys() {
        let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = CertificateParams::new(vec!["ietf".to_owned()])
            .unwrap()
            .self_signed(&key_pair)
            .unwrap();
        let err = key_of_certificate(cert.der()).unwrap_err();
        match err {
            TlsError::NotEd25519 { algorithm } => assert_eq!(algorithm, "1.2.840.10045.2.1"),
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn key_of_certificate_reads_the_subject_key_not_the_issuer_key() {
        let issuer_key = IdentityKey::generate();
        let issuer_pair = KeyPair::try_from(issuer_key.to_pkcs8_der().unwrap()).unwrap();
        let mut ca = CertificateParams::new(vec!["ietf".to_owned()]).unwrap();
        ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = Issuer::new(ca, issuer_pair);

        let subject_key = IdentityKey::generate();
        let subject_pair = KeyPair::try_from(subject_key.to_pkcs8_der().unwrap()).unwrap();
        let cert = CertificateParams::new(vec!["icann".to_owned()])
            .unwrap()
            .signed_by(&subject_pair, &issuer)
            .unwrap();
        assert_eq!(
            key_of_certificate(cert.der()).unwrap(),
            subject_key.public()
        );
        let parsed = parse(cert.der()).unwrap();
        assert!(!is_self_signed(&parsed, &subject_key.public()));
    }

    #[test]
    fn from_certificate_requires_the_matching_key() {
        let key = IdentityKey::generate();
        let identity = TlsIdentity::new(&key, &org("ietf")).unwrap();
        let again = TlsIdentity::from_certificate(identity.certificate().clone(), &key).unwrap();
        assert_eq!(again.public_key(), key.public());

        let other = IdentityKey::generate();
        let err =
            TlsIdentity::from_certificate(identity.certificate().clone(), &other).unwrap_err();
        assert!(
            matches!(err, TlsError::CertificateKeyMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn the_cached_signing_key_matches_the_certificate() {
        let key = IdentityKey::generate();
        let identity = TlsIdentity::new(&key, &org("ietf")).unwrap();
        let certified = identity.certified_key();
        assert_eq!(certified.cert, vec![identity.certificate().clone()]);
        assert!(certified.keys_match().is_ok());
        // Clones share the parsed key rather than parsing it again.
        assert!(Arc::ptr_eq(&certified, &identity.clone().certified_key()));
    }

    #[test]
    fn shared_identity_hands_out_the_latest_identity() {
        let first = IdentityKey::generate();
        let second = IdentityKey::generate();
        let shared = SharedIdentity::new(TlsIdentity::new(&first, &org("ietf")).unwrap());
        assert_eq!(shared.current().public_key(), first.public());
        let before = shared.certified_key();

        shared.replace(TlsIdentity::new(&second, &org("ietf")).unwrap());
        assert_eq!(shared.current().public_key(), second.public());
        let after = shared.certified_key();
        assert!(!Arc::ptr_eq(&before, &after));
        assert_eq!(
            key_of_certificate(after.end_entity_cert().unwrap()).unwrap(),
            second.public()
        );
        // A copy taken earlier is unaffected.
        assert_eq!(key_of_certificate(&before.cert[0]).unwrap(), first.public());
    }

    #[test]
    fn debug_does_not_show_the_private_key() {
        let key = IdentityKey::generate();
        let identity = TlsIdentity::new(&key, &org("ietf")).unwrap();
        assert_eq!(
            format!("{identity:?}"),
            format!("TlsIdentity {{ public_key: {:?}, .. }}", key.public())
        );
    }
}
