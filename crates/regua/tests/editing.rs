//! Editing and removing what an ISP configured (#19 item 1): SMTP accounts, on both engines.

mod common;

use common::*;
use regua::actions::channels::{RemoveError, remove_smtp_account, update_smtp_account};
use regua::delivery::{AccountId, NewSmtpAccount, Security};
use regua::domain::{Actor, EmailAddress};
use regua::store::{self, accounts::PasswordChange};

fn actor() -> Actor {
    Actor::User("ana".into())
}

async fn notice_account(db: &store::Db, id: regua::delivery::NoticeId) -> Option<AccountId> {
    let mut conn = db.pool.acquire().await.unwrap();
    store::outbox::get_notice(&mut conn, id)
        .await
        .unwrap()
        .account_id
}

#[tokio::test]
async fn removing_an_account_moves_its_queue_frees_its_name_and_clears_the_default() {
    for t in each_backend().await {
        let invoices = open_invoices(&t.db, 1).await;
        let a = sink_account(&t.db, "Antiga", 2525, AccountSetup::default()).await;
        let b = sink_account(&t.db, "Nova", 2526, AccountSetup::default()).await;
        let queued = queue_invoice_email(&t.db, &invoices[0], &a, "k1", 0).await;
        {
            let mut conn = t.db.pool.acquire().await.unwrap();
            store::parties::set_setting(
                &mut conn,
                store::accounts::SETTING_FINANCIAL_ACCOUNT,
                "Antiga",
            )
            .await
            .unwrap();
        }
        // The financial account with a queue and no other account named: held, nothing changes.
        let held = remove_smtp_account(&t.db, "Antiga", None, &actor(), 1).await;
        assert!(
            matches!(held, Err(RemoveError::Held { waiting: 1, .. })),
            "{held:?}"
        );
        assert_eq!(notice_account(&t.db, queued).await, Some(a.id));
        // A target that is not another active account: refused too.
        let bad = remove_smtp_account(&t.db, "Antiga", Some("Antiga"), &actor(), 1).await;
        assert!(matches!(bad, Err(RemoveError::BadTarget(_))), "{bad:?}");

        let removed = remove_smtp_account(&t.db, "Antiga", Some("Nova"), &actor(), 2)
            .await
            .unwrap();
        assert_eq!(removed.moved, 1);
        assert_eq!(removed.moved_to.as_deref(), Some("Nova"));
        assert!(removed.was_financial);
        assert_eq!(notice_account(&t.db, queued).await, Some(b.id));
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert!(
            store::accounts::financial_account(&mut conn)
                .await
                .unwrap()
                .is_none(),
            "a removed account is no longer the default"
        );
        let old = store::accounts::get_smtp_account(&mut conn, a.id)
            .await
            .unwrap();
        assert!(!old.active);
        assert_eq!(old.name, format!("Antiga (removida #{})", a.id.0));
        drop(conn);
        // The name is free again.
        sink_account(&t.db, "Antiga", 2527, AccountSetup::default()).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let audit: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT action, after FROM audit_log WHERE action = 'smtp.remove' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(audit.len(), 1, "the refused removals wrote nothing");
        assert!(
            audit[0]
                .1
                .as_deref()
                .unwrap()
                .contains("\"moved_notices\":1")
        );
    }
}

#[tokio::test]
async fn removing_moves_the_queue_to_the_financial_account_by_default() {
    for t in each_backend().await {
        let invoices = open_invoices(&t.db, 1).await;
        let a = sink_account(&t.db, "Antiga", 2525, AccountSetup::default()).await;
        let f = sink_account(&t.db, "Financeiro", 2526, AccountSetup::default()).await;
        let queued = queue_invoice_email(&t.db, &invoices[0], &a, "k1", 0).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        store::parties::set_setting(
            &mut conn,
            store::accounts::SETTING_FINANCIAL_ACCOUNT,
            "Financeiro",
        )
        .await
        .unwrap();
        drop(conn);
        let removed = remove_smtp_account(&t.db, "Antiga", None, &actor(), 2)
            .await
            .unwrap();
        assert_eq!(
            (removed.moved, removed.was_financial),
            (1, false),
            "{removed:?}"
        );
        assert_eq!(notice_account(&t.db, queued).await, Some(f.id));
    }
}

#[tokio::test]
async fn editing_keeps_replaces_or_clears_the_password_and_follows_a_rename() {
    for t in each_backend().await {
        let a = sink_account(
            &t.db,
            "Principal",
            2525,
            AccountSetup {
                auth: Some(("cobranca".into(), "senha-velha".into())),
                ..AccountSetup::default()
            },
        )
        .await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        store::parties::set_setting(
            &mut conn,
            store::accounts::SETTING_FINANCIAL_ACCOUNT,
            "Principal",
        )
        .await
        .unwrap();
        drop(conn);
        let key = test_key();
        let edit = |name: &str, user: Option<&str>| NewSmtpAccount {
            security: Security::StartTls,
            credentials: user.map(|u| (u.to_string(), regua::secrets::Secret::new(String::new()))),
            hourly_limit: Some(50),
            daily_limit: Some(400),
            ..NewSmtpAccount::smtp(
                name,
                "smtp.exemplo.com.br",
                587,
                EmailAddress::parse("financeiro@provedor.com.br").unwrap(),
            )
        };
        let password = async |db: &store::Db| {
            let mut conn = db.pool.acquire().await.unwrap();
            store::accounts::smtp_password(&mut conn, a.id, Some(&key))
                .await
                .unwrap()
                .map(|s| s.expose().to_string())
        };
        // A blank password keeps the stored one.
        update_smtp_account(
            &t.db,
            a.id,
            &edit("Principal", Some("cobranca")),
            &PasswordChange::Keep,
            Some(&key),
            &actor(),
            1,
        )
        .await
        .unwrap();
        assert_eq!(password(&t.db).await.as_deref(), Some("senha-velha"));
        update_smtp_account(
            &t.db,
            a.id,
            &edit("Cobrança", Some("cobranca")),
            &PasswordChange::Replace(regua::secrets::Secret::new("senha-nova")),
            Some(&key),
            &actor(),
            2,
        )
        .await
        .unwrap();
        assert_eq!(password(&t.db).await.as_deref(), Some("senha-nova"));
        let mut conn = t.db.pool.acquire().await.unwrap();
        let now = store::accounts::get_smtp_account(&mut conn, a.id)
            .await
            .unwrap();
        assert_eq!(
            (
                now.name.as_str(),
                now.host.as_str(),
                now.hourly_limit,
                now.daily_limit
            ),
            ("Cobrança", "smtp.exemplo.com.br", Some(50), Some(400))
        );
        assert_ne!(now.revision, a.revision, "workers see the edit");
        assert_eq!(
            store::accounts::financial_account(&mut conn)
                .await
                .unwrap()
                .map(|f| f.id),
            Some(a.id),
            "a renamed financial account stays the financial one"
        );
        let trail: Vec<(String, String)> = sqlx::query_as(
            "SELECT before, after FROM audit_log WHERE action = 'smtp.update' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(trail.len(), 2);
        assert!(trail[1].1.contains("\"hourly_limit\":50"), "{}", trail[1].1);
        assert!(
            !trail
                .iter()
                .any(|(b, a)| b.contains("senha") || a.contains("senha")),
            "the password never reaches the trail"
        );
        drop(conn);
        // No user: the password goes too.
        update_smtp_account(
            &t.db,
            a.id,
            &edit("Cobrança", None),
            &PasswordChange::Clear,
            Some(&key),
            &actor(),
            3,
        )
        .await
        .unwrap();
        assert_eq!(password(&t.db).await, None);
        // Renaming onto another account's name is refused.
        sink_account(&t.db, "Outra", 2526, AccountSetup::default()).await;
        let dup = update_smtp_account(
            &t.db,
            a.id,
            &edit("Outra", None),
            &PasswordChange::Keep,
            Some(&key),
            &actor(),
            4,
        )
        .await;
        assert!(
            matches!(dup, Err(store::parties::ConfigError::Duplicate { .. })),
            "{dup:?}"
        );
    }
}
