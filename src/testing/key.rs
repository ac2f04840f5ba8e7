//! The signing keys of the test kit: RSA, EC and HMAC keys that sign tokens with aws-lc-rs
//! directly (not through the code that verifies them) and publish their public JWK.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::keys::algorithm::Algorithm;

/// A signing key of the test issuer.
pub struct TestKey {
    kid: String,
    alg: Algorithm,
    signer: Signer,
    jwk: Value,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// A new RSA-2048 key for `alg` (RS256/384/512, PS256/384/512).
    ///
    /// # Panics
    ///
    /// If key generation fails or `alg` is not an RSA algorithm (test code only).
    #[allow(clippy::expect_used, clippy::panic)]
    #[must_use]
    pub fn rsa(kid: &str, alg: Algorithm) -> Self {
        assert!(matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ));
        let pair =
            RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key generation");
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let jwk = json!({
            "kty": "RSA", "kid": kid, "alg": alg.as_str(), "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "e": URL_SAFE_NO_PAD.encode(&components.e),
        });
        Self {
            kid: kid.to_owned(),
            alg,
            signer: Signer::Rsa(pair),
            jwk,
        }
    }

    /// A new EC key for ES256 (P-256) or ES384 (P-384).
    ///
    /// # Panics
    ///
    /// If key generation fails or `alg` is not ES256 or ES384 (test code only).
    #[allow(clippy::expect_used, clippy::panic)]
    #[must_use]
    pub fn ec(kid: &str, alg: Algorithm) -> Self {
        let (signing, crv, size) = match alg {
            Algorithm::ES256 => (&sig::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
            Algorithm::ES384 => (&sig::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
            _ => panic!("not an EC algorithm: {alg}"),
        };
        let pair = EcdsaKeyPair::generate(signing).expect("EC key generation");
        let point = pair.public_key().as_ref().to_vec();
        let x = point.get(1..1 + size).expect("point x").to_vec();
        let y = point.get(1 + size..).expect("point y").to_vec();
        let jwk = json!({
            "kty": "EC", "kid": kid, "alg": alg.as_str(), "use": "sig", "crv": crv,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        });
        Self {
            kid: kid.to_owned(),
            alg,
            signer: Signer::Ec(pair),
            jwk,
        }
    }

    /// An HMAC key (for minting HS256/384/512 tokens against a secret issuer). It has no JWK:
    /// a secret is never published in a key set.
    #[must_use]
    pub fn hmac(secret: &[u8], alg: Algorithm) -> Self {
        let digest = match alg {
            Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
            Algorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
            _ => aws_lc_rs::hmac::HMAC_SHA256,
        };
        Self {
            kid: String::new(),
            alg,
            signer: Signer::Hmac(Box::new(aws_lc_rs::hmac::Key::new(digest, secret))),
            jwk: Value::Null,
        }
    }

    /// The key's `kid`.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK.
    #[must_use]
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// The public key as a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo), for an issuer built
    /// with [`Issuer::public_key_pem`](crate::Issuer::public_key_pem). `None` for an HMAC key,
    /// which has no public half.
    #[must_use]
    pub fn public_key_pem(&self) -> Option<String> {
        use aws_lc_rs::encoding::AsDer;
        let der = match &self.signer {
            Signer::Rsa(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
            Signer::Ec(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
            Signer::Hmac(_) => return None,
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).ok()?);
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Some(pem)
    }

    /// Signs `signing_input` (`header.payload`) and returns the base64url signature.
    ///
    /// # Panics
    ///
    /// If signing fails (test code only).
    #[allow(clippy::expect_used)]
    #[must_use]
    pub fn sign_input(&self, signing_input: &str) -> String {
        let rng = SystemRandom::new();
        let msg = signing_input.as_bytes();
        let signature = match &self.signer {
            Signer::Rsa(pair) => {
                let encoding: &'static dyn sig::RsaEncoding = match self.alg {
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &rng, msg, &mut out)
                    .expect("RSA signing");
                out
            }
            Signer::Ec(pair) => pair.sign(&rng, msg).expect("EC signing").as_ref().to_vec(),
            Signer::Hmac(key) => aws_lc_rs::hmac::sign(key, msg).as_ref().to_vec(),
        };
        URL_SAFE_NO_PAD.encode(signature)
    }
}
