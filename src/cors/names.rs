//! [`CorsName`]: what the list setters of [`Cors`](super::Cors) accept — `&str` and `String`
//! as well as `http::Method` and `http::HeaderName`.

use http::{HeaderName, Method};

/// A method or header name for the list setters of [`Cors`](super::Cors)
/// ([`allow_methods`](super::Cors::allow_methods), [`allow_headers`](super::Cors::allow_headers),
/// [`expose_headers`](super::Cors::expose_headers)): `&str`, `String`, [`Method`] or
/// [`HeaderName`] (and references to them).
///
/// Text is checked when the layer is built: a mistake is a
/// [`ConfigError`](crate::ConfigError) naming the setter and the entry, e.g.
/// `allow_headers[2]`. A `Method` or `HeaderName` is valid by construction (a forbidden method
/// such as `CONNECT` is still refused).
///
/// ```
/// use http::{Method, header};
/// use jwt_guard::Cors;
///
/// let cors = Cors::new()
///     .allow_methods([Method::PUT, Method::DELETE])
///     .allow_methods(["PATCH"])
///     .allow_headers([header::IF_MATCH])
///     .allow_headers(["x-request-id"])
///     .expose_headers([header::ETAG]);
/// ```
pub trait CorsName {
    /// The name as text.
    fn into_name(self) -> String;
}

impl CorsName for &str {
    fn into_name(self) -> String {
        self.to_owned()
    }
}

impl CorsName for String {
    fn into_name(self) -> String {
        self
    }
}

impl CorsName for &String {
    fn into_name(self) -> String {
        self.clone()
    }
}

impl CorsName for Method {
    fn into_name(self) -> String {
        self.as_str().to_owned()
    }
}

impl CorsName for &Method {
    fn into_name(self) -> String {
        self.as_str().to_owned()
    }
}

impl CorsName for HeaderName {
    fn into_name(self) -> String {
        self.as_str().to_owned()
    }
}

impl CorsName for &HeaderName {
    fn into_name(self) -> String {
        self.as_str().to_owned()
    }
}
