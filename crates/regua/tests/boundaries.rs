//! The layering check (`scripts/check-boundaries`, docs/architecture.md) passes on the tree
//! and catches a breach: a forbidden import in store/ or domain/, a transaction or an audit row
//! written by a page or a command.

use std::path::Path;
use std::process::Command;

fn check(src: &Path) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(root.join("scripts/check-boundaries"))
        .arg("--src")
        .arg(src)
        .output()
        .expect("python3");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_tree_keeps_its_layers_and_a_new_breach_fails_the_check() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (ok, out) = check(&src);
    assert!(ok, "{out}");

    for (file, code, expect) in [
        (
            "store/sneaky.rs",
            "use crate::web::auth::Permission;\n",
            "store/sneaky.rs: imports crate::web",
        ),
        (
            "domain/sneaky.rs",
            "fn f() { crate::store::migrate; }\n",
            "domain/sneaky.rs: imports crate::store",
        ),
        (
            "web/sneaky.rs",
            "async fn f(db: &Db) { let tx = db.begin().await; }\n",
            "web/sneaky.rs: opens a transaction",
        ),
        (
            "cli/sneaky.rs",
            "async fn f() { store::audit::record(&mut c, a, b, c, None, None, 0).await; }\n",
            "cli/sneaky.rs: writes an audit row",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&src, dir.path());
        std::fs::write(dir.path().join(file), code).unwrap();
        let (ok, out) = check(dir.path());
        assert!(!ok, "{file}: {out}");
        assert!(out.contains(expect), "{file}: {out}");
    }

    // A baseline that lists a breach the tree no longer has fails too: the list of known
    // breaches (empty since the architecture step) only shrinks and always tells the truth.
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline");
    std::fs::write(&baseline, "store/layouts.rs: imports crate::layouts x2\n").unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(root.join("scripts/check-boundaries"))
        .arg("--src")
        .arg(&src)
        .arg("--baseline")
        .arg(&baseline)
        .output()
        .expect("python3");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("lower scripts/boundaries.baseline"),
        "{text}"
    );
}
