//! attacks tests.
