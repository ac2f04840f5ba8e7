//! Unit tests of `keys::key`: RSA bounds, secrets, HMAC, PEM and declared algorithms.

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
    assert!(err.unwrap_err().to_string().contains("HS384"));
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
    assert!(err.to_string().contains("private keys"), "{err}");
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
