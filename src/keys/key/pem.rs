//! PEM framing of a fixed public key; the body is decoded by `rustls-pki-types`.

use crate::keys::error::KeyError;

/// Decodes the single PEM block in `text`: its label and its DER bytes.
///
/// The framing (one block, nothing after it, a public-key label) is checked here; the body is
/// decoded by `rustls-pki-types` (already in the graph through reqwest's rustls). It reads
/// `PUBLIC KEY` (SubjectPublicKeyInfo); a PKCS#1 `RSA PUBLIC KEY` block has the same framing
/// and base64 body, so it is read under that label and its DER handed on as it is.
pub(super) fn pem_decode(text: &str) -> Result<(String, Vec<u8>), KeyError> {
    use rustls_pki_types::SubjectPublicKeyInfoDer;
    use rustls_pki_types::pem::{Error as PemError, PemObject};

    let text = text.trim();
    let rest = text.strip_prefix("-----BEGIN ").ok_or(KeyError::NotPem)?;
    let (label, rest) = rest
        .split_once("-----")
        .ok_or(KeyError::MalformedPemBegin)?;
    let end = format!("-----END {label}-----");
    let (_, tail) = rest
        .split_once(end.as_str())
        .ok_or_else(|| KeyError::NoPemEnd {
            label: label.to_owned(),
        })?;
    if !tail.trim().is_empty() {
        return Err(KeyError::TextAfterPem);
    }
    if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
        return Err(KeyError::NotPublicKeyPem {
            label: label.to_owned(),
        });
    }
    let spki_framed;
    let pem = if label == "RSA PUBLIC KEY" {
        spki_framed = text
            .replace(
                "-----BEGIN RSA PUBLIC KEY-----",
                "-----BEGIN PUBLIC KEY-----",
            )
            .replace("-----END RSA PUBLIC KEY-----", "-----END PUBLIC KEY-----");
        spki_framed.as_str()
    } else {
        text
    };
    let der = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        PemError::Base64Decode(_) => KeyError::PemNotBase64,
        PemError::IllegalSectionStart { .. } => KeyError::MalformedPemBegin,
        _ => KeyError::NoPemEnd {
            label: label.to_owned(),
        },
    })?;
    Ok((label.to_owned(), der.to_vec()))
}
