//! One bounded GET of a JWKS URL: status checked, body read in chunks up to a cap, the TTL
//! taken from `Cache-Control: max-age`, `ETag` sent back as `If-None-Match`.

use std::fmt;
use std::time::Duration;

use http::HeaderValue;
use http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};

/// Caps on one fetch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FetchLimits {
    pub(crate) max_body: usize,
    pub(crate) total_timeout: Duration,
}

/// The answer of the endpoint.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// A new body, with its `max-age` (if any) and `ETag`.
    Body {
        body: Vec<u8>,
        max_age: Option<Duration>,
        etag: Option<HeaderValue>,
    },
    /// 304: the set is unchanged.
    NotModified { max_age: Option<Duration> },
}

/// Why a fetch failed. Carries no response content.
#[derive(Debug)]
pub(crate) enum FetchError {
    Timeout,
    Transport(String),
    Status(u16),
    TooLarge,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::Status(s) => write!(f, "unexpected status {s}"),
            Self::TooLarge => f.write_str("the body is over the size cap"),
        }
    }
}

/// Why the shared client could not be made.
#[derive(Debug)]
pub(crate) enum ClientError {
    /// reqwest refused to build it (e.g. no TLS backend could be set up).
    Build(reqwest::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Build(e) => e.fmt(f),
        }
    }
}

/// The shared client: connect timeout, total timeout, no redirects.
pub(crate) fn client(
    connect_timeout: Duration,
    total_timeout: Duration,
) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(total_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("jwt-guard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(ClientError::Build)
}

pub(crate) async fn fetch(
    client: &reqwest::Client,
    url: &url::Url,
    etag: Option<&HeaderValue>,
    limits: FetchLimits,
) -> Result<Fetched, FetchError> {
    // reqwest's own timeout covers the whole exchange; this one also bounds a body that
    // trickles in and anything reqwest might not count.
    match tokio::time::timeout(limits.total_timeout, fetch_inner(client, url, etag, limits)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout),
    }
}

async fn fetch_inner(
    client: &reqwest::Client,
    url: &url::Url,
    etag: Option<&HeaderValue>,
    limits: FetchLimits,
) -> Result<Fetched, FetchError> {
    let mut request = client
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json");
    if let Some(etag) = etag {
        request = request.header(IF_NONE_MATCH, etag.clone());
    }
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    let max_age = max_age(response.headers().get_all(CACHE_CONTROL).iter());
    if status == http::StatusCode::NOT_MODIFIED && etag.is_some() {
        return Ok(Fetched::NotModified { max_age });
    }
    if status != http::StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > limits.max_body as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let etag = response.headers().get(ETAG).cloned();
    let mut body = Vec::with_capacity(response.content_length().map_or(8 * 1024, |len| {
        usize::try_from(len).unwrap_or(limits.max_body)
    }));
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limits.max_body {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body {
        body,
        max_age,
        etag,
    })
}

fn transport(err: reqwest::Error) -> FetchError {
    if err.is_timeout() {
        FetchError::Timeout
    } else {
        // The error names the URL, which is configuration, never a token.
        FetchError::Transport(err.without_url().to_string())
    }
}

/// `max-age` from `Cache-Control`; `no-store`/`no-cache` count as zero (the clamp raises it to
/// the minimum TTL).
pub(crate) fn max_age<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Option<Duration> {
    let mut found = None;
    for value in values {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim();
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            let name = name.trim();
            if name.eq_ignore_ascii_case("max-age") {
                if let Ok(secs) = arg.trim().trim_matches('"').parse::<u64>() {
                    found = Some(Duration::from_secs(secs));
                }
            } else if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache")
            {
                return Some(Duration::ZERO);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&'static str]) -> Option<Duration> {
        let values: Vec<HeaderValue> = values.iter().map(|v| HeaderValue::from_static(v)).collect();
        max_age(values.iter())
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(parse(&[]), None);
        assert_eq!(
            parse(&["public, max-age=3600"]),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(parse(&["MAX-AGE=\"20\""]), Some(Duration::from_secs(20)));
        assert_eq!(
            parse(&["public", "max-age=5"]),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse(&["max-age=abc"]), None);
        assert_eq!(parse(&["no-store"]), Some(Duration::ZERO));
        assert_eq!(parse(&["max-age=60, no-cache"]), Some(Duration::ZERO));
    }
}
