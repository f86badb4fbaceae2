//! TLS identity from a unit key, and the verifier that accepts only keys the federation's trust
//! directory holds valid now.
//!
//! The certificate is only an envelope for the unit's public key and unit id: rustls and QUIC
//! need X.509. Its self-signature, validity dates and issuer are not checked, because they prove
//! nothing here; what proves the peer is (1) the TLS 1.3 `CertificateVerify` signature, made
//! with the private key matching the certificate's ed25519 key, and (2) the trust directory
//! saying that key is a valid key of the unit the certificate names, now.

use std::fmt;
use std::sync::{Arc, RwLock};

use ed25519_dalek::SigningKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use sync_protocol::directory::Directory;
use sync_protocol::entry::{Entry, EntryBody};
use sync_protocol::ids::{UnitId, UnitKey};
use sync_protocol::limits::{MAX_ENTRY_BYTES, MAX_PRESENTED_TRUST_ENTRIES};

use crate::keys::{self, KeyError};
use crate::node::KEY_FILE;
use crate::Node;

/// The subject-alternative-name URI prefix naming a unit in a node's certificate:
/// `urn:sangkien:unit:<unit id>`.
pub const UNIT_URI_PREFIX: &str = "urn:sangkien:unit:";

/// The subject-alternative-name URI prefix of a certificate entry a node presents with its
/// key (hex of the entry's canonical bytes): its chain, so that a peer that has not yet
/// received a rotation can check the new key against the keys it already trusts (at most
/// [`MAX_PRESENTED_TRUST_ENTRIES`]).
pub const TRUST_URI_PREFIX: &str = "urn:sangkien:trust:";

/// Why a node's TLS identity could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The key file.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The certificate could not be built.
    #[error("could not build the TLS certificate of unit {unit}: {reason}")]
    Certificate {
        /// the unit
        unit: UnitId,
        /// what failed
        reason: String,
    },
}

/// A node's TLS identity: a self-signed certificate carrying its unit id and its ed25519 unit
/// key, and that key in PKCS#8 form for rustls.
pub struct QuicIdentity {
    unit: UnitId,
    key: UnitKey,
    certificate: CertificateDer<'static>,
    pkcs8: Vec<u8>,
}

impl fmt::Debug for QuicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        write!(f, "QuicIdentity({} key {})", self.unit, self.key.short())
    }
}

impl QuicIdentity {
    /// The identity of `unit` holding `key`, presenting no certificate.
    pub fn new(unit: UnitId, key: &SigningKey) -> Result<Self, IdentityError> {
        Self::with_chain(unit, key, &[])
    }

    /// The identity of `unit` holding `key`, presenting `chain` (certificate entries: its own
    /// and its ancestors', at most [`MAX_PRESENTED_TRUST_ENTRIES`]; the rest is left out).
    pub fn with_chain(
        unit: UnitId,
        key: &SigningKey,
        chain: &[Entry],
    ) -> Result<Self, IdentityError> {
        let fail = |reason: String| IdentityError::Certificate {
            unit: unit.clone(),
            reason,
        };
        let mut pkcs8 = Vec::with_capacity(PKCS8_ED25519_PREFIX.len() + 32);
        pkcs8.extend_from_slice(&PKCS8_ED25519_PREFIX);
        pkcs8.extend_from_slice(&key.to_bytes());
        let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(pkcs8.as_slice()),
            &rcgen::PKCS_ED25519,
        )
        .map_err(|e| fail(format!("key: {e}")))?;
        let uri = rcgen::Ia5String::try_from(format!("{UNIT_URI_PREFIX}{unit}"))
            .map_err(|e| fail(format!("unit name: {e}")))?;
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = vec![rcgen::SanType::URI(uri)];
        for e in chain
            .iter()
            .filter(|e| matches!(e.body(), EntryBody::Certificate(_)))
            .take(MAX_PRESENTED_TRUST_ENTRIES)
        {
            let uri =
                rcgen::Ia5String::try_from(format!("{TRUST_URI_PREFIX}{}", hex::encode(e.bytes())))
                    .map_err(|e| fail(format!("certificate entry: {e}")))?;
            params.subject_alt_names.push(rcgen::SanType::URI(uri));
        }
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, unit.as_str());
        let certificate = params
            .self_signed(&key_pair)
            .map_err(|e| fail(format!("signing: {e}")))?
            .der()
            .clone();
        let public = UnitKey(key.verifying_key().to_bytes());
        // What we present must be what a peer will read back.
        let (read_unit, read_key) = peer_of_certificate(&certificate).map_err(fail)?;
        assert!(
            read_unit == unit && read_key == public,
            "certificate does not carry the unit and key it was built from"
        );
        Ok(Self {
            unit,
            key: public,
            certificate,
            pkcs8,
        })
    }

    /// The identity of `node`, reading its key from the node's key file (`unit.key`) and
    /// presenting its chain ([`chain_of`]).
    pub fn for_node(node: &Node) -> Result<Self, IdentityError> {
        let key = keys::read(&node.dir().join(KEY_FILE))?;
        let chain = chain_of(node);
        Self::with_chain(node.unit().clone(), &key, &chain)
    }

    /// The unit.
    pub fn unit(&self) -> &UnitId {
        &self.unit
    }

    /// The unit's public key, which the certificate carries.
    pub fn public_key(&self) -> UnitKey {
        self.key
    }

    /// The certificate presented to peers.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone()))
    }
}

/// The certificates a node presents with its key: for itself and each ancestor (nearest
/// first), its certificates newest first, at most [`MAX_PRESENTED_TRUST_ENTRIES`] in all. A
/// rotation certificate comes with the one it replaces, so a peer can check it whole.
pub fn chain_of(node: &Node) -> Vec<Entry> {
    let d = node.directory();
    let now = crate::now_ms();
    let mut units = vec![node.unit().clone()];
    units.extend(d.ancestors_at(node.unit(), now));
    let mut out = Vec::new();
    for u in &units {
        let mut certs: Vec<_> = d.certificates_of(u).collect();
        certs.sort_by_key(|c| std::cmp::Reverse((c.from_ms, c.hash)));
        for c in certs {
            if out.len() >= MAX_PRESENTED_TRUST_ENTRIES {
                return out;
            }
            if let Ok(Some(e)) = sync_protocol::store::EntryLookup::entry(node.store(), &c.hash) {
                out.push(e);
            }
        }
    }
    out
}

/// Whether a peer's (unit, key) may talk to this node now.
pub trait PeerTrust: Send + Sync {
    /// `Ok` when `key` is a valid key of `unit` at `now_ms`; otherwise why not.
    fn check_peer(&self, unit: &UnitId, key: &UnitKey, now_ms: u64) -> Result<(), String>;
    /// [`PeerTrust::check_peer`], accepting also a key that the certificates the peer
    /// `presented` prove (see [`sync_protocol::import::key_valid_with_presented`]).
    fn check_peer_presented(
        &self,
        unit: &UnitId,
        key: &UnitKey,
        now_ms: u64,
        presented: &[Entry],
    ) -> Result<(), String> {
        let _ = presented;
        self.check_peer(unit, key, now_ms)
    }
}

impl PeerTrust for RwLock<Directory> {
    fn check_peer(&self, unit: &UnitId, key: &UnitKey, now_ms: u64) -> Result<(), String> {
        let directory = self
            .read()
            .map_err(|_| "the trust directory is unavailable (a writer panicked)".to_string())?;
        directory.check_peer(unit, key, now_ms)
    }
    fn check_peer_presented(
        &self,
        unit: &UnitId,
        key: &UnitKey,
        now_ms: u64,
        presented: &[Entry],
    ) -> Result<(), String> {
        let directory = self
            .read()
            .map_err(|_| "the trust directory is unavailable (a writer panicked)".to_string())?;
        directory.check_peer_presented(unit, key, now_ms, presented)
    }
}

impl PeerTrust for Directory {
    fn check_peer(&self, unit: &UnitId, key: &UnitKey, now_ms: u64) -> Result<(), String> {
        self.key_valid_at(unit, key, now_ms)
            .map_err(|problem| format!("{problem:?}"))
    }
    fn check_peer_presented(
        &self,
        unit: &UnitId,
        key: &UnitKey,
        now_ms: u64,
        presented: &[Entry],
    ) -> Result<(), String> {
        sync_protocol::import::key_valid_with_presented(self, unit, key, now_ms, presented)
            .map_err(|problem| format!("{problem:?}"))
    }
}

/// The certificate verifier of both sides of a handshake: replaces WebPKI with the federation's
/// own, stronger check (see the module doc). TLS 1.3 and ed25519 only.
#[derive(Clone)]
pub struct FederationVerifier {
    trust: Arc<dyn PeerTrust>,
    clock: fn() -> u64,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for FederationVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FederationVerifier")
    }
}

impl FederationVerifier {
    /// A verifier asking `trust`, with the node's wall clock ([`crate::now_ms`]) as "now".
    pub fn new(trust: Arc<dyn PeerTrust>) -> Self {
        Self::with_clock(trust, crate::now_ms)
    }

    /// A verifier over a shared, updatable trust directory: the node driver updates it as
    /// certificates and revocations arrive, and every later handshake sees the change.
    pub fn for_directory(directory: Arc<RwLock<Directory>>) -> Self {
        Self::new(directory)
    }

    /// A verifier with another clock (Unix milliseconds).
    pub fn with_clock(trust: Arc<dyn PeerTrust>, clock: fn() -> u64) -> Self {
        Self {
            trust,
            clock,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }

    /// Whether a peer already connected is still trusted now: the driver calls this for its
    /// open connections when the trust directory changes (a revocation arrived) and closes
    /// those that fail; the handshake check alone only covers new connections.
    pub fn check_peer_now(&self, unit: &UnitId, key: &UnitKey) -> Result<(), String> {
        self.trust.check_peer(unit, key, (self.clock)())
    }

    /// Checks a presented certificate chain and returns the peer it proves, if the trust
    /// directory holds its key valid for its unit now. The caller must still check the handshake
    /// signature (rustls does, through this verifier).
    pub fn check_certificate(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(UnitId, UnitKey), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(refused(format!(
                "{} intermediate certificates sent; a node presents exactly one",
                intermediates.len()
            )));
        }
        let (unit, key) = peer_of_certificate(end_entity).map_err(|reason| {
            tracing::warn!(%reason, "refused a peer certificate");
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding)
        })?;
        let presented = presented_of_certificate(end_entity).map_err(|reason| {
            tracing::warn!(%reason, "refused a peer certificate");
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding)
        })?;
        self.trust
            .check_peer_presented(&unit, &key, (self.clock)(), &presented)
            .map_err(|reason| {
                tracing::warn!(%unit, key = %key.short(), %reason, "refused a peer");
                refused(format!(
                    "unit {unit} key {} is not valid in this federation now: {reason}",
                    key.short()
                ))
            })?;
        Ok((unit, key))
    }

    fn check_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

impl ServerCertVerifier for FederationVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The server name is not used: who the server is comes from its key and the directory.
        self.check_certificate(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::PeerIncompatible::Tls13RequiredForQuic.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for FederationVerifier {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check_certificate(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::PeerIncompatible::Tls13RequiredForQuic.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }
}

/// The unit and ed25519 key a certificate names, or why it names none. Reads only the subject
/// public key and the subject-alternative-name URIs; exactly one must name a unit.
pub(crate) fn peer_of_certificate(cert: &CertificateDer<'_>) -> Result<(UnitId, UnitKey), String> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let spki = parsed.subject_public_key_info();
    let key = spki
        .as_ref()
        .strip_prefix(&SPKI_ED25519_PREFIX[..])
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or("the certificate's key is not an ed25519 key")?;
    let mut units = parsed
        .valid_uri_names()
        .filter_map(|uri| uri.strip_prefix(UNIT_URI_PREFIX));
    let unit = units.next().ok_or("the certificate names no unit")?;
    if units.next().is_some() {
        return Err("the certificate names more than one unit".into());
    }
    let unit = UnitId::new(unit).map_err(|e| format!("the certificate's unit id: {e}"))?;
    Ok((unit, UnitKey(key)))
}

/// The certificate entries a peer's certificate presents ([`TRUST_URI_PREFIX`]), or why they
/// cannot be read: more than [`MAX_PRESENTED_TRUST_ENTRIES`] (counted before any is decoded),
/// one over [`MAX_ENTRY_BYTES`], or one that does not decode with a valid signature.
pub(crate) fn presented_of_certificate(cert: &CertificateDer<'_>) -> Result<Vec<Entry>, String> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let count = parsed
        .valid_uri_names()
        .filter(|u| u.starts_with(TRUST_URI_PREFIX))
        .count();
    if count > MAX_PRESENTED_TRUST_ENTRIES {
        return Err(format!(
            "{count} certificate entries presented, over the limit of {MAX_PRESENTED_TRUST_ENTRIES}"
        ));
    }
    let mut out = Vec::with_capacity(count);
    for h in parsed
        .valid_uri_names()
        .filter_map(|u| u.strip_prefix(TRUST_URI_PREFIX))
    {
        if h.len() > 2 * MAX_ENTRY_BYTES {
            return Err("a presented certificate entry is over the entry limit".into());
        }
        let bytes = hex::decode(h).map_err(|e| format!("a presented certificate entry: {e}"))?;
        let entry =
            Entry::decode(&bytes).map_err(|e| format!("a presented certificate entry: {e}"))?;
        out.push(entry);
    }
    Ok(out)
}

fn refused(reason: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(PeerRefused(
        reason,
    )))))
}

/// A peer refused by the federation check.
#[derive(Debug, thiserror::Error)]
#[error("peer refused: {0}")]
struct PeerRefused(String);

/// PKCS#8 v1 (RFC 8410) of an ed25519 private key, up to the 32 key bytes:
/// `SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }`.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// SubjectPublicKeyInfo of an ed25519 public key (RFC 8410), up to the 32 key bytes:
/// `SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (0 unused bits) }`.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
