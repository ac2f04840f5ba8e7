//! rfc7515 tests.
