//! The state every clone of the layer shares, built once by the builder.

use crate::cors::CorsPolicy;
use crate::reject::Challenges;
use crate::token::TokenSource;
use crate::verify::Engine;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) cors: CorsPolicy,
    pub(crate) challenges: std::sync::Arc<Challenges>,
    pub(crate) sources: Vec<TokenSource>,
}
