use std::time::Duration;

use jwt_guard::presets::BlendrSignedQuery;
use jwt_guard::{JwtGuard, RedisReplayStore, presets};

fn main() -> Result<(), jwt_guard::ConfigError> {
    let store = RedisReplayStore::builder("rediss://:PASSWORD@redis.internal:6380/0")
        .key_prefix("orders-api:") // default "jwt-guard:"
        .timeout(Duration::from_millis(250)) // default 250 ms, at most 5 s
        .build()?; // connects to nothing yet
    let guard = JwtGuard::builder()
        .issuer(presets::pandium("a-pandium-shared-secret-of-32-bytes"))
        .replay_store(store.clone()) // clones share one connection
        .build()?;
    let blendr = BlendrSignedQuery::builder("a-blendr-partner-api-key-of-32-bytes")
        .replay_store(store)
        .build()?;
    let _ = (guard.layer(), blendr);
    Ok(())
}
