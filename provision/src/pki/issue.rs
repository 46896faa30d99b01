//! Issuing one certificate (CA or leaf) from a profile, reusing what the state directory holds.
//!
//! Each certificate `<stem>` is stored as `<stem>.key` (secret, 0600), `<stem>.crt` and
//! `<stem>.descriptor`: the profile and issuer it was made for plus its expiry. A stored
//! certificate is reused when the descriptor still matches and it does not expire within
//! [`RENEW_WITHIN`]; otherwise it is reissued with the same key.

use std::fmt::Write as _;
use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType, SerialNumber,
    SigningKey,
};
use time::{Duration, OffsetDateTime};

use super::PkiError;
use crate::secrets::{RandomSource, Secret, SecretStore, random_bytes};

/// Leaf certificate lifetime: one year, as kubeadm issues them (`CertificateValidityPeriod =
/// time.Hour * 24 * 365`, kubernetes `cmd/kubeadm/app/constants/constants.go`).
pub const LEAF_VALIDITY: Duration = Duration::days(365);
/// CA lifetime: ten years, as kubeadm (`CACertificateValidityPeriod = time.Hour * 24 * 365 *
/// 10`, kubernetes `cmd/kubeadm/app/constants/constants.go`).
pub const CA_VALIDITY: Duration = Duration::days(3650);
/// `notBefore` is set this far before "now" to tolerate clock skew, as kubeadm does
/// (`CertificateBackdate = time.Minute * 5`, kubernetes `cmd/kubeadm/app/constants`).
pub const CERTIFICATE_BACKDATE: Duration = Duration::minutes(5);
/// Our choice: a stored certificate expiring within this window is reissued on render.
pub const RENEW_WITHIN: Duration = Duration::days(30);

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertUsage {
    /// A certificate authority (keyCertSign, cRLSign).
    Ca,
    /// TLS server and client (etcd server and peer certificates).
    ServerAndClient,
    /// TLS client only.
    Client,
}

/// The subject, SANs and usage of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertProfile {
    /// Subject common name.
    pub common_name: String,
    /// Subject organization (Kubernetes reads it as the group).
    pub organization: Option<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// Key and extended key usages.
    pub usage: CertUsage,
}

impl CertProfile {
    /// The same profile with another usage.
    pub fn with_usage(mut self, usage: CertUsage) -> Self {
        self.usage = usage;
        self
    }

    fn descriptor(&self, issuer: &str) -> String {
        let mut d = String::new();
        let _ = writeln!(d, "cn={}", self.common_name);
        if let Some(o) = &self.organization {
            let _ = writeln!(d, "o={o}");
        }
        for n in &self.dns_names {
            let _ = writeln!(d, "dns={n}");
        }
        for ip in &self.ip_addresses {
            let _ = writeln!(d, "ip={ip}");
        }
        let _ = writeln!(d, "usage={:?}", self.usage);
        let _ = writeln!(d, "issuer={issuer}");
        d
    }

    fn params(
        &self,
        stem: &str,
        key: &impl PublicKeyData,
        now: OffsetDateTime,
    ) -> Result<CertificateParams, PkiError> {
        let validity = if self.usage == CertUsage::Ca {
            CA_VALIDITY
        } else {
            LEAF_VALIDITY
        };
        let out_of_range = || PkiError::TimeOutOfRange {
            stem: stem.to_owned(),
        };
        let mut p = CertificateParams::default();
        p.not_before = now
            .checked_sub(CERTIFICATE_BACKDATE)
            .ok_or_else(out_of_range)?;
        p.not_after = now.checked_add(validity).ok_or_else(out_of_range)?;
        let mut dn = DistinguishedName::new();
        if let Some(o) = &self.organization {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        dn.push(DnType::CommonName, self.common_name.as_str());
        p.distinguished_name = dn;
        for name in &self.dns_names {
            let ia5 = name.clone().try_into().map_err(|source| PkiError::Rcgen {
                what: format!("DNS name {name:?} in {stem}"),
                source,
            })?;
            p.subject_alt_names.push(SanType::DnsName(ia5));
        }
        p.subject_alt_names
            .extend(self.ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
        // Unique per issue: issue time in ns, then key bytes (not only the key: a reissue
        // with the same key must not reuse a serial).
        let mut serial = vec![0x01];
        serial.extend_from_slice(&now.unix_timestamp_nanos().to_be_bytes()[4..]);
        serial.extend(key.der_bytes().iter().skip(1).take(7));
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        match self.usage {
            CertUsage::Ca => {
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                ];
            }
            CertUsage::ServerAndClient | CertUsage::Client => {
                p.is_ca = IsCa::ExplicitNoCa;
                p.use_authority_key_identifier_extension = true;
                p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                if self.usage == CertUsage::ServerAndClient {
                    p.extended_key_usages
                        .push(ExtendedKeyUsagePurpose::ServerAuth);
                }
                p.extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth);
            }
        }
        Ok(p)
    }
}

/// A certificate in PEM and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8), redacted in `Debug`.
    pub key: Secret,
}

fn rcgen_err(what: String) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Rcgen { what, source }
}

/// PKCS#8 wrapping of an RFC 5915 P-256 private key with its public key (the form OpenSSL's
/// `genpkey` writes, and the only one ring accepts): `PrivateKeyInfo { version 0,
/// id-ecPublicKey + prime256v1, OCTET STRING { ECPrivateKey { version 1, privateKey OCTET
/// STRING (32), [1] publicKey BIT STRING } } }`. The 32 key bytes follow this prefix, then
/// [`P256_PKCS8_PUBLIC_KEY_TAG`] and the 65-byte uncompressed point.
const P256_PKCS8_PREFIX: [u8; 36] = [
    0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
    0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02,
    0x01, 0x01, 0x04, 0x20,
];
/// `[1] { BIT STRING, 0 unused bits }` around the 65-byte uncompressed public point.
const P256_PKCS8_PUBLIC_KEY_TAG: [u8; 5] = [0xa1, 0x44, 0x03, 0x42, 0x00];
/// A P-256 key from its 32-byte scalar: the RFC 6979 signer, and rcgen's key pair built from
/// the full PKCS#8 form. `None` if the bytes are not a scalar in range.
fn p256_key(scalar: &[u8]) -> Option<(KeyPair, p256::ecdsa::SigningKey)> {
    let signer = p256::ecdsa::SigningKey::from_slice(scalar).ok()?;
    let mut der = P256_PKCS8_PREFIX.to_vec();
    der.extend_from_slice(scalar);
    der.extend_from_slice(&P256_PKCS8_PUBLIC_KEY_TAG);
    der.extend_from_slice(signer.verifying_key().to_sec1_point(false).as_bytes());
    let pair = KeyPair::try_from(der.as_slice()).ok()?;
    Some((pair, signer))
}

/// A stored P-256 key in PKCS#8 PEM, with or without its optional public key (keys written
/// before the switch to ring lack it, and ring refuses those).
pub(crate) fn p256_key_from_pem(
    pem: &str,
    what: &str,
) -> Result<(KeyPair, p256::ecdsa::SigningKey), PkiError> {
    use p256::pkcs8::DecodePrivateKey;
    let not_p256 = || PkiError::Rcgen {
        what: format!("{what} is not a P-256 key in PKCS#8 PEM"),
        source: rcgen::Error::CouldNotParseKeyPair,
    };
    let secret = p256::SecretKey::from_pkcs8_pem(pem).map_err(|_| not_p256())?;
    p256_key(&secret.to_bytes()).ok_or_else(not_p256)
}

/// A P-256 key drawn from `random` (a scalar in range, by rejection), as PKCS#8 PEM.
fn generate_key(random: &dyn RandomSource) -> Result<Secret, PkiError> {
    for _ in 0..64 {
        let bytes = random_bytes(random, 32).map_err(|e| PkiError::Rcgen {
            what: format!("drawing key bytes: {e}"),
            source: rcgen::Error::CouldNotParseKeyPair,
        })?;
        if let Some((pair, _)) = p256_key(&bytes) {
            return Ok(Secret::new(pair.serialize_pem()));
        }
    }
    Err(PkiError::Rcgen {
        what: "no valid P-256 scalar in 64 draws from the random source".to_owned(),
        source: rcgen::Error::CouldNotParseKeyPair,
    })
}

/// A stored P-256 key that signs deterministically (RFC 6979): the same key and message give
/// the same signature, so issuing is a pure function of its inputs.
struct DeterministicKey {
    pair: KeyPair,
    signer: p256::ecdsa::SigningKey,
}

impl DeterministicKey {
    fn from_pem(pem: &str, what: &str) -> Result<Self, PkiError> {
        let (pair, signer) = p256_key_from_pem(pem, what)?;
        Ok(DeterministicKey { pair, signer })
    }
}

impl PublicKeyData for DeterministicKey {
    fn der_bytes(&self) -> &[u8] {
        self.pair.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for DeterministicKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use p256::ecdsa::signature::Signer;
        let sig: p256::ecdsa::Signature = self
            .signer
            .try_sign(msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)?;
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

fn load_key(store: &SecretStore, stem: &str) -> Result<(Secret, DeterministicKey), PkiError> {
    let mut failure = None;
    let secret = store.get_or_create(&format!("{stem}.key"), |random| {
        generate_key(random).map_err(|e| {
            let text = e.to_string();
            failure = Some(e);
            std::io::Error::other(text)
        })
    });
    let secret = match (secret, failure) {
        (_, Some(e)) => return Err(e),
        (s, None) => s?,
    };
    let key = DeterministicKey::from_pem(secret.expose(), &format!("stored key {stem}.key"))?;
    Ok((secret, key))
}

/// The stored certificate if its descriptor matches and it is not about to expire.
fn reusable(
    store: &SecretStore,
    stem: &str,
    descriptor: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, PkiError> {
    let Some(stored) = store.read_public(&format!("{stem}.descriptor"))? else {
        return Ok(None);
    };
    let Some((first, rest)) = stored.split_once('\n') else {
        return Ok(None);
    };
    let not_after = first
        .strip_prefix("not-after=")
        .and_then(|s| s.parse::<i64>().ok());
    let fresh = match (not_after, now.checked_add(RENEW_WITHIN)) {
        (Some(t), Some(horizon)) => t > horizon.unix_timestamp(),
        _ => false,
    };
    if rest != descriptor || !fresh {
        return Ok(None);
    }
    store
        .read_public(&format!("{stem}.crt"))
        .map_err(Into::into)
}

fn store_cert(
    store: &SecretStore,
    stem: &str,
    pem: &str,
    descriptor: &str,
    not_after: OffsetDateTime,
) -> Result<(), PkiError> {
    store.write_public(&format!("{stem}.crt"), pem)?;
    store.write_public(
        &format!("{stem}.descriptor"),
        &format!("not-after={}\n{descriptor}", not_after.unix_timestamp()),
    )?;
    tracing::info!(certificate = stem, "issued certificate");
    Ok(())
}

/// The self-signed CA `<stem>`, issued now unless a matching one is stored.
pub fn ensure_ca(
    store: &SecretStore,
    stem: &str,
    profile: &CertProfile,
    now: OffsetDateTime,
) -> Result<IssuedCert, PkiError> {
    let (key, pair) = load_key(store, stem)?;
    let descriptor = profile.descriptor("self");
    if let Some(cert_pem) = reusable(store, stem, &descriptor, now)? {
        return Ok(IssuedCert { cert_pem, key });
    }
    let params = profile.params(stem, &pair, now)?;
    let cert = params
        .self_signed(&pair)
        .map_err(rcgen_err(format!("self-signing {stem}")))?;
    let cert_pem = cert.pem();
    store_cert(store, stem, &cert_pem, &descriptor, params.not_after)?;
    Ok(IssuedCert { cert_pem, key })
}

/// The leaf `<stem>` signed by `ca`, issued now unless a matching one is stored.
pub fn ensure_leaf(
    store: &SecretStore,
    stem: &str,
    profile: &CertProfile,
    ca: &IssuedCert,
    now: OffsetDateTime,
) -> Result<IssuedCert, PkiError> {
    let (key, pair) = load_key(store, stem)?;
    let ca_pair = DeterministicKey::from_pem(ca.key.expose(), &format!("the CA key for {stem}"))?;
    let issuer_id: String = ca_pair
        .pair
        .public_key_raw()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let descriptor = profile.descriptor(&issuer_id);
    if let Some(cert_pem) = reusable(store, stem, &descriptor, now)? {
        return Ok(IssuedCert { cert_pem, key });
    }
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_pair)
        .map_err(rcgen_err(format!("loading CA certificate for {stem}")))?;
    let params = profile.params(stem, &pair, now)?;
    let cert = params
        .signed_by(&pair, &issuer)
        .map_err(rcgen_err(format!("signing {stem}")))?;
    let cert_pem = cert.pem();
    store_cert(store, stem, &cert_pem, &descriptor, params.not_after)?;
    Ok(IssuedCert { cert_pem, key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::LineEnding;

    /// A key as this module wrote it before the switch to ring: RFC 5915 without the optional
    /// public key. ring refuses that form; the decoder still reads it, and the rebuilt key pair
    /// has the same public key as one generated from the same scalar today.
    #[test]
    fn a_stored_key_without_its_public_key_still_loads() {
        let scalar = [7u8; 32];
        let mut old = vec![
            0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27,
            0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
        ];
        old.extend_from_slice(&scalar);
        assert!(
            KeyPair::try_from(old.as_slice()).is_err(),
            "ring refuses it"
        );
        let pem = p256::pkcs8::SecretDocument::try_from(old.as_slice())
            .expect("DER")
            .to_pem("PRIVATE KEY", LineEnding::LF)
            .expect("PEM");
        let (pair, _) = p256_key_from_pem(&pem, "old key").expect("loads");
        let (fresh, _) = p256_key(&scalar).expect("in range");
        assert_eq!(
            pair.subject_public_key_info(),
            fresh.subject_public_key_info()
        );
        // And today's form round-trips through the same reader.
        let (again, _) = p256_key_from_pem(&fresh.serialize_pem(), "new key").expect("loads");
        assert_eq!(again.serialize_der(), fresh.serialize_der());
    }
}
