//! `regua bench` as scripts use it: the JSON it writes (issue #10's format), on SQLite and on a
//! PostgreSQL given with `--database`, delivering to a real SMTP server.

mod common;

use serde_json::Value;

fn bench(args: &[&str], database: Option<&str>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_regua"));
    cmd.arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json)
        .env_remove("REGUA_DATABASE_URL")
        .env("REGUA_TODAY", "2026-01-05");
    if let Some(url) = database {
        cmd.args(["--database", url]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("peak memory:"), "{table}");
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn stage<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("stage {name} in {r}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_has_every_stage_and_deliver_runs_with_a_sink() {
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    let smtp = format!("127.0.0.1:{}", sink.port());
    let r = tokio::task::spawn_blocking(move || {
        bench(
            &["--customers", "60", "--smtp", &smtp, "--concurrency", "2"],
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(r["customers"], 60);
    assert_eq!(r["database"], "sqlite");
    assert!(r["peak_rss_mb"].as_f64().unwrap() > 1.0);
    let names: Vec<&str> = r["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in [
        "import", "generate", "plan", "enqueue", "render", "pdf", "deliver",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    for s in r["stages"].as_array().unwrap() {
        let (items, seconds, rate) = (
            s["items"].as_f64().unwrap(),
            s["seconds"].as_f64().unwrap(),
            s["per_second"].as_f64().unwrap(),
        );
        assert!(items > 0.0 && seconds > 0.0, "{s}");
        assert!((rate - items / seconds).abs() / rate < 1e-6, "{s}");
    }
    assert_eq!(stage(&r, "import")["items"], 60);
    assert_eq!(stage(&r, "generate")["items"], 180);
    // Every invoice's reminder reached the sink, boleto attached.
    assert_eq!(stage(&r, "deliver")["items"], 180);
    assert_eq!(sink.count(), 180);
    assert!(sink.received()[0].text().contains("application/pdf"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_boletos_per_message_on_postgres() {
    let t = common::postgres().await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    let smtp = format!("127.0.0.1:{}", sink.port());
    let url = t.url.clone();
    let r = tokio::task::spawn_blocking(move || {
        bench(
            &[
                "--customers",
                "20",
                "--months",
                "4",
                "--pdf-pages",
                "4",
                "--smtp",
                &smtp,
            ],
            Some(&url),
        )
    })
    .await
    .unwrap();
    assert_eq!(r["database"], "postgres");
    assert_eq!(stage(&r, "generate")["items"], 80);
    // One message per contract, its four boletos in one PDF of about 50 KB.
    assert_eq!(stage(&r, "deliver")["items"], 20);
    assert_eq!(sink.count(), 20);
    let bytes = r["message_bytes"].as_u64().unwrap();
    assert!((60_000..80_000).contains(&bytes), "{bytes}");
    let m = sink.received()[0].text();
    assert_eq!(m.matches("application/pdf").count(), 1);
    assert!(m.contains("boletos-K"), "one PDF named after the contract");
}
