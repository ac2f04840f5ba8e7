//! Keys: every verifying key is prepared once — from a PEM, a shared secret or a JWKS document —
//! and carries the one algorithm family it may verify. The algorithm comes from the key, never
//! from the token.
//!
//! - [`algorithm`]: the JWS algorithms this crate verifies, and their families;
//! - [`key`]: a prepared [`VerifyingKey`](key::VerifyingKey) (RSA, EC, Ed25519 or HMAC);
//! - [`error`]: why a key cannot be prepared ([`KeyError`](error::KeyError));
//! - [`jwks`]: key sets, fetched, parsed and kept fresh.

pub(crate) mod algorithm;
pub(crate) mod error;
pub(crate) mod jwks;
pub(crate) mod key;
