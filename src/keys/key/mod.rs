//! Verifying keys, prepared once: a public key parsed into aws-lc-rs's own form for each
//! algorithm it may verify, or an HMAC key.
//!
//! Parsing a key is done when a JWKS is loaded or the layer is built, never per request: a
//! verification is then a single call into aws-lc-rs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaParameters, VerificationAlgorithm};

use crate::keys::algorithm::{Algorithm, Family};
use crate::keys::error::KeyError;

mod pem;
use pem::pem_decode;

/// The least RSA modulus accepted, in bits (RFC 7518 §3.3).
pub(crate) const MIN_RSA_BITS: u32 = 2048;
/// The largest RSA modulus accepted, in bits (aws-lc-rs's bound).
pub(crate) const MAX_RSA_BITS: u32 = 8192;

static NEXT_KEY_ID: AtomicU64 = AtomicU64::new(1);

/// One prepared check for one algorithm.
enum Check {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// A key that verifies signatures, for a fixed set of algorithms.
pub(crate) struct VerifyingKey {
    /// A process-unique number: a verified-token cache entry names the key that verified it.
    id: u64,
    kid: Option<Arc<str>>,
    family: Family,
    checks: Vec<(Algorithm, Check)>,
    /// What makes two JWKs "identical copies": kty, material, kid, alg, use.
    fingerprint: Vec<u8>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("algorithms", &self.algorithms().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What a JWK says besides its key material, and what the issuer accepts: the arguments every
/// JWK constructor ([`VerifyingKey::rsa`], [`VerifyingKey::ec`], [`VerifyingKey::ed25519`])
/// takes.
#[derive(Debug)]
pub(crate) struct JwkMeta<'a> {
    /// The key's `kid`, if any.
    pub(crate) kid: Option<Arc<str>>,
    /// The key's own `alg`, if it declares one.
    pub(crate) declared_alg: Option<Algorithm>,
    /// The algorithms the issuer accepts.
    pub(crate) allowed: &'a [Algorithm],
    /// What makes two JWKs identical copies (see [`VerifyingKey::fingerprint`]).
    pub(crate) fingerprint: Vec<u8>,
}

impl VerifyingKey {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn kid(&self) -> Option<&Arc<str>> {
        self.kid.as_ref()
    }

    pub(crate) fn fingerprint(&self) -> &[u8] {
        &self.fingerprint
    }

    pub(crate) fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.checks.iter().map(|(alg, _)| *alg)
    }

    /// Whether this key may verify a token that names `alg`.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.checks.iter().any(|(a, _)| *a == alg)
    }

    /// Verifies `signature` over `message` with `alg`; false when the key does not take `alg`.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        match self.checks.iter().find(|(a, _)| *a == alg) {
            Some((_, Check::Public(key))) => key.verify_sig(message, signature).is_ok(),
            Some((_, Check::Hmac(key))) => hmac::verify(key, message, signature).is_ok(),
            None => false,
        }
    }

    /// An RSA key from its big-endian modulus and exponent.
    ///
    /// A single leading zero octet of the modulus is tolerated (some providers publish one).
    pub(crate) fn rsa(n: &[u8], e: &[u8], meta: JwkMeta<'_>) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_len(n);
        if bits < MIN_RSA_BITS {
            return Err(KeyError::RsaTooSmall {
                bits,
                min: MIN_RSA_BITS,
            });
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyError::RsaTooLarge { bits });
        }
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err(KeyError::RsaEvenModulus);
        }
        if !exponent_is_sound(e) {
            return Err(KeyError::RsaExponent);
        }
        let components = sig::RsaPublicKeyComponents { n, e };
        let algs = candidate_algorithms(Family::Rsa, meta.declared_alg, meta.allowed)?;
        let mut checks = Vec::with_capacity(algs.len());
        for alg in algs {
            let params = rsa_params(alg).ok_or(KeyError::NotRsaAlgorithm)?;
            let parsed = components
                .to_parsed_public_key(params)
                .map_err(|e| invalid("RSA", e))?;
            checks.push((alg, Check::Public(parsed)));
        }
        Ok(Self::assemble(
            meta.kid,
            Family::Rsa,
            checks,
            meta.fingerprint,
        ))
    }

    /// An EC key from its affine coordinates (each exactly the curve's size).
    pub(crate) fn ec(
        curve: Algorithm,
        x: &[u8],
        y: &[u8],
        meta: JwkMeta<'_>,
    ) -> Result<Self, KeyError> {
        let size = match curve {
            Algorithm::ES256 => 32,
            Algorithm::ES384 => 48,
            _ => return Err(KeyError::UnsupportedCurve),
        };
        if x.len() != size || y.len() != size {
            return Err(KeyError::EcCoordinateLength);
        }
        if meta.declared_alg.is_some_and(|alg| alg != curve) {
            return Err(KeyError::AlgDoesNotFitCurve);
        }
        if !meta.allowed.contains(&curve) {
            return Err(KeyError::NotAccepted(curve));
        }
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let parsed =
            ParsedPublicKey::new(ec_params(curve), &point).map_err(|e| invalid("EC", e))?;
        Ok(Self::assemble(
            meta.kid,
            Family::Ec,
            vec![(curve, Check::Public(parsed))],
            meta.fingerprint,
        ))
    }

    /// An Ed25519 key from its 32 public bytes.
    pub(crate) fn ed25519(x: &[u8], meta: JwkMeta<'_>) -> Result<Self, KeyError> {
        if x.len() != 32 {
            return Err(KeyError::Ed25519Length);
        }
        let algs = candidate_algorithms(Family::Okp, meta.declared_alg, meta.allowed)?;
        let parsed = ParsedPublicKey::new(&sig::ED25519, x).map_err(|e| invalid("Ed25519", e))?;
        let checks = algs
            .into_iter()
            .take(1)
            .map(|alg| (alg, Check::Public(parsed.clone())))
            .collect();
        Ok(Self::assemble(
            meta.kid,
            Family::Okp,
            checks,
            meta.fingerprint,
        ))
    }

    /// A shared secret for the HS* algorithms in `allowed`, each checked for its least length.
    pub(crate) fn secret(secret: &[u8], allowed: &[Algorithm]) -> Result<Self, KeyError> {
        let algs = candidate_algorithms(Family::Hmac, None, allowed)?;
        let mut checks = Vec::with_capacity(algs.len());
        for alg in algs {
            if secret.len() < alg.min_secret_len() {
                return Err(KeyError::SecretTooShort {
                    alg,
                    min: alg.min_secret_len(),
                    len: secret.len(),
                });
            }
            let digest = match alg {
                Algorithm::HS384 => hmac::HMAC_SHA384,
                Algorithm::HS512 => hmac::HMAC_SHA512,
                _ => hmac::HMAC_SHA256,
            };
            checks.push((alg, Check::Hmac(Box::new(hmac::Key::new(digest, secret)))));
        }
        // A digest, never the secret: it lets the builder see two issuers sharing one secret.
        let fingerprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret)
            .as_ref()
            .to_vec();
        Ok(Self::assemble(None, Family::Hmac, checks, fingerprint))
    }

    /// A public key in PEM (`PUBLIC KEY`, i.e. SubjectPublicKeyInfo, or `RSA PUBLIC KEY`),
    /// prepared for every algorithm in `allowed` that fits it.
    pub(crate) fn from_pem(pem: &str, allowed: &[Algorithm]) -> Result<Self, KeyError> {
        let (label, der) = pem_decode(pem)?;
        if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
            return Err(KeyError::NotPublicKeyPem { label });
        }
        let fingerprint = der.clone();
        // RSA?
        if let Ok(rsa) = aws_lc_rs::rsa::PublicKey::from_der(&der) {
            let bits =
                RsaParameters::public_modulus_len(rsa.as_ref()).map_err(|_| KeyError::Invalid {
                    kty: "RSA",
                    detail: None,
                })?;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::RsaTooSmall {
                    bits,
                    min: MIN_RSA_BITS,
                });
            }
            let mut checks = Vec::new();
            for alg in allowed
                .iter()
                .copied()
                .filter(|a| a.family() == Family::Rsa)
            {
                if let Some(params) = rsa_params(alg)
                    && let Ok(parsed) = ParsedPublicKey::new(params, &der)
                {
                    checks.push((alg, Check::Public(parsed)));
                }
            }
            return Self::non_empty(Family::Rsa, checks, fingerprint);
        }
        let mut checks = Vec::new();
        let mut family = Family::Ec;
        for alg in allowed.iter().copied() {
            let parsed = match alg {
                Algorithm::ES256 | Algorithm::ES384 => ParsedPublicKey::new(ec_params(alg), &der),
                Algorithm::EdDSA => {
                    family = Family::Okp;
                    ParsedPublicKey::new(&sig::ED25519, &der)
                }
                _ => continue,
            };
            if let Ok(parsed) = parsed {
                checks.push((alg, Check::Public(parsed)));
            }
        }
        if checks.iter().any(|(a, _)| *a == Algorithm::EdDSA) {
            checks.retain(|(a, _)| *a == Algorithm::EdDSA);
        } else {
            family = Family::Ec;
        }
        Self::non_empty(family, checks, fingerprint)
    }

    fn non_empty(
        family: Family,
        checks: Vec<(Algorithm, Check)>,
        fingerprint: Vec<u8>,
    ) -> Result<Self, KeyError> {
        if checks.is_empty() {
            return Err(KeyError::FitsNoAlgorithm);
        }
        Ok(Self::assemble(None, family, checks, fingerprint))
    }

    fn assemble(
        kid: Option<Arc<str>>,
        family: Family,
        checks: Vec<(Algorithm, Check)>,
        fingerprint: Vec<u8>,
    ) -> Self {
        Self {
            id: NEXT_KEY_ID.fetch_add(1, Ordering::Relaxed),
            kid,
            family,
            checks,
            fingerprint,
        }
    }
}

/// The algorithms a key of `family` will verify: its declared `alg` if it has one (which must
/// be accepted), else every accepted algorithm of its family.
fn candidate_algorithms(
    family: Family,
    declared: Option<Algorithm>,
    allowed: &[Algorithm],
) -> Result<Vec<Algorithm>, KeyError> {
    if let Some(alg) = declared {
        if alg.family() != family {
            return Err(KeyError::AlgDoesNotFitType(alg));
        }
        if !allowed.contains(&alg) {
            return Err(KeyError::NotAccepted(alg));
        }
        return Ok(vec![alg]);
    }
    let algs: Vec<Algorithm> = allowed
        .iter()
        .copied()
        .filter(|a| a.family() == family)
        .collect();
    if algs.is_empty() {
        return Err(KeyError::NoAlgorithmForType);
    }
    Ok(algs)
}

fn rsa_params(alg: Algorithm) -> Option<&'static RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn ec_params(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        _ => &sig::ECDSA_P256_SHA256_FIXED,
    }
}

/// An RSA public exponent (leading zeros stripped) that is odd and in `[65537, 2^32 - 1]`
/// (RFC 7518 §6.3.1.2 only asks for a positive integer; tiny or even exponents are how broken
/// or hostile key sets look).
fn exponent_is_sound(e: &[u8]) -> bool {
    if e.len() > 4 || e.last().is_none_or(|b| b & 1 == 0) {
        return false;
    }
    let value = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    value >= 65_537
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn bit_len(n: &[u8]) -> u32 {
    match n.first() {
        None => 0,
        Some(first) => {
            let bytes = u32::try_from(n.len()).unwrap_or(u32::MAX);
            bytes.saturating_sub(1).saturating_mul(8) + (8 - first.leading_zeros())
        }
    }
}

/// aws-lc-rs refused the material of a `kty` key.
fn invalid(kty: &'static str, err: impl fmt::Display) -> KeyError {
    KeyError::Invalid {
        kty,
        detail: Some(err.to_string()),
    }
}

#[cfg(test)]
mod tests;
