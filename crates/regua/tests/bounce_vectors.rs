//! `regua bounce classify --json` on the 224 real bounce messages in `tests/data/bounces/`
//! (copied from `shared/vectors/bounces/` with its README and licence: sisimai/set-of-emails,
//! BSD 2-Clause): recipient, kind and status against `expected.json`. The floor is 95 % on kind
//! and on recipient (README there).

use std::path::PathBuf;

fn vectors() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bounces")
}

#[test]
fn the_real_bounces_are_classified() {
    let mut total = 0;
    let (mut kind_ok, mut recipient_ok, mut status_ok, mut status_total) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    for dir in [vectors(), vectors().join("more")] {
        let expected: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        for e in expected {
            let file = e["file"].as_str().unwrap();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
                .args(["bounce", "classify", "--json"])
                .arg(dir.join(file))
                .output()
                .unwrap();
            assert!(out.status.success(), "{file}: {out:?}");
            let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            total += 1;
            let mut wrong = Vec::new();
            if got["kind"] == e["kind"] {
                kind_ok += 1;
            } else {
                wrong.push(format!("kind {} (want {})", got["kind"], e["kind"]));
            }
            let lower = |v: &serde_json::Value| v.as_str().map(str::to_lowercase);
            if lower(&got["recipient"]) == lower(&e["recipient"]) {
                recipient_ok += 1;
            } else {
                wrong.push(format!(
                    "recipient {} (want {})",
                    got["recipient"], e["recipient"]
                ));
            }
            if !e["status"].is_null() {
                status_total += 1;
                if got["status"] == e["status"] {
                    status_ok += 1;
                } else {
                    wrong.push(format!("status {} (want {})", got["status"], e["status"]));
                }
            }
            if !wrong.is_empty() {
                misses.push(format!("{file}: {}", wrong.join("; ")));
            }
        }
    }
    let pct = |n: usize, d: usize| 100.0 * n as f64 / d as f64;
    eprintln!(
        "{total} messages: kind {kind_ok} ({:.1} %), recipient {recipient_ok} ({:.1} %), status {status_ok}/{status_total} ({:.1} %)\n{}",
        pct(kind_ok, total),
        pct(recipient_ok, total),
        pct(status_ok, status_total),
        misses.join("\n")
    );
    assert_eq!(total, 224, "every vector read");
    assert!(
        pct(kind_ok, total) >= 95.0,
        "kind: {:.1} %",
        pct(kind_ok, total)
    );
    assert!(
        pct(recipient_ok, total) >= 95.0,
        "recipient: {:.1} %",
        pct(recipient_ok, total)
    );
}
