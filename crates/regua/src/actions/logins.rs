//! A login attempt, admin or subscriber, takes a slot in the throttle before its password is
//! checked. Counting and taking the slot are one step: the slot is a row in `login_failures`
//! written in the transaction that counts (SQLite's single writer; on PostgreSQL an advisory
//! lock), so 50 parallel guesses let exactly the allowed number through to the password check
//! instead of all that counted before any failure was written. A successful login gives its
//! slot back (`store::auth::release_login_attempt`); a failed one keeps it as its failure.

use crate::store::{self, Db};

/// The throttle's limits for one attempt: failures allowed within the window, per login (or
/// document) and per client address.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// The window's start.
    pub since_ms: i64,
    /// Failures allowed for one login (or document).
    pub per_login: i64,
    /// Failures allowed from one client address, on the same surface.
    pub per_client: i64,
}

/// Takes a slot for one attempt of `login` from `client`: its id, or `None` when the throttle
/// is full.
pub async fn reserve_login_attempt(
    db: &Db,
    login: &str,
    client: &str,
    limits: LoginLimits,
    now_ms: i64,
) -> anyhow::Result<Option<i64>> {
    let mut tx = db.begin().await?;
    store::auth::lock_login_throttle(&mut tx, db.backend).await?;
    let (by_login, by_client) =
        store::auth::login_failures_since(&mut tx, login, client, limits.since_ms).await?;
    let slot = if by_login >= limits.per_login || by_client >= limits.per_client {
        None
    } else {
        Some(store::auth::record_login_failure(&mut tx, login, client, now_ms).await?)
    };
    tx.commit().await?;
    Ok(slot)
}
