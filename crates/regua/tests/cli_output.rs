//! How the command behaves as a Unix tool (#19 item 8): a closed output pipe ends it quietly.

#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    // The reader is gone before the first line is written, as with `regua … | head -0`.
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["holidays", "2026"])
        .env(
            "REGUA_DATABASE_URL",
            format!("sqlite://{}/regua.db", dir.path().display()),
        )
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
