//! Small deserializers shared by the typed claims: identifiers sent as a number or a string,
//! NumericDates, and `aud` as a string or a list.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// An identifier that a marketplace may send as a JSON string or a JSON integer (Blendr's
/// `accountid` is `123` in one document and a string in another), kept as text: an integer is
/// rendered in decimal, exactly as [`Verified::tenant`](crate::Verified::tenant) renders it.
///
/// ```
/// # use jwt_guard::presets::Id;
/// let a: Id = serde_json::from_str("123").unwrap();
/// let b: Id = serde_json::from_str("\"123\"").unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a.as_str(), "123");
/// assert!(a.was_number() && !b.was_number());
/// ```
#[derive(Clone, Debug, Eq)]
pub struct Id {
    text: String,
    number: bool,
}

impl Id {
    /// The identifier as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it was sent as a JSON number.
    #[must_use]
    pub fn was_number(&self) -> bool {
        self.number
    }
}

/// Two identifiers are equal when their text is: `123` and `"123"` name the same account.
impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl std::hash::Hash for Id {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;

        impl Visitor<'_> for IdVisitor {
            type Value = Id;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id {
                    text: v.to_owned(),
                    number: false,
                })
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Id, E> {
                Ok(Id {
                    text: v,
                    number: false,
                })
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id {
                    text: v.to_string(),
                    number: true,
                })
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id {
                    text: v.to_string(),
                    number: true,
                })
            }
        }

        deserializer.deserialize_any(IdVisitor)
    }
}

/// A NumericDate as whole seconds. The layer has already checked that the claim is a number
/// in range; a fractional date is truncated.
pub(crate) fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct DateVisitor;

    impl Visitor<'_> for DateVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a NumericDate")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("a NumericDate is not negative"))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            if v.is_finite() && (0.0..=crate::issuer::claims::MAX_DATE).contains(&v) {
                // In range: the cast truncates the fraction and cannot overflow.
                Ok(v as u64)
            } else {
                Err(E::custom("a NumericDate out of range"))
            }
        }
    }

    deserializer.deserialize_any(DateVisitor)
}

/// An optional NumericDate (absent or null: `None`).
pub(crate) fn optional_numeric_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "numeric_date")] u64);

    Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(v)| v))
}

/// `aud`: a string or a list of strings, always a list.
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    struct AudVisitor;

    impl<'de> Visitor<'de> for AudVisitor {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_owned()])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(item);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_any(AudVisitor)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "numeric_date")]
        date: u64,
        #[serde(default, deserialize_with = "optional_numeric_date")]
        maybe: Option<u64>,
        #[serde(deserialize_with = "string_or_list")]
        aud: Vec<String>,
        id: Id,
    }

    #[test]
    fn dates_ids_and_audiences() {
        let s: Sample =
            serde_json::from_value(json!({"date": 1700000000.75, "aud": "a", "id": 7})).unwrap();
        assert_eq!(s.date, 1_700_000_000);
        assert_eq!(s.maybe, None);
        assert_eq!(s.aud, vec!["a"]);
        assert_eq!(s.id, "7");
        assert!(s.id.was_number());
        let s: Sample =
            serde_json::from_value(json!({"date": 5, "maybe": 6, "aud": ["a", "b"], "id": "x"}))
                .unwrap();
        assert_eq!((s.date, s.maybe), (5, Some(6)));
        assert_eq!(s.aud, vec!["a", "b"]);
        assert_eq!(s.id.to_string(), "x");
        for bad in [
            json!({"date": -1, "aud": "a", "id": 1}),
            json!({"date": "5", "aud": "a", "id": 1}),
            json!({"date": 5, "aud": 3, "id": 1}),
            json!({"date": 5, "aud": "a", "id": 1.5}),
            json!({"date": 5, "aud": "a", "id": null}),
        ] {
            assert!(
                serde_json::from_value::<Sample>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
