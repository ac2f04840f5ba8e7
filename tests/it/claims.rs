//! claims tests.
