//! cors tests.
