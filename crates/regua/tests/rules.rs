//! Send rules: stored per billing method, duplicates refused, on both engines and the CLI.

mod common;

use common::*;
use regua::dunning::RuleKind;
use regua::store::{self, parties::ConfigError};

#[tokio::test]
async fn rules_are_stored_per_method_and_the_same_kind_needs_different_days() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let a =
            store::rules::insert_send_rule(&mut conn, "Boleto BB", RuleKind::AfterDue, 13, None, 0)
                .await
                .unwrap();
        store::rules::insert_send_rule(&mut conn, "Boleto BB", RuleKind::AfterDue, 5, None, 0)
            .await
            .unwrap();
        store::rules::insert_send_rule(
            &mut conn,
            "Boleto BB",
            RuleKind::OnDue,
            0,
            Some("Vencimento hoje"),
            0,
        )
        .await
        .unwrap();
        let dup =
            store::rules::insert_send_rule(&mut conn, "Boleto BB", RuleKind::AfterDue, 13, None, 0)
                .await
                .unwrap_err();
        assert!(
            dup.to_string()
                .contains("already has a after_due rule of 13 day(s)"),
            "{} {dup}",
            t.label
        );
        let bad =
            store::rules::insert_send_rule(&mut conn, "Boleto BB", RuleKind::OnDue, 2, None, 0)
                .await
                .unwrap_err();
        assert!(matches!(bad, ConfigError::Invalid { field: "days", .. }));
        let bad =
            store::rules::insert_send_rule(&mut conn, "Boleto BB", RuleKind::BeforeDue, 0, None, 0)
                .await
                .unwrap_err();
        assert!(matches!(bad, ConfigError::Invalid { field: "days", .. }));
        let unknown =
            store::rules::insert_send_rule(&mut conn, "Nenhum", RuleKind::OnDue, 0, None, 0)
                .await
                .unwrap_err();
        assert!(matches!(
            unknown,
            ConfigError::Unknown {
                what: "billing method",
                ..
            }
        ));
        let rules = store::rules::list_send_rules(&mut conn).await.unwrap();
        let kinds: Vec<_> = rules.iter().map(|r| (r.kind, r.days)).collect();
        assert_eq!(
            kinds,
            [
                (RuleKind::OnDue, 0),
                (RuleKind::AfterDue, 5),
                (RuleKind::AfterDue, 13)
            ]
        );
        let after13 = rules.iter().find(|r| r.id == a).unwrap();
        let layout = store::layouts::get_layout(&mut conn, after13.layout)
            .await
            .unwrap();
        assert_eq!(
            layout.purpose,
            regua::layouts::Purpose::ReminderAfterDue,
            "the kind's default layout"
        );
        assert!(store::rules::delete_send_rule(&mut conn, a).await.unwrap());
        assert!(!store::rules::delete_send_rule(&mut conn, a).await.unwrap());
        assert_eq!(
            store::rules::list_send_rules(&mut conn)
                .await
                .unwrap()
                .len(),
            2
        );
    }
}

#[tokio::test]
async fn regua_rule_add_list_remove() {
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    let regua = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(args)
            .env("REGUA_DATABASE_URL", &t.url)
            .output()
            .unwrap()
    };
    let out = regua(&[
        "rule",
        "add",
        "--method",
        "Boleto BB",
        "--kind",
        "after_due",
        "--days",
        "13",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "rule 1 added: after_due 13 day(s) on \"Boleto BB\""
    );
    let out = regua(&[
        "rule",
        "add",
        "--method",
        "Boleto BB",
        "--kind",
        "after_due",
        "--days",
        "13",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let list = String::from_utf8(regua(&["rule", "list"]).stdout).unwrap();
    assert_eq!(
        list,
        "id\tmethod\tkind\tdays\tlayout\tchannels\tmode\n1\tBoleto BB\tafter_due\t13\tLembrete após o vencimento\temail\tfirst\n"
    );
    assert!(regua(&["rule", "remove", "1"]).status.success());
    assert_eq!(regua(&["rule", "remove", "1"]).status.code(), Some(2));
}
