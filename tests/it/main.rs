//! One integration binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../support/whoami.rs"]
mod whoami;
#[path = "../support/redis.rs"]
mod redis_server;

mod attacks;
mod checks;
mod claims;
mod cors;
mod discovery;
mod extract;
mod flow;
mod hardening;
mod jwks;
mod limits;
mod logs;
mod marketplaces;
mod metrics;
mod oracle;
mod reasons;
mod rejections;
mod replicas;
mod rfc7515;
