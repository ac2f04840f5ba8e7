//! Why a key cannot be prepared: one variant per failure, and the text a configuration error or
//! a log line shows for it.

use std::fmt;

use crate::keys::algorithm::Algorithm;

/// Why a key cannot be prepared. Its `Display` is the text a configuration error or a log line
/// shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// An RSA modulus of `bits`, under the `min` bits accepted
    /// ([`MIN_RSA_BITS`](crate::keys::key::MIN_RSA_BITS)).
    RsaTooSmall { bits: u32, min: u32 },
    /// An RSA modulus over [`MAX_RSA_BITS`](crate::keys::key::MAX_RSA_BITS).
    RsaTooLarge { bits: u32 },
    /// An even RSA modulus.
    RsaEvenModulus,
    /// An RSA exponent that is even, under 65537 or over 2^32 - 1.
    RsaExponent,
    /// An algorithm without RSA parameters asked of an RSA key.
    NotRsaAlgorithm,
    /// aws-lc-rs refused the key material (`kty` names the key type, `detail` its error).
    Invalid {
        kty: &'static str,
        detail: Option<String>,
    },
    /// An EC curve this crate does not verify.
    UnsupportedCurve,
    /// EC coordinates of the wrong size for their curve.
    EcCoordinateLength,
    /// The key's declared `alg` is not its curve's.
    AlgDoesNotFitCurve,
    /// The key's declared `alg` is of another key type.
    AlgDoesNotFitType(Algorithm),
    /// The key's algorithm is not among the accepted ones.
    NotAccepted(Algorithm),
    /// No accepted algorithm is of the key's type.
    NoAlgorithmForType,
    /// An Ed25519 key that is not 32 bytes.
    Ed25519Length,
    /// A shared secret shorter than its algorithm needs.
    SecretTooShort {
        alg: Algorithm,
        min: usize,
        len: usize,
    },
    /// A PEM key that fits none of the configured algorithms.
    FitsNoAlgorithm,
    /// A PEM block that is not a public key.
    NotPublicKeyPem { label: String },
    /// Text that does not start with a `-----BEGIN` line.
    NotPem,
    /// A `-----BEGIN` line without its closing dashes.
    MalformedPemBegin,
    /// No `-----END` line matching the `-----BEGIN` one.
    NoPemEnd { label: String },
    /// Text after the `-----END` line.
    TextAfterPem,
    /// A PEM body that is not base64.
    PemNotBase64,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RsaTooSmall { bits, min } => {
                write!(f, "RSA key of {bits} bits is under the {min}-bit minimum")
            }
            Self::RsaTooLarge { bits } => write!(f, "RSA key of {bits} bits is too large"),
            Self::RsaEvenModulus => f.write_str("RSA modulus is even"),
            Self::RsaExponent => {
                f.write_str("RSA exponent must be odd, at least 65537 and at most 2^32 - 1")
            }
            Self::NotRsaAlgorithm => f.write_str("not an RSA algorithm"),
            Self::Invalid { kty, detail: None } => write!(f, "invalid {kty} key"),
            Self::Invalid {
                kty,
                detail: Some(detail),
            } => write!(f, "invalid {kty} key: {detail}"),
            Self::UnsupportedCurve => f.write_str("unsupported curve"),
            Self::EcCoordinateLength => f.write_str("EC coordinates have the wrong length"),
            Self::AlgDoesNotFitCurve => f.write_str("the key's alg does not fit its curve"),
            Self::AlgDoesNotFitType(alg) => write!(f, "the key's alg {alg} does not fit its type"),
            Self::NotAccepted(alg) => write!(f, "{alg} is not among the accepted algorithms"),
            Self::NoAlgorithmForType => f.write_str("no accepted algorithm fits this key type"),
            Self::Ed25519Length => f.write_str("Ed25519 key is not 32 bytes"),
            Self::SecretTooShort { alg, min, len } => write!(
                f,
                "a secret for {alg} must be at least {min} bytes, this one has {len}"
            ),
            Self::FitsNoAlgorithm => f.write_str("the key fits none of the configured algorithms"),
            Self::NotPublicKeyPem { label } => write!(
                f,
                "expected a PUBLIC KEY block, found {label:?} (private keys are not accepted)"
            ),
            Self::NotPem => f.write_str("not a PEM block (no -----BEGIN line)"),
            Self::MalformedPemBegin => f.write_str("malformed PEM BEGIN line"),
            Self::NoPemEnd { label } => write!(f, "no matching -----END {label}----- line"),
            Self::TextAfterPem => f.write_str("text after the PEM block"),
            Self::PemNotBase64 => f.write_str("the PEM body is not valid base64"),
        }
    }
}
