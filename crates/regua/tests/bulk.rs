//! The bulk path (`store::bulk`): several hops of rows are one transaction, on both engines; a
//! failure in a late hop leaves nothing of the early ones; on SQLite the bulk writer and the
//! pool's writers take turns.

mod common;

use std::time::Duration;

use common::*;
use regua::domain::*;
use regua::import::ImportKind;
use regua::store;

/// Customers enough for three hops of [`store::bulk::CHUNK`] rows.
const MANY: u64 = 2 * store::bulk::CHUNK as u64 + 500;

async fn count(db: &store::Db, table: &str) -> i64 {
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::Row::get(
        &sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut *conn)
            .await
            .unwrap(),
        0,
    )
}

#[tokio::test]
async fn a_failure_in_the_last_hop_leaves_nothing_of_the_first_ones() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        let csv = regua::bench::synthetic_customers_csv(MANY);
        let report = import_ok(&t.db, ImportKind::Customers, &csv).await;
        assert_eq!(report.created as u64, MANY, "{}", t.label);
        assert_eq!(count(&t.db, "customers").await, MANY as i64, "{}", t.label);
        // Every contract but the last is valid; the last names a customer that does not
        // exist, which only the database can tell (a foreign key), in the third hop.
        let methods = {
            let mut conn = t.db.pool.acquire().await.unwrap();
            store::parties::list_billing_methods(&mut conn)
                .await
                .unwrap()
        };
        let method = methods[0].id;
        let contracts: Vec<NewContract> = (1..=MANY as i64)
            .map(|i| NewContract {
                external_id: format!("B{i}"),
                customer_id: CustomerId(if i == MANY as i64 { 10 * i } else { i }),
                plan: "Fibra".into(),
                monthly_amount: Money(9990),
                due_day: 10,
                billing_method_id: method,
                delivery_type: None,
                status: ContractStatus::Active,
            })
            .collect();
        let mut conn = t.db.pool.acquire().await.unwrap();
        let mut bulk = t.db.bulk().await.unwrap();
        let err = store::parties::upsert_contracts(&mut conn, &mut bulk, &contracts, &methods, 0)
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("contracts"),
            "{}: {err:#}",
            t.label
        );
        drop(bulk);
        assert_eq!(count(&t.db, "contracts").await, 0, "{}", t.label);
        // The next bulk write starts clean: the valid contracts go in.
        let mut bulk = t.db.bulk().await.unwrap();
        store::parties::upsert_contracts(
            &mut conn,
            &mut bulk,
            &contracts[..contracts.len() - 1],
            &methods,
            0,
        )
        .await
        .unwrap();
        bulk.commit().await.unwrap();
        assert_eq!(
            count(&t.db, "contracts").await,
            MANY as i64 - 1,
            "{}",
            t.label
        );
        // And so does a single write through the pool.
        customer_with_contract(&t.db, 5, "email").await;
        assert_eq!(count(&t.db, "contracts").await, MANY as i64, "{}", t.label);
    }
}

#[tokio::test]
async fn on_sqlite_a_pool_writer_waits_for_the_bulk_transaction() {
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    let bulk = t.db.bulk().await.unwrap();
    let db = t.db.clone();
    let writer = tokio::spawn(async move {
        // Db::begin queues behind the bulk transaction's writer lock.
        customer_with_contract(&db, 5, "email").await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!writer.is_finished(), "the pool's writer got in first");
    assert_eq!(count(&t.db, "customers").await, 0);
    bulk.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("the pool's writer never ran")
        .unwrap();
    assert_eq!(count(&t.db, "customers").await, 1);
}

#[tokio::test]
async fn an_in_memory_database_is_refused_by_the_bulk_path_with_a_reason() {
    let db = store::Db::connect("sqlite::memory:").await.unwrap();
    let err = db.bulk().await.err().expect("refused");
    assert!(format!("{err:#}").contains("in-memory"), "{err:#}");
}

#[tokio::test]
async fn a_bad_row_in_the_last_chunk_of_a_file_imports_nothing_of_the_chunks_before() {
    for t in each_backend().await {
        // Checked a chunk at a time while the chunk before is written: the bad rows are in
        // the third chunk, after two chunks went to the database.
        let mut csv = regua::bench::synthetic_customers_csv(MANY);
        csv.push_str("C0000001,Repetido,529.982.247-25,,\n");
        csv.push_str("C9999999,CPF errado,111.111.111-12,,\n");
        let lines = MANY + 3;
        let err = regua::import::import_csv(
            &t.db,
            ImportKind::Customers,
            csv.as_bytes(),
            &clock_on("2026-01-05"),
        )
        .await
        .unwrap_err();
        let regua::import::ImportError::BadRows(rows) = err else {
            panic!("{}: {err}", t.label)
        };
        let rows: Vec<String> = rows.iter().map(ToString::to_string).collect();
        assert_eq!(
            rows,
            vec![
                format!(
                    "line {}: external_id: \"C0000001\" appears again (first on line 2)",
                    lines - 1
                ),
                format!(
                    "line {lines}: document: \"111.111.111-12\" is not a valid CPF or CNPJ: {}",
                    regua::domain::Document::parse("111.111.111-12").unwrap_err()
                ),
            ],
            "{}",
            t.label
        );
        assert_eq!(count(&t.db, "customers").await, 0, "{}", t.label);
        // The same file without them imports whole.
        let good = regua::bench::synthetic_customers_csv(MANY);
        assert_eq!(
            import_ok(&t.db, ImportKind::Customers, &good).await.created as u64,
            MANY,
            "{}",
            t.label
        );
    }
}
