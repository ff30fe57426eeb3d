//! Who may get in: staff users, API keys, a user's own password and the subscribers' portal
//! passwords. (The login throttle is [`super::logins`].)

use crate::domain::Actor;
use crate::domain::auth::{Permission, Role, UserId, hash_password};
use crate::store::parties::ConfigError;
use crate::store::{self, Db};

use super::{Audit, in_transaction};

/// Adds a staff user with a generated `password` they must change at their first login.
pub async fn add_user(
    db: &Db,
    login: &str,
    name: &str,
    role: Role,
    password: &str,
    actor: &Actor,
    now_ms: i64,
) -> Result<UserId, ConfigError> {
    in_transaction(db, async |tx| {
        let id = store::auth::insert_user(tx, login, name, role, password, now_ms).await?;
        store::auth::require_password_change(tx, login).await?;
        Audit::of("user.add", format!("user:{}", login.trim()))
            .after(format!("role={}", role.as_str()))
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Activates or deactivates user `id` (a deactivated one's sessions end); false when nothing
/// changed.
pub async fn set_user_active(
    db: &Db,
    id: UserId,
    active: bool,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let (action, before, after) = if active {
        ("user.activate", "inactive", "active")
    } else {
        ("user.deactivate", "active", "inactive")
    };
    in_transaction(db, async |tx| {
        let changed = store::auth::set_user_active(tx, id, active, now_ms).await?;
        if changed {
            Audit::of(action, format!("user:{id}"))
                .before(before)
                .after(after)
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(changed)
    })
    .await
}

/// A user's own new (already checked) password; their other sessions end, the one holding
/// `keep_session` stays. The trail records the change, never the password.
pub async fn change_own_password(
    db: &Db,
    user: (UserId, &str),
    password: &str,
    keep_session: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    let (id, login) = user;
    in_transaction(db, async |tx| {
        store::auth::change_own_password(tx, id, password, keep_session, now_ms).await?;
        Audit::of("user.password", format!("user:{login}"))
            .after("***")
            .write(tx, &Actor::User(login.to_string()), now_ms)
            .await
    })
    .await
}

/// Adds an API key with `permissions`; its id and its token (shown once).
pub async fn add_api_key(
    db: &Db,
    name: &str,
    permissions: &[Permission],
    actor: &Actor,
    now_ms: i64,
) -> Result<(crate::domain::auth::ApiKeyId, String), ConfigError> {
    in_transaction(db, async |tx| {
        let made = store::auth::insert_api_key(tx, name, permissions, now_ms).await?;
        let list: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
        Audit::of("apikey.add", format!("apikey:{name}"))
            .after(list.join(","))
            .write(tx, actor, now_ms)
            .await?;
        Ok(made)
    })
    .await
}

/// Revokes the active API key `name`; false when there is none.
pub async fn revoke_api_key(
    db: &Db,
    name: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let revoked = store::auth::revoke_api_key(tx, name, now_ms).await?;
        if revoked {
            Audit::of("apikey.revoke", format!("apikey:{name}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(revoked)
    })
    .await
}

/// Sets the portal password of the subscribers with the document `digits` (their sessions
/// end); false when no customer has it. The trail names the document masked.
pub async fn set_portal_password(
    db: &Db,
    digits: &str,
    password: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        if store::subscribers::customers_with_document(tx, digits)
            .await?
            .is_empty()
        {
            return Ok(false);
        }
        store::subscribers::set_portal_password(tx, digits, &hash_password(password), now_ms)
            .await?;
        Audit::of(
            "portal.password",
            format!(
                "portal:{}",
                crate::actions::self_service::masked_document(digits)
            ),
        )
        .write(tx, actor, now_ms)
        .await?;
        Ok(true)
    })
    .await
}
