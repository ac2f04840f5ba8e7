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
use base64::Engine as _;

use crate::keys::algorithm::{Algorithm, Family};

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

/// Why a key cannot be prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyError(pub(crate) String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn key_error(msg: impl Into<String>) -> KeyError {
    KeyError(msg.into())
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
    pub(crate) fn rsa(
        n: &[u8],
        e: &[u8],
        kid: Option<Arc<str>>,
        declared_alg: Option<Algorithm>,
        allowed: &[Algorithm],
        fingerprint: Vec<u8>,
    ) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_len(n);
        if bits < MIN_RSA_BITS {
            return Err(key_error(format!(
                "RSA key of {bits} bits is under the {MIN_RSA_BITS}-bit minimum"
            )));
        }
        if bits > MAX_RSA_BITS {
            return Err(key_error(format!("RSA key of {bits} bits is too large")));
        }
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err(key_error("RSA modulus is even"));
        }
        if !exponent_is_sound(e) {
            return Err(key_error(
                "RSA exponent must be odd, at least 65537 and at most 2^32 - 1",
            ));
        }
        let components = sig::RsaPublicKeyComponents { n, e };
        let algs = candidate_algorithms(Family::Rsa, declared_alg, allowed)?;
        let mut checks = Vec::with_capacity(algs.len());
        for alg in algs {
            let params = rsa_params(alg).ok_or_else(|| key_error("not an RSA algorithm"))?;
            let parsed = components
                .to_parsed_public_key(params)
                .map_err(|e| key_error(format!("invalid RSA key: {e}")))?;
            checks.push((alg, Check::Public(parsed)));
        }
        Ok(Self::assemble(kid, Family::Rsa, checks, fingerprint))
    }

    /// An EC key from its affine coordinates (each exactly the curve's size).
    pub(crate) fn ec(
        curve: Algorithm,
        x: &[u8],
        y: &[u8],
        kid: Option<Arc<str>>,
        declared_alg: Option<Algorithm>,
        allowed: &[Algorithm],
        fingerprint: Vec<u8>,
    ) -> Result<Self, KeyError> {
        let size = match curve {
            Algorithm::ES256 => 32,
            Algorithm::ES384 => 48,
            _ => return Err(key_error("unsupported curve")),
        };
        if x.len() != size || y.len() != size {
            return Err(key_error("EC coordinates have the wrong length"));
        }
        if declared_alg.is_some_and(|alg| alg != curve) {
            return Err(key_error("the key's alg does not fit its curve"));
        }
        if !allowed.contains(&curve) {
            return Err(key_error(format!(
                "{curve} is not among the accepted algorithms"
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let parsed = ParsedPublicKey::new(ec_params(curve), &point)
            .map_err(|e| key_error(format!("invalid EC key: {e}")))?;
        Ok(Self::assemble(
            kid,
            Family::Ec,
            vec![(curve, Check::Public(parsed))],
            fingerprint,
        ))
    }

    /// An Ed25519 key from its 32 public bytes.
    pub(crate) fn ed25519(
        x: &[u8],
        kid: Option<Arc<str>>,
        declared_alg: Option<Algorithm>,
        allowed: &[Algorithm],
        fingerprint: Vec<u8>,
    ) -> Result<Self, KeyError> {
        if x.len() != 32 {
            return Err(key_error("Ed25519 key is not 32 bytes"));
        }
        let algs = candidate_algorithms(Family::Okp, declared_alg, allowed)?;
        let parsed = ParsedPublicKey::new(&sig::ED25519, x)
            .map_err(|e| key_error(format!("invalid Ed25519 key: {e}")))?;
        let checks = algs
            .into_iter()
            .take(1)
            .map(|alg| (alg, Check::Public(parsed.clone())))
            .collect();
        Ok(Self::assemble(kid, Family::Okp, checks, fingerprint))
    }

    /// A shared secret for the HS* algorithms in `allowed`, each checked for its least length.
    pub(crate) fn secret(secret: &[u8], allowed: &[Algorithm]) -> Result<Self, KeyError> {
        let algs = candidate_algorithms(Family::Hmac, None, allowed)?;
        let mut checks = Vec::with_capacity(algs.len());
        for alg in algs {
            if secret.len() < alg.min_secret_len() {
                return Err(key_error(format!(
                    "a secret for {alg} must be at least {} bytes, this one has {}",
                    alg.min_secret_len(),
                    secret.len()
                )));
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
            return Err(key_error(format!(
                "expected a PUBLIC KEY block, found {label:?} (private keys are not accepted)"
            )));
        }
        let fingerprint = der.clone();
        // RSA?
        if let Ok(rsa) = aws_lc_rs::rsa::PublicKey::from_der(&der) {
            let bits = RsaParameters::public_modulus_len(rsa.as_ref())
                .map_err(|_| key_error("invalid RSA key"))?;
            if bits < MIN_RSA_BITS {
                return Err(key_error(format!(
                    "RSA key of {bits} bits is under the {MIN_RSA_BITS}-bit minimum"
                )));
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
            return Err(key_error("the key fits none of the configured algorithms"));
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
            return Err(key_error(format!(
                "the key's alg {alg} does not fit its type"
            )));
        }
        if !allowed.contains(&alg) {
            return Err(key_error(format!(
                "{alg} is not among the accepted algorithms"
            )));
        }
        return Ok(vec![alg]);
    }
    let algs: Vec<Algorithm> = allowed
        .iter()
        .copied()
        .filter(|a| a.family() == family)
        .collect();
    if algs.is_empty() {
        return Err(key_error("no accepted algorithm fits this key type"));
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

/// Decodes the single PEM block in `text`: its label and its DER bytes.
fn pem_decode(text: &str) -> Result<(String, Vec<u8>), KeyError> {
    let text = text.trim();
    let rest = text
        .strip_prefix("-----BEGIN ")
        .ok_or_else(|| key_error("not a PEM block (no -----BEGIN line)"))?;
    let (label, rest) = rest
        .split_once("-----")
        .ok_or_else(|| key_error("malformed PEM BEGIN line"))?;
    let end = format!("-----END {label}-----");
    let (body, tail) = rest
        .split_once(end.as_str())
        .ok_or_else(|| key_error(format!("no matching -----END {label}----- line")))?;
    if !tail.trim().is_empty() {
        return Err(key_error("text after the PEM block"));
    }
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| key_error("the PEM body is not valid base64"))?;
    Ok((label.to_owned(), der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_length_of_moduli() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
        let mut n = vec![0x80];
        n.extend([0u8; 255]);
        assert_eq!(bit_len(&n), 2048);
        n[0] = 0x7f;
        assert_eq!(bit_len(&n), 2047);
        assert_eq!(strip_leading_zeros(&[0, 0, 5]), &[5]);
    }

    #[test]
    fn rsa_exponents_must_be_odd_and_not_tiny() {
        assert!(exponent_is_sound(&[1, 0, 1]));
        assert!(exponent_is_sound(&[0xff, 0xff, 0xff, 0xff]));
        for bad in [
            &[][..],
            &[1],
            &[3],
            &[1, 0, 0],
            &[1, 0, 0, 0, 1],
            &[0, 255, 255],
        ] {
            assert!(!exponent_is_sound(bad), "{bad:?}");
        }
    }

    #[test]
    fn secrets_must_be_long_enough_for_their_algorithm() {
        assert!(VerifyingKey::secret(&[7; 31], &[Algorithm::HS256]).is_err());
        let key = VerifyingKey::secret(&[7; 32], &[Algorithm::HS256]).unwrap();
        assert!(key.fits(Algorithm::HS256));
        assert!(!key.fits(Algorithm::RS256));
        let err = VerifyingKey::secret(&[7; 40], &[Algorithm::HS256, Algorithm::HS384]);
        assert!(err.unwrap_err().0.contains("HS384"));
        // A secret never verifies an asymmetric algorithm, even when asked to.
        assert!(VerifyingKey::secret(&[7; 64], &[Algorithm::RS256]).is_err());
    }

    #[test]
    fn hmac_verifies_only_its_own_tag() {
        let key =
            VerifyingKey::secret(b"0123456789abcdef0123456789abcdef", &[Algorithm::HS256]).unwrap();
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef"),
            b"msg",
        );
        assert!(key.verify(Algorithm::HS256, b"msg", tag.as_ref()));
        assert!(!key.verify(Algorithm::HS256, b"msh", tag.as_ref()));
        assert!(!key.verify(Algorithm::HS384, b"msg", tag.as_ref()));
    }

    #[test]
    fn pem_rejects_private_keys_and_garbage() {
        let err = VerifyingKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            &[Algorithm::RS256],
        )
        .unwrap_err();
        assert!(err.0.contains("private keys"), "{err}");
        assert!(VerifyingKey::from_pem("hello", &[Algorithm::RS256]).is_err());
        assert!(
            VerifyingKey::from_pem(
                "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----",
                &[Algorithm::RS256]
            )
            .is_err()
        );
    }

    #[test]
    fn declared_alg_must_fit_the_key_type() {
        let err = candidate_algorithms(Family::Rsa, Some(Algorithm::HS256), &[Algorithm::HS256]);
        assert!(err.is_err());
        let algs = candidate_algorithms(
            Family::Rsa,
            None,
            &[Algorithm::RS256, Algorithm::ES256, Algorithm::PS256],
        )
        .unwrap();
        assert_eq!(algs, vec![Algorithm::RS256, Algorithm::PS256]);
    }
}
