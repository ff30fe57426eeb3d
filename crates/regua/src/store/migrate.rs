//! The migration runner. Migrations are embedded SQL files applied in order, each in its own
//! transaction, and recorded in `regua_schema_migrations`. The files are shared by both engines;
//! the single dialect token `@ID@` becomes each engine's auto-increment primary key, because
//! SQLite only makes `INTEGER PRIMARY KEY` a rowid alias and PostgreSQL wants an identity column.
//! After the schema, the built-in layouts missing from the database are installed.

use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Row as _};

use super::{Backend, Db};

/// The migrations, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../migrations/0001_foundation.sql"),
    ),
    (
        2,
        "layouts",
        include_str!("../../migrations/0002_layouts.sql"),
    ),
    (
        3,
        "delivery",
        include_str!("../../migrations/0003_delivery.sql"),
    ),
    (
        4,
        "send_rules",
        include_str!("../../migrations/0004_send_rules.sql"),
    ),
    (
        5,
        "dunning",
        include_str!("../../migrations/0005_dunning.sql"),
    ),
    (6, "web", include_str!("../../migrations/0006_web.sql")),
    (7, "api", include_str!("../../migrations/0007_api.sql")),
    (
        8,
        "list_indexes",
        include_str!("../../migrations/0008_list_indexes.sql"),
    ),
    (
        9,
        "password_change",
        include_str!("../../migrations/0009_password_change.sql"),
    ),
    (
        10,
        "portal",
        include_str!("../../migrations/0010_portal.sql"),
    ),
    (
        11,
        "channels",
        include_str!("../../migrations/0011_channels.sql"),
    ),
    (
        12,
        "scheduler_lease",
        include_str!("../../migrations/0012_scheduler_lease.sql"),
    ),
    (
        13,
        "push_deliveries",
        include_str!("../../migrations/0013_push_deliveries.sql"),
    ),
    (
        14,
        "bank_returns",
        include_str!("../../migrations/0014_bank_returns.sql"),
    ),
    (
        15,
        "payment_confirmation",
        include_str!("../../migrations/0015_payment_confirmation.sql"),
    ),
    (
        16,
        "wallet_terms",
        include_str!("../../migrations/0016_wallet_terms.sql"),
    ),
    (
        17,
        "addresses",
        include_str!("../../migrations/0017_addresses.sql"),
    ),
    (
        18,
        "remessa",
        include_str!("../../migrations/0018_remessa.sql"),
    ),
    (
        19,
        "import_uploads",
        include_str!("../../migrations/0019_import_uploads.sql"),
    ),
    (
        20,
        "bounce_domain",
        include_str!("../../migrations/0020_bounce_domain.sql"),
    ),
    (
        21,
        "bounces",
        include_str!("../../migrations/0021_bounces.sql"),
    ),
    (
        22,
        "bounce_mailboxes",
        include_str!("../../migrations/0022_bounce_mailboxes.sql"),
    ),
    (
        23,
        "domain_pacing",
        include_str!("../../migrations/0023_domain_pacing.sql"),
    ),
    (
        24,
        "rule_channels",
        include_str!("../../migrations/0024_rule_channels.sql"),
    ),
    (
        25,
        "layout_sms",
        include_str!("../../migrations/0025_layout_sms.sql"),
    ),
    (
        26,
        "whatsapp",
        include_str!("../../migrations/0026_whatsapp.sql"),
    ),
    (27, "debt", include_str!("../../migrations/0027_debt.sql")),
    (
        28,
        "webhooks",
        include_str!("../../migrations/0028_webhooks.sql"),
    ),
    (
        29,
        "trust_unlock",
        include_str!("../../migrations/0029_trust_unlock.sql"),
    ),
    (
        30,
        "debt_method_policies",
        include_str!("../../migrations/0030_debt_method_policies.sql"),
    ),
    (
        31,
        "analytics",
        include_str!("../../migrations/0031_analytics.sql"),
    ),
];

/// Migration 26's step that plain SQL cannot take on both engines: `notices.channel`'s CHECK
/// gains `whatsapp`. PostgreSQL replaces the constraint. SQLite cannot alter a CHECK, so the
/// table's stored definition is edited in place, as SQLite's documentation describes for
/// changes that leave the stored rows as they are (lang_altertable.html, "Making Other Kinds
/// Of Table Schema Changes": `writable_schema`, then `schema_version` + 1 so every connection
/// reads the new definition), in the migration's transaction.
async fn allow_whatsapp_notices(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> anyhow::Result<()> {
    match backend {
        Backend::Postgres => {
            sqlx::raw_sql(
                "ALTER TABLE notices DROP CONSTRAINT IF EXISTS notices_channel_check;
                 ALTER TABLE notices ADD CONSTRAINT notices_channel_check
                     CHECK (channel IN ('email', 'sms', 'push', 'whatsapp'));",
            )
            .execute(&mut *conn)
            .await?;
        }
        Backend::Sqlite => {
            let version: i64 = sqlx::query("PRAGMA schema_version")
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
            sqlx::raw_sql("PRAGMA writable_schema = ON")
                .execute(&mut *conn)
                .await?;
            let changed = sqlx::query(
                "UPDATE sqlite_master SET sql = replace(sql, '(''email'', ''sms'', ''push'')', '(''email'', ''sms'', ''push'', ''whatsapp'')')
                 WHERE type = 'table' AND name = 'notices'",
            )
            .execute(&mut *conn)
            .await?
            .rows_affected();
            sqlx::raw_sql(AssertSqlSafe(format!(
                "PRAGMA schema_version = {}; PRAGMA writable_schema = OFF;",
                version + 1
            )))
            .execute(&mut *conn)
            .await?;
            anyhow::ensure!(changed == 1, "the notices table was not found");
        }
    }
    Ok(())
}

fn dialect(sql: &str, backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    };
    sql.replace("@ID@", id)
}

/// Where a database's schema stands against this binary's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Migrations this binary knows and the database lacks: (version, name).
    pub pending: Vec<(i64, String)>,
    /// Versions the database has that this binary does not know (it is older than the schema).
    pub unknown: Vec<i64>,
}

/// Compares the database's applied migrations with this binary's, without changing anything.
pub async fn schema_status(db: &Db) -> anyhow::Result<SchemaStatus> {
    let mut conn = db.pool.acquire().await?;
    let exists = match db.backend {
        Backend::Sqlite => sqlx::query(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'regua_schema_migrations'",
        ),
        Backend::Postgres => sqlx::query(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'regua_schema_migrations'",
        ),
    }
    .fetch_one(&mut *conn)
    .await?
    .try_get::<i64, _>(0)?
        > 0;
    let applied: Vec<i64> = if exists {
        sqlx::query("SELECT version FROM regua_schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    Ok(SchemaStatus {
        pending: MIGRATIONS
            .iter()
            .filter(|(v, _, _)| !applied.contains(v))
            .map(|(v, n, _)| (*v, (*n).to_string()))
            .collect(),
        unknown: applied
            .into_iter()
            .filter(|v| !MIGRATIONS.iter().any(|(m, _, _)| m == v))
            .collect(),
    })
}

/// Applies every migration not yet applied. Safe to run from several processes at once on
/// PostgreSQL (an advisory lock serialises them) and idempotent.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    let mut conn = db.pool.acquire().await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS regua_schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .context("cannot create the migrations table")?;
    drop(conn);
    // An older binary must not run against a newer schema: it would write what the newer one
    // no longer expects (docs/operations.md "Upgrades").
    let status = schema_status(db).await?;
    if !status.unknown.is_empty() {
        anyhow::bail!(
            "the database's schema is newer than this regua (it has migration(s) {:?}, this binary knows up to {}): install the newer regua",
            status.unknown,
            MIGRATIONS.last().map_or(0, |m| m.0)
        );
    }
    for &(version, name, sql) in MIGRATIONS {
        let mut tx = db.begin().await?;
        if db.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7265677561)")
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("SELECT COUNT(*) FROM regua_schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>(0)?;
        if done > 0 {
            continue;
        }
        sqlx::raw_sql(AssertSqlSafe(dialect(sql, db.backend)))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("migration {version:04}_{name} failed"))?;
        if version == 26 {
            allow_whatsapp_notices(&mut tx, db.backend)
                .await
                .context("migration 0026_whatsapp: the notices' channel check")?;
        }
        sqlx::query(
            "INSERT INTO regua_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(name)
        .bind(jiff::Timestamp::now().as_millisecond())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "migration applied");
    }
    let installed = super::layouts::install_default_layouts(db).await?;
    if installed > 0 {
        tracing::info!(installed, "default layouts installed");
    }
    Ok(())
}
