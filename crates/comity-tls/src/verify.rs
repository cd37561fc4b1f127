//! The custom rustls verifiers: one self-signed certificate whose Ed25519 key
//! is pinned, with no CA, no chain and no names.
//!
//! Why not tonic's `client_ca_root` / `ca_certificate`: every pinned
//! certificate would become a trust anchor, trust anchors are not checked for
//! CA status, and so any pinned peer could issue a certificate naming another
//! organisation and have it accepted. Here nothing is ever an issuer.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use comity_core::{OrgId, PublicKey};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, PeerMisbehaved,
    SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{WebPkiSupportedAlgorithms, verify_tls13_signature},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::{
    TlsError,
    identity::{ed25519_key, is_self_signed, parse},
};

/// The keys this node accepts connections from, and whose organisation each is.
///
/// Consulted on every handshake, so peers added or removed at runtime take
/// effect for the next connection. (An established connection is not cut when
/// a peer is removed: services should also check
/// [`crate::caller_key`] against the pins per request.)
pub trait PinnedKeys: Send + Sync + std::fmt::Debug + 'static {
    /// The organisation whose pinned key is `key`, if any.
    fn org_for(&self, key: &PublicKey) -> Option<OrgId>;
}

/// A fixed set of pins.
impl PinnedKeys for HashMap<PublicKey, OrgId> {
    fn org_for(&self, key: &PublicKey) -> Option<OrgId> {
        self.get(key).cloned()
    }
}

/// A set of pins that can change at runtime.
impl PinnedKeys for RwLock<HashMap<PublicKey, OrgId>> {
    fn org_for(&self, key: &PublicKey) -> Option<OrgId> {
        self.read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }
}

/// Wraps a crate error as a rustls error, so the reason reaches the logs and
/// the caller of a failed handshake readable (rustls prints the inner error of
/// `Error::Other` with `Display`, whereas it would print a
/// `CertificateError::Other` with `Debug`), and can be downcast to
/// [`TlsError`]. The peer gets a `handshake_failure` alert.
fn refuse(error: TlsError) -> rustls::Error {
    rustls::Error::Other(OtherError(Arc::new(error)))
}

fn unix_time(seconds: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// The checks both sides share. Returns the peer's key once the certificate
/// is the only one sent, parses, carries an Ed25519 key that `accept` allows,
/// is self-signed by that key, and is inside its validity window at `now`.
fn check_peer(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    accept: impl FnOnce(&PublicKey) -> Result<(), TlsError>,
) -> Result<PublicKey, rustls::Error> {
    if !intermediates.is_empty() {
        return Err(refuse(TlsError::ChainNotAllowed {
            count: intermediates.len(),
        }));
    }
    let cert = parse(end_entity).map_err(refuse)?;
    let key = ed25519_key(&cert).map_err(refuse)?;
    accept(&key).map_err(refuse)?;
    if !is_self_signed(&cert, &key) {
        return Err(refuse(TlsError::NotSelfSigned { key: Box::new(key) }));
    }

    let now_seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = cert.validity();
    let not_before = validity.not_before.timestamp();
    let not_after = validity.not_after.timestamp();
    if now_seconds < not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: unix_time(not_before),
        }
        .into());
    }
    if now_seconds > not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: unix_time(not_after),
        }
        .into());
    }
    Ok(key)
}

/// Handshake signature checks, shared by both verifiers: Ed25519 under TLS 1.3
/// only, verified by the provider's algorithms against the certificate's key.
#[derive(Debug, Clone, Copy)]
struct Signatures {
    algorithms: WebPkiSupportedAlgorithms,
}

impl Signatures {
    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
        }
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn schemes() -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

fn tls12_refused() -> rustls::Error {
    refuse(TlsError::Tls12Refused)
}

/// Server side: requires a client certificate whose key is pinned.
#[derive(Debug)]
pub(crate) struct PinnedClientVerifier {
    pins: Arc<dyn PinnedKeys>,
    signatures: Signatures,
}

impl PinnedClientVerifier {
    pub(crate) fn new(pins: Arc<dyn PinnedKeys>, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self {
            pins,
            signatures: Signatures { algorithms },
        }
    }
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check_peer(end_entity, intermediates, now, |key| {
            match self.pins.org_for(key) {
                Some(_) => Ok(()),
                None => Err(TlsError::NotPinned {
                    key: Box::new(*key),
                }),
            }
        })?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(tls12_refused())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Signatures::schemes()
    }
}

/// Client side: accepts only a server certificate carrying exactly the
/// expected key. The server name is ignored.
#[derive(Debug)]
pub(crate) struct PinnedServerVerifier {
    /// None: any key, provisionally (see `crate::client_config_provisional`).
    expected: Option<PublicKey>,
    signatures: Signatures,
}

impl PinnedServerVerifier {
    pub(crate) fn new(expected: PublicKey, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self {
            expected: Some(expected),
            signatures: Signatures { algorithms },
        }
    }

    /// Accepts any one self-signed Ed25519 certificate in its validity
    /// window (the handshake signature is still verified): for a connection
    /// on which nothing is trusted until the key is proven otherwise.
    pub(crate) fn provisional(algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self {
            expected: None,
            signatures: Signatures { algorithms },
        }
    }
}

/// The key a server presented when it was not the one expected, if that is
/// why `error` (a failed connection) happened.
pub(crate) fn presented_other_key(error: &TlsError) -> Option<PublicKey> {
    let TlsError::Handshake { source, .. } = error else {
        return None;
    };
    let rustls::Error::Other(OtherError(inner)) =
        source.get_ref()?.downcast_ref::<rustls::Error>()?
    else {
        return None;
    };
    match inner.downcast_ref::<TlsError>()? {
        TlsError::UnexpectedServerKey { presented, .. } => Some(**presented),
        _ => None,
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        check_peer(end_entity, intermediates, now, |key| match self.expected {
            None => Ok(()),
            Some(expected) if *key == expected => Ok(()),
            Some(expected) => Err(TlsError::UnexpectedServerKey {
                expected: Box::new(expected),
                presented: Box::new(*key),
            }),
        })?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(tls12_refused())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Signatures::schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TlsIdentity;
    use comity_core::IdentityKey;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use time::OffsetDateTime;

    fn org(id: &str) -> OrgId {
        OrgId::new(id).unwrap()
    }

    fn algorithms() -> WebPkiSupportedAlgorithms {
        rustls::crypto::ring::default_provider().signature_verification_algorithms
    }

    fn pins(entries: &[(PublicKey, &str)]) -> Arc<dyn PinnedKeys> {
        Arc::new(RwLock::new(
            entries
                .iter()
                .map(|(k, o)| (*k, org(o)))
                .collect::<HashMap<_, _>>(),
        ))
    }

    fn now() -> UnixTime {
        UnixTime::now()
    }

    fn key_pair(key: &IdentityKey) -> KeyPair {
        KeyPair::try_from(key.to_pkcs8_der().unwrap()).unwrap()
    }

    /// The reason a verifier gave, as the crate error it wrapped.
    fn reason(err: &rustls::Error) -> String {
        match err {
            rustls::Error::Other(other) => match other.0.downcast_ref::<TlsError>() {
                Some(reason) => reason.to_string(),
                None => panic!("not a TlsError: {other}"),
            },
            other => panic!("unexpected error kind: {other:?}"),
        }
    }

    #[test]
    fn client_verifier_accepts_a_pinned_key_and_refuses_others() {
        let pinned = IdentityKey::generate();
        let stranger = IdentityKey::generate();
        let verifier = PinnedClientVerifier::new(pins(&[(pinned.public(), "ietf")]), algorithms());

        let good = TlsIdentity::new(&pinned, &org("ietf")).unwrap();
        assert!(
            verifier
                .verify_client_cert(good.certificate(), &[], now())
                .is_ok()
        );

        // The name says "ietf" too, but names count for nothing.
        let bad = TlsIdentity::new(&stranger, &org("ietf")).unwrap();
        let err = verifier
            .verify_client_cert(bad.certificate(), &[], now())
            .unwrap_err();
        assert!(reason(&err).contains("not pinned"), "{err}");
        assert!(
            reason(&err).contains(&stranger.public().to_string()),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("other error: the client's key ed25519:"),
            "{err}"
        );
    }

    #[test]
    fn pins_added_at_runtime_are_seen_by_the_next_handshake() {
        let key = IdentityKey::generate();
        let table = Arc::new(RwLock::new(HashMap::new()));
        let verifier = PinnedClientVerifier::new(table.clone(), algorithms());
        let cert = TlsIdentity::new(&key, &org("ripe-ncc")).unwrap();
        assert!(
            verifier
                .verify_client_cert(cert.certificate(), &[], now())
                .is_err()
        );
        table.write().unwrap().insert(key.public(), org("ripe-ncc"));
        assert!(
            verifier
                .verify_client_cert(cert.certificate(), &[], now())
                .is_ok()
        );
    }

    #[test]
    fn any_chain_is_refused_even_with_a_pinned_leaf() {
        let pinned = IdentityKey::generate();
        let verifier = PinnedClientVerifier::new(pins(&[(pinned.public(), "ietf")]), algorithms());
        let cert = TlsIdentity::new(&pinned, &org("ietf")).unwrap();
        let err = verifier
            .verify_client_cert(cert.certificate(), &[cert.certificate().clone()], now())
            .unwrap_err();
        assert!(
            reason(&err).contains("1 certificate(s) after its own"),
            "{err}"
        );
    }

    #[test]
    fn a_certificate_issued_by_a_pinned_peer_is_refused() {
        // The trap: a pinned CA-capable peer issues a certificate for a new key.
        let issuer_key = IdentityKey::generate();
        let mut ca = CertificateParams::new(vec!["ietf".to_owned()]).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = Issuer::new(ca, key_pair(&issuer_key));
        let victim_key = IdentityKey::generate();
        let forged = CertificateParams::new(vec!["icann".to_owned()])
            .unwrap()
            .signed_by(&key_pair(&victim_key), &issuer)
            .unwrap();

        let verifier =
            PinnedClientVerifier::new(pins(&[(issuer_key.public(), "ietf")]), algorithms());
        let err = verifier
            .verify_client_cert(forged.der(), &[], now())
            .unwrap_err();
        assert!(reason(&err).contains("not pinned"), "{err}");
    }

    #[test]
    fn a_pinned_key_in_a_certificate_signed_by_someone_else_is_refused() {
        let pinned = IdentityKey::generate();
        let other = IdentityKey::generate();
        let issuer = Issuer::new(
            CertificateParams::new(vec!["other".to_owned()]).unwrap(),
            key_pair(&other),
        );
        let cert = CertificateParams::new(vec!["ietf".to_owned()])
            .unwrap()
            .signed_by(&key_pair(&pinned), &issuer)
            .unwrap();
        let verifier = PinnedClientVerifier::new(pins(&[(pinned.public(), "ietf")]), algorithms());
        let err = verifier
            .verify_client_cert(cert.der(), &[], now())
            .unwrap_err();
        assert!(reason(&err).contains("not self-signed"), "{err}");
    }

    #[test]
    fn certificates_outside_their_validity_window_are_refused() {
        let key = IdentityKey::generate();
        let verifier = PinnedClientVerifier::new(pins(&[(key.public(), "ietf")]), algorithms());
        let now_dt = OffsetDateTime::now_utc();
        let make = |from: time::Duration, to: time::Duration| {
            let mut params = CertificateParams::new(vec!["ietf".to_owned()]).unwrap();
            params.not_before = now_dt + from;
            params.not_after = now_dt + to;
            params.self_signed(&key_pair(&key)).unwrap()
        };
        let expired = make(time::Duration::days(-10), time::Duration::days(-1));
        let err = verifier
            .verify_client_cert(expired.der(), &[], now())
            .unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
            ),
            "{err:?}"
        );
        let future = make(time::Duration::days(1), time::Duration::days(10));
        let err = verifier
            .verify_client_cert(future.der(), &[], now())
            .unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext { .. })
            ),
            "{err:?}"
        );
        let current = make(time::Duration::days(-1), time::Duration::days(1));
        assert!(
            verifier
                .verify_client_cert(current.der(), &[], now())
                .is_ok()
        );
    }

    #[test]
    fn server_verifier_accepts_exactly_the_expected_key_whatever_the_name() {
        let server = IdentityKey::generate();
        let impostor = IdentityKey::generate();
        let verifier = PinnedServerVerifier::new(server.public(), algorithms());
        let name = ServerName::try_from("comity.invalid").unwrap();

        let good = TlsIdentity::new(&server, &org("some-other-name")).unwrap();
        assert!(
            verifier
                .verify_server_cert(good.certificate(), &[], &name, &[], now())
                .is_ok()
        );

        let bad = TlsIdentity::new(&impostor, &org("ietf")).unwrap();
        let err = verifier
            .verify_server_cert(bad.certificate(), &[], &name, &[], now())
            .unwrap_err();
        let reason = reason(&err);
        assert!(reason.contains(&impostor.public().to_string()), "{reason}");
        assert!(reason.contains(&server.public().to_string()), "{reason}");
    }

    #[test]
    fn only_ed25519_signatures_are_offered() {
        // The handshake signatures themselves are checked end to end in
        // tests/pinning.rs (rustls does not let us build a signed struct here).
        let key = IdentityKey::generate();
        let server = PinnedServerVerifier::new(key.public(), algorithms());
        let client = PinnedClientVerifier::new(pins(&[]), algorithms());
        assert_eq!(
            server.supported_verify_schemes(),
            [SignatureScheme::ED25519]
        );
        assert_eq!(
            client.supported_verify_schemes(),
            [SignatureScheme::ED25519]
        );
        assert!(client.offer_client_auth() && client.client_auth_mandatory());
        assert!(client.root_hint_subjects().is_empty());
    }
}
