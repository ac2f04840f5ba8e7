//! marketplaces tests.
