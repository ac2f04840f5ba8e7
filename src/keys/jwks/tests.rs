//! The key-set parser against real published key sets (`tests/fixtures/jwks`, verdicts in its
//! README, "infer" policy for keys without `alg`) and the key lookup rules of [`KeySet::find`].

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::parse::{MAX_KEYS, SetError, parse_jwks};
use super::{KeySet, Lookup};
use crate::keys::algorithm::Algorithm::{self, *};

/// Every public-key algorithm the crate verifies.
const ALL: &[Algorithm] = &[
    RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA,
];
/// The same without EdDSA.
const NO_EDDSA: &[Algorithm] = &[RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384];
/// The default of a JWKS issuer.
const DEFAULT: &[Algorithm] = &[RS256, ES256];
/// What a key without `alg` verifies when every RSA algorithm is accepted.
const ANY_RSA: &[Algorithm] = &[RS256, RS384, RS512, PS256, PS384, PS512];

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/jwks/", $name, ".json"))
    };
}

fn parse(body: &str, allowed: &[Algorithm]) -> Result<KeySet, SetError> {
    parse_jwks(body.as_bytes(), allowed, "fixture")
}

/// Each usable key as (kid, algorithms it verifies), in document order.
fn summary(set: &KeySet) -> Vec<(Option<String>, Vec<Algorithm>)> {
    set.keys
        .iter()
        .map(|k| (k.kid().map(|k| k.to_string()), k.algorithms().collect()))
        .collect()
}

fn keys(entries: &[(&str, &[Algorithm])]) -> Vec<(Option<String>, Vec<Algorithm>)> {
    entries
        .iter()
        .map(|(kid, algs)| (Some((*kid).to_owned()), algs.to_vec()))
        .collect()
}

fn assert_set(body: &str, allowed: &[Algorithm], expected: &[(&str, &[Algorithm])]) {
    let set = parse(body, allowed).unwrap();
    assert_eq!(summary(&set), keys(expected));
    assert_eq!(set.len(), expected.len());
}

fn found(set: &KeySet, kid: Option<&str>, alg: Algorithm) -> Option<String> {
    match set.find(kid, alg) {
        Lookup::Found(key) => Some(key.kid().map_or_else(String::new, |k| k.to_string())),
        other => panic!("expected a key for {kid:?}/{alg}, got {other:?}"),
    }
}

fn lookup_name(lookup: &Lookup<'_>) -> &'static str {
    match lookup {
        Lookup::Found(_) => "found",
        Lookup::UnknownKid => "unknown_kid",
        Lookup::Ambiguous => "ambiguous",
        Lookup::NoMatch => "no_match",
    }
}

fn doc(keys: Vec<Value>) -> String {
    json!({ "keys": keys }).to_string()
}

fn fixture_keys(body: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(body).unwrap();
    doc["keys"].as_array().unwrap().clone()
}

// ---- the fixtures, one by one ------------------------------------------------------------

#[test]
fn google_two_rs256_keys() {
    assert_set(
        fixture!("google-oauth2-v3"),
        ALL,
        &[
            ("73e25f9789119c7875d58087a78ac23f5ef2eda3", &[RS256]),
            ("c88d809f4db943df53da7accfd47764d05ba391f", &[RS256]),
        ],
    );
}

#[test]
fn entra_keys_without_alg_are_inferred_from_the_allow_list() {
    let kids = [
        "Mc7l3Iz93g7uwgNeEmmw_WYGPko",
        "iw1BXXcybk07kmtIeeJeIYqas18",
        "3PaK4EfyBNQu3CtjYsa3YmhQ5E0",
        "k8kbXTgyy1QKJ54n61Qg3OldE_E",
        "d-Zi0Gbus4sEaOqXgU8pMvYc3KI",
        "8IIDH6M8c3cXoeojKme8Jvqsr2Y",
        "iE89_EVhreMiV2-8rKE2zWBUm3M",
    ];
    let all: Vec<(&str, &[Algorithm])> = kids.iter().map(|k| (*k, ANY_RSA)).collect();
    assert_set(fixture!("microsoft-entra-common"), ALL, &all);
    // With the default allow-list, RS256 only; never an EC or HMAC algorithm.
    let rs256: Vec<(&str, &[Algorithm])> = kids.iter().map(|k| (*k, &[RS256][..])).collect();
    let set = parse(fixture!("microsoft-entra-common"), DEFAULT).unwrap();
    assert_eq!(summary(&set), keys(&rs256));
    assert_eq!(lookup_name(&set.find(Some(kids[0]), ES256)), "no_match");
    assert_eq!(lookup_name(&set.find(Some(kids[0]), PS256)), "no_match");
}

#[test]
fn apple_three_rs256_keys() {
    assert_set(
        fixture!("apple-signin"),
        ALL,
        &[
            ("FftONTxoEg", &[RS256]),
            ("T8tIJ1zSrO", &[RS256]),
            ("pggnQeNCOU", &[RS256]),
        ],
    );
}

#[test]
fn auth0_keys_are_taken_from_n_and_e_despite_a_nonconforming_x5t() {
    assert_set(
        fixture!("auth0-tenant"),
        ALL,
        &[
            (
                "QjYxQ0U1QTVCMzk4RTJFNEIxMERGN0NBOUVBQTk1NDEzRTcwNTVBMg",
                &[RS256],
            ),
            ("Lk-5NnjByFf99cg0nxMdi", &[RS256]),
        ],
    );
}

#[test]
fn docker_two_rs256_keys() {
    assert_set(
        fixture!("docker-oidc"),
        ALL,
        &[
            ("xXkpBt3rWs2G-ub9lpJgq", &[RS256]),
            ("xepHGxNL0ePafsMQW_5yb", &[RS256]),
        ],
    );
}

#[test]
fn github_keys_with_expired_certificates_are_kept() {
    assert_set(
        fixture!("github-actions-oidc"),
        ALL,
        &[
            ("cc413527-173f-5a05-976e-9c52b1d7b431", &[RS256]),
            ("38826b17-6a30-5f9b-b169-8beb8202f723", &[RS256]),
            ("1F2AB83404C08EC9EA0BB99DAED02186B091DBF4", &[RS256]),
            ("001DDCD014A848E8824577B3E4F3AEDB3BCF5FFD", &[RS256]),
        ],
    );
}

#[test]
fn keycloak_encryption_key_is_skipped() {
    let body = fixture!("keycloak-realm");
    assert_set(
        body,
        ALL,
        &[("nB0vgzwAcgJmjXwQZSzBMNkhoCaH4fvSwx5GC8Jq93c", &[RS256])],
    );
    let set = parse(body, ALL).unwrap();
    // A token naming the enc key finds nothing.
    let enc = "Q2O_f0Z7hVL1WUxKQbChyWK_FzQK-qRZh4Kg9mxxt_I";
    assert_eq!(lookup_name(&set.find(Some(enc), RS256)), "unknown_kid");
}

#[test]
fn okta_two_rs256_keys() {
    assert_set(
        fixture!("okta-authz-server"),
        ALL,
        &[
            ("sljES1Bh0VMGwUpPfFunCVAzvLRdea7WluQfeV6zWTQ", &[RS256]),
            ("TgT2Cxt-D-sVMlgTm3On7DLee8ljXgYhdzkrPkTc4sY", &[RS256]),
        ],
    );
}

#[test]
fn onelogin_key_without_alg_and_with_a_status_member() {
    assert_set(
        fixture!("onelogin-oidc"),
        ALL,
        &[("JRcO4nxs5jgc8YdN7I2hLO4V_ql1bdoiMXmcYgHm4Hs", ANY_RSA)],
    );
    assert_set(
        fixture!("onelogin-oidc"),
        DEFAULT,
        &[("JRcO4nxs5jgc8YdN7I2hLO4V_ql1bdoiMXmcYgHm4Hs", &[RS256])],
    );
}

#[test]
fn vault_two_rs256_keys() {
    assert_set(
        fixture!("hashicorp-vault-identity"),
        ALL,
        &[
            ("cfdb8380-cbe8-a9f6-fcd4-51abcec905ce", &[RS256]),
            ("5e18c268-79c7-b761-16fd-3b241fa33336", &[RS256]),
        ],
    );
}

#[test]
fn cognito_kids_are_opaque_exact_strings() {
    let body = fixture!("aws-cognito-userpool");
    assert_set(
        body,
        ALL,
        &[
            ("vyVQH7UMjwYboVvyFf+zd4KHZfgc+RtmU/A2vHhgITI=", &[RS256]),
            ("fUyIG0h6R5HFGfHDV8uebcRXldQ09dCZXbFKf6zy1rs=", &[RS256]),
        ],
    );
    let set = parse(body, ALL).unwrap();
    assert_eq!(
        found(
            &set,
            Some("vyVQH7UMjwYboVvyFf+zd4KHZfgc+RtmU/A2vHhgITI="),
            RS256
        )
        .as_deref(),
        Some("vyVQH7UMjwYboVvyFf+zd4KHZfgc+RtmU/A2vHhgITI=")
    );
    // Not base64-normalised: the base64url spelling of the same bytes is another kid.
    for other in [
        "vyVQH7UMjwYboVvyFf-zd4KHZfgc-RtmU_A2vHhgITI",
        "vyVQH7UMjwYboVvyFf+zd4KHZfgc+RtmU/A2vHhgITI",
    ] {
        assert_eq!(
            lookup_name(&set.find(Some(other), RS256)),
            "unknown_kid",
            "{other}"
        );
    }
}

#[test]
fn openbanking_keeps_only_the_sig_key() {
    // enc and tls are skipped; the sig key has no alg and is inferred (UK OB signs with PS256).
    let body = fixture!("openbanking-uk-keystore");
    assert_set(body, ALL, &[("sCekNgSWIauQ34klRhDGqfwpjc4", ANY_RSA)]);
    let set = parse(body, &[PS256]).unwrap();
    assert_eq!(
        found(&set, Some("sCekNgSWIauQ34klRhDGqfwpjc4"), PS256).as_deref(),
        Some("sCekNgSWIauQ34klRhDGqfwpjc4")
    );
    for skipped in ["qGSq26Iezcl8OuSDV89JiKAYDuY", "ztDjNGnLwZ48M1ibdMNOiQwQLsQ"] {
        assert_eq!(
            lookup_name(&set.find(Some(skipped), PS256)),
            "unknown_kid",
            "{skipped}"
        );
    }
}

#[test]
fn paypal_mixed_set_with_leading_zero_moduli_and_an_x25519_key() {
    let body = fixture!("paypal-certs");
    let expected: &[(&str, &[Algorithm])] = &[
        ("16e6c7334cf754186f877ff1f4a0bc128e1c97ca", &[RS256]),
        ("53ef2b2d6d6f79b1a15aa95fd2f083307ca01809", &[RS256]),
        ("7239c69c8d054c1f8cfbb11f287e8702", &[RS256]),
        ("f16b4522a7c8ad2358df9a57a500851114d2e7d2", &[ES256]),
        ("8bc45f1b83c642bca8de0d943a348a80", &[ES256]),
        ("3cec3e5e7f129111f1aa509f7cb69d6daf816c6c", &[ES256]),
        ("b8609fda7e964c9eaf9ca054facd5558", &[ES256]),
        // 753778214125442a472d4b6150645367: X25519, a key-agreement curve: skipped.
        ("10aba280c5c211ec9d640242ac120002", &[PS256]),
        ("0p8fuebzyxcoikyfytc3rkp5zzsefd6nceplqjfe", &[RS256]),
        ("zd5v2oifghewbxgpfsxavzl4jqxyxtc2wyi8qu0x", &[PS256]),
        ("qbo9erwnz9aytisgmlyvwznt74xnpk5mfpc3vjlu", &[ES256]),
        ("b9cf476b8eee47fb8f476b8eee67fba0", &[ES256]),
        ("4e17cf9dd7c0498985a9b26620e5924c", &[ES256]),
        ("2225541d274045a6b174bafe62e9eafd", &[PS256]),
    ];
    assert_set(body, ALL, expected);
    let set = parse(body, ALL).unwrap();
    assert_eq!(
        lookup_name(&set.find(Some("753778214125442a472d4b6150645367"), EdDSA)),
        "unknown_kid"
    );
    // With the default allow-list the PS256 keys (declared alg not accepted) are skipped too.
    let default: Vec<(&str, &[Algorithm])> = expected
        .iter()
        .copied()
        .filter(|(_, algs)| algs[0] != PS256)
        .collect();
    assert_eq!(default.len(), 11);
    assert_set(body, DEFAULT, &default);
}

#[test]
fn yahoo_rsa_1024_keys_are_skipped() {
    let body = fixture!("yahoo-certs");
    assert_set(
        body,
        ALL,
        &[("3466d51f7dd0c780565688c183921816c45889ad", &[ES256])],
    );
    let set = parse(body, ALL).unwrap();
    for weak in ["6ff94cdad11e7c3ac08dc9ec3c44844b87e364f7", "0", "4"] {
        assert_eq!(
            lookup_name(&set.find(Some(weak), RS256)),
            "unknown_kid",
            "{weak}"
        );
    }
    // Without the EC key's algorithm nothing usable remains.
    assert_eq!(
        parse(body, &[RS256]).map(|s| s.len()),
        Err(SetError::NoUsableKey)
    );
}

#[test]
fn slack_key_without_use() {
    assert_set(
        fixture!("slack-openid"),
        ALL,
        &[("mB2MAyKSn555isd0EbdhKx6nkyAi9xLq8rvCEb_nOyY", &[RS256])],
    );
}

#[test]
fn mojeid_rsa_4096_without_alg_or_use() {
    assert_set(
        fixture!("mojeid-certs"),
        ALL,
        &[("Pt7HjUz1rqdn1ae1ezT-nO5Fwp6CwuJU5OVaXQJ3uPg", ANY_RSA)],
    );
}

#[test]
fn inferno_identical_duplicates_count_once() {
    let body = fixture!("inferno-bdt-es384");
    assert_eq!(fixture_keys(body).len(), 7);
    assert_set(
        body,
        ALL,
        &[
            ("9e4cce3ecfd2e3c76540f74264a4a893", &[ES384]),
            ("f29397ef446d5c1480adebbcb59910b3", &[ES384]),
            ("cd520211e5661dbba2256f67f6d53f97", &[ES384]),
            ("ed9a43ff7263878a1c79472daaf987a7", &[ES384]),
        ],
    );
    let set = parse(body, ALL).unwrap();
    for kid in [
        "f29397ef446d5c1480adebbcb59910b3",
        "cd520211e5661dbba2256f67f6d53f97",
    ] {
        assert_eq!(found(&set, Some(kid), ES384).as_deref(), Some(kid));
    }
    // ES384 is not in the default allow-list: nothing usable.
    assert_eq!(
        parse(body, DEFAULT).map(|s| s.len()),
        Err(SetError::NoUsableKey)
    );
}

#[test]
fn zitadel_ed25519_only_when_eddsa_is_allowed() {
    let body = fixture!("zitadel-webkeys");
    assert_set(
        body,
        ALL,
        &[
            ("280543383892525058", &[RS384]),
            ("280998627474669570", &[EdDSA]),
            ("282465789963927554", &[ES256]),
        ],
    );
    // Without EdDSA the OKP key is skipped, not the whole set.
    assert_set(
        body,
        NO_EDDSA,
        &[
            ("280543383892525058", &[RS384]),
            ("282465789963927554", &[ES256]),
        ],
    );
    assert_set(body, DEFAULT, &[("282465789963927554", &[ES256])]);
}

#[test]
fn rfc7517_a1_enc_key_skipped() {
    assert_set(
        fixture!("rfc7517-a1-public-keys"),
        ALL,
        &[("2011-04-29", &[RS256])],
    );
}

#[test]
fn rfc7517_a2_keys_with_private_material_are_skipped() {
    assert_eq!(
        parse(fixture!("rfc7517-a2-private-keys"), ALL).map(|s| s.len()),
        Err(SetError::NoUsableKey)
    );
    // The same RSA key without its private members is usable: the private material is the cause.
    let mut rsa = fixture_keys(fixture!("rfc7517-a2-private-keys"))[1].clone();
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        rsa.as_object_mut().unwrap().remove(member).unwrap();
    }
    let set = parse(&doc(vec![rsa]), ALL).unwrap();
    assert_eq!(summary(&set), keys(&[("2011-04-29", &[RS256])]));
}

#[test]
fn rfc7517_a3_symmetric_keys_are_never_used() {
    let body = fixture!("rfc7517-a3-symmetric-keys");
    assert_eq!(
        parse(body, ALL).map(|s| s.len()),
        Err(SetError::NoUsableKey)
    );
    // Even when the allow-list names HMAC algorithms.
    assert_eq!(
        parse(body, &[HS256, HS384, HS512]).map(|s| s.len()),
        Err(SetError::NoUsableKey)
    );
}

#[test]
fn every_fixture_parses_to_its_verdict() {
    // One line per file: how many usable keys with every public algorithm allowed.
    let verdicts: [(&str, &str, Result<usize, SetError>); 21] = [
        ("apple-signin", fixture!("apple-signin"), Ok(3)),
        ("auth0-tenant", fixture!("auth0-tenant"), Ok(2)),
        (
            "aws-cognito-userpool",
            fixture!("aws-cognito-userpool"),
            Ok(2),
        ),
        ("docker-oidc", fixture!("docker-oidc"), Ok(2)),
        (
            "github-actions-oidc",
            fixture!("github-actions-oidc"),
            Ok(4),
        ),
        ("google-oauth2-v3", fixture!("google-oauth2-v3"), Ok(2)),
        (
            "hashicorp-vault-identity",
            fixture!("hashicorp-vault-identity"),
            Ok(2),
        ),
        ("inferno-bdt-es384", fixture!("inferno-bdt-es384"), Ok(4)),
        ("keycloak-realm", fixture!("keycloak-realm"), Ok(1)),
        (
            "microsoft-entra-common",
            fixture!("microsoft-entra-common"),
            Ok(7),
        ),
        ("mojeid-certs", fixture!("mojeid-certs"), Ok(1)),
        ("okta-authz-server", fixture!("okta-authz-server"), Ok(2)),
        ("onelogin-oidc", fixture!("onelogin-oidc"), Ok(1)),
        (
            "openbanking-uk-keystore",
            fixture!("openbanking-uk-keystore"),
            Ok(1),
        ),
        ("paypal-certs", fixture!("paypal-certs"), Ok(14)),
        (
            "rfc7517-a1-public-keys",
            fixture!("rfc7517-a1-public-keys"),
            Ok(1),
        ),
        (
            "rfc7517-a2-private-keys",
            fixture!("rfc7517-a2-private-keys"),
            Err(SetError::NoUsableKey),
        ),
        (
            "rfc7517-a3-symmetric-keys",
            fixture!("rfc7517-a3-symmetric-keys"),
            Err(SetError::NoUsableKey),
        ),
        ("slack-openid", fixture!("slack-openid"), Ok(1)),
        ("yahoo-certs", fixture!("yahoo-certs"), Ok(1)),
        ("zitadel-webkeys", fixture!("zitadel-webkeys"), Ok(3)),
    ];
    let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwks"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(on_disk, verdicts.len(), "a fixture without a verdict");
    for (name, body, expected) in verdicts {
        assert_eq!(parse(body, ALL).map(|s| s.len()), expected, "{name}");
    }
}

// ---- leading zeros, end to end ----------------------------------------------------------

#[test]
fn a_leading_zero_octet_in_the_modulus_is_tolerated_and_the_key_verifies() {
    let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let mut padded = vec![0u8];
    padded.extend_from_slice(&public.n);
    assert_eq!(padded.len(), 257);
    let jwk = json!({
        "kty": "RSA", "kid": "lz", "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(&padded),
        "e": URL_SAFE_NO_PAD.encode(&public.e),
    });
    let set = parse(&doc(vec![jwk]), ALL).unwrap();
    let Lookup::Found(key) = set.find(Some("lz"), RS256) else {
        panic!("the padded key was not loaded");
    };
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &sig::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        b"header.payload",
        &mut signature,
    )
    .unwrap();
    assert!(key.verify(RS256, b"header.payload", &signature));
    assert!(!key.verify(RS256, b"header.payloae", &signature));
}

// ---- KeySet::find ----------------------------------------------------------------------

/// Two different RSA keys and one EC key from the fixtures, with the given kids (None: no kid).
fn three_keys(rsa_a: Option<&str>, rsa_b: Option<&str>, ec: Option<&str>) -> KeySet {
    let google = fixture_keys(fixture!("google-oauth2-v3"));
    let zitadel = fixture_keys(fixture!("zitadel-webkeys"));
    let mut out = Vec::new();
    for (mut key, kid) in [
        (google[0].clone(), rsa_a),
        (google[1].clone(), rsa_b),
        (zitadel[2].clone(), ec),
    ] {
        let object = key.as_object_mut().unwrap();
        object.remove("kid");
        if let Some(kid) = kid {
            object.insert("kid".into(), kid.into());
        }
        out.push(key);
    }
    parse(&doc(out), ALL).unwrap()
}

#[test]
fn a_kid_selects_exactly_one_key_that_must_take_the_algorithm() {
    let set = three_keys(Some("a"), Some("b"), Some("e"));
    assert_eq!(set.len(), 3);
    assert_eq!(found(&set, Some("a"), RS256).as_deref(), Some("a"));
    assert_eq!(found(&set, Some("b"), RS256).as_deref(), Some("b"));
    assert_eq!(found(&set, Some("e"), ES256).as_deref(), Some("e"));
    // The kid's key does not take the token's algorithm: no fallback to another key.
    assert_eq!(lookup_name(&set.find(Some("a"), ES256)), "no_match");
    assert_eq!(lookup_name(&set.find(Some("e"), RS256)), "no_match");
    assert_eq!(lookup_name(&set.find(Some("a"), PS256)), "no_match");
    assert_eq!(lookup_name(&set.find(Some("c"), RS256)), "unknown_kid");
    // Exact, case-sensitive match.
    assert_eq!(lookup_name(&set.find(Some("A"), RS256)), "unknown_kid");
}

#[test]
fn two_different_keys_with_one_kid_are_ambiguous() {
    let set = three_keys(Some("same"), Some("same"), Some("e"));
    assert_eq!(set.len(), 2 + 1);
    assert_eq!(lookup_name(&set.find(Some("same"), RS256)), "ambiguous");
    assert_eq!(found(&set, Some("e"), ES256).as_deref(), Some("e"));
    // Same material and kid but another `use`: not an identical copy, still ambiguous.
    let mut key = fixture_keys(fixture!("slack-openid"))[0].clone();
    let mut with_use = key.clone();
    with_use
        .as_object_mut()
        .unwrap()
        .insert("use".into(), "sig".into());
    let set = parse(&doc(vec![key.clone(), with_use]), ALL).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(
        lookup_name(&set.find(Some("mB2MAyKSn555isd0EbdhKx6nkyAi9xLq8rvCEb_nOyY"), RS256)),
        "ambiguous"
    );
    // Identical copies count once.
    key.as_object_mut()
        .unwrap()
        .insert("extra".into(), 1.into());
    let set = parse(&doc(vec![key.clone(), key]), ALL).unwrap();
    assert_eq!(set.len(), 1);
}

#[test]
fn without_a_kid_exactly_one_key_must_fit_the_algorithm() {
    // One RSA key and one EC key: each algorithm has exactly one candidate, whatever the kids.
    let google = fixture_keys(fixture!("google-oauth2-v3"));
    let zitadel = fixture_keys(fixture!("zitadel-webkeys"));
    let set = parse(&doc(vec![google[0].clone(), zitadel[2].clone()]), ALL).unwrap();
    assert_eq!(
        found(&set, None, RS256).as_deref(),
        Some("73e25f9789119c7875d58087a78ac23f5ef2eda3")
    );
    assert_eq!(
        found(&set, None, ES256).as_deref(),
        Some("282465789963927554")
    );
    assert_eq!(lookup_name(&set.find(None, PS256)), "no_match");
    assert_eq!(lookup_name(&set.find(None, ES384)), "no_match");

    // Two RSA keys: a token without kid is ambiguous for RS256, still fine for ES256.
    let set = three_keys(None, None, None);
    assert_eq!(lookup_name(&set.find(None, RS256)), "ambiguous");
    assert_eq!(found(&set, None, ES256).as_deref(), Some(""));
    // Kids on the keys change nothing for a token without kid.
    let set = three_keys(Some("a"), Some("b"), None);
    assert_eq!(lookup_name(&set.find(None, RS256)), "ambiguous");
}

#[test]
fn more_than_100_keys_is_a_failed_set() {
    let key = fixture_keys(fixture!("slack-openid"))[0].clone();
    let set = parse(&doc(vec![key.clone(); MAX_KEYS]), ALL).unwrap();
    assert_eq!(set.len(), 1, "100 identical copies are one key");
    assert_eq!(
        parse(&doc(vec![key; MAX_KEYS + 1]), ALL).map(|s| s.len()),
        Err(SetError::TooManyKeys(101))
    );
}

#[test]
fn malformed_documents_are_refused_whole() {
    for (body, expected) in [
        ("", SetError::NotJson),
        ("<html>", SetError::NotJson),
        ("[]", SetError::NotJson),
        (r#"{"keys":[]}{"#, SetError::NotJson),
        (r#"{"keys":[],"keys":[]}"#, SetError::NotJson),
        ("{}", SetError::NoKeysArray),
        (r#"{"keys":{}}"#, SetError::NoKeysArray),
        (r#"{"keys":[]}"#, SetError::NoUsableKey),
        (r#"{"keys":[1,"a",null,{}]}"#, SetError::NoUsableKey),
    ] {
        assert_eq!(parse(body, ALL).map(|s| s.len()), Err(expected), "{body}");
    }
}

#[test]
fn one_bad_key_is_skipped_and_the_rest_is_kept() {
    let good = fixture_keys(fixture!("slack-openid"))[0].clone();
    let bad = vec![
        json!({"kty": "RSA", "kid": "b64", "n": "!!!", "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "x5c-only", "x5c": ["MIIB"]}),
        json!({"kty": "XYZ", "kid": "kty"}),
        json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "kid": "short", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
        json!({"kty": "RSA", "kid": "ops", "key_ops": ["sign"], "n": good["n"], "e": good["e"]}),
        json!({"kty": "RSA", "kid": "hs", "alg": "HS256", "n": good["n"], "e": good["e"]}),
        json!({"kty": "RSA", "kid": "none", "alg": "none", "n": good["n"], "e": good["e"]}),
        json!({"kty": "RSA", "kid": "es", "alg": "ES256", "n": good["n"], "e": good["e"]}),
        json!({"kty": "RSA", "kid": 7, "n": good["n"], "e": good["e"]}),
        json!({"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": "AAAA"}),
        json!({"kty": "oct", "kid": "oct", "k": "AAAA"}),
    ];
    let mut keys = bad.clone();
    keys.insert(6, good);
    let set = parse(&doc(keys), ALL).unwrap();
    assert_eq!(
        summary(&set),
        vec![(
            Some("mB2MAyKSn555isd0EbdhKx6nkyAi9xLq8rvCEb_nOyY".to_owned()),
            vec![RS256]
        )]
    );
    assert_eq!(
        parse(&doc(bad), ALL).map(|s| s.len()),
        Err(SetError::NoUsableKey)
    );
}

/// `member` of `key` re-encoded with `zeros` leading zero octets.
fn padded(key: &Value, member: &str, zeros: usize) -> Value {
    let mut key = key.clone();
    let object = key.as_object_mut().unwrap();
    let raw = URL_SAFE_NO_PAD
        .decode(object[member].as_str().unwrap())
        .unwrap();
    let mut bytes = vec![0u8; zeros];
    bytes.extend_from_slice(&raw);
    object.insert(member.into(), URL_SAFE_NO_PAD.encode(bytes).into());
    key
}

#[test]
fn copies_that_differ_by_leading_zero_octets_are_one_key() {
    let rsa = fixture_keys(fixture!("slack-openid"))[0].clone();
    let kid = rsa["kid"].as_str().unwrap().to_owned();
    for copy in [
        padded(&rsa, "n", 1),
        padded(&rsa, "n", 3),
        padded(&rsa, "e", 1),
        padded(&padded(&rsa, "n", 2), "e", 5),
    ] {
        for keys in [
            vec![rsa.clone(), copy.clone()],
            vec![copy.clone(), rsa.clone()],
        ] {
            let set = parse(&doc(keys), ALL).unwrap();
            assert_eq!(set.len(), 1, "{copy}");
            assert_eq!(found(&set, Some(&kid), RS256).as_deref(), Some(&*kid));
        }
    }
    // Another modulus with the same kid is still another key: ambiguous.
    let other = fixture_keys(fixture!("google-oauth2-v3"))[0].clone();
    let mut other = other.clone();
    other
        .as_object_mut()
        .unwrap()
        .insert("kid".into(), kid.clone().into());
    if let Some(alg) = rsa.get("alg") {
        other
            .as_object_mut()
            .unwrap()
            .insert("alg".into(), alg.clone());
    }
    let set = parse(&doc(vec![rsa.clone(), padded(&rsa, "n", 1), other]), ALL).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(lookup_name(&set.find(Some(&kid), RS256)), "ambiguous");
    // An EC copy with a padded coordinate is refused for its length (skipped), never a second
    // key that would make the kid ambiguous.
    let ec = fixture_keys(fixture!("zitadel-webkeys"))[2].clone();
    let ec_kid = ec["kid"].as_str().unwrap().to_owned();
    for member in ["x", "y"] {
        let set = parse(&doc(vec![ec.clone(), padded(&ec, member, 1)]), ALL).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(found(&set, Some(&ec_kid), ES256).as_deref(), Some(&*ec_kid));
    }
}
