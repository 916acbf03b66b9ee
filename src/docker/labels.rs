//! The labels ohproxy puts on the container it manages. The keys are reverse-DNS under
//! `dev.ohproxy.`, so they never clash with compose's or the user's.

/// Present (value `true`) on every container ohproxy created; its absence makes a
/// same-named container foreign, and ohproxy never touches a foreign container.
pub const MANAGED: &str = "dev.ohproxy.managed";
/// The SHA-256 of the container spec; a different value means the container is stale.
pub const SPEC_HASH: &str = "dev.ohproxy.spec-hash";
/// The OpenHands version whose profile built the spec.
pub const VERSION: &str = "dev.ohproxy.openhands-version";
/// The config file of the setup that owns the container (several setups can share an
/// engine). Informational: not part of the spec hash.
pub const CONFIG: &str = "dev.ohproxy.config";
/// On a replacement: the id of the container it replaces. While that container waits
/// aside, this tells the replacement that was never confirmed.
pub const REPLACES: &str = "dev.ohproxy.replaces";
