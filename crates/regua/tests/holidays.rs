//! `regua holidays YEAR`.

#[test]
fn holidays_prints_the_years_national_calendar_with_optional_days_marked() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["holidays", "2025"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 14);
    assert!(text.contains("18/04/2025\tSexta-feira Santa (Paixão de Cristo)\n"));
    assert!(text.contains("03/03/2025\tCarnaval (segunda-feira)\t(ponto facultativo)\n"));
    assert!(text.contains("20/11/2025\tDia Nacional de Zumbi e da Consciência Negra\n"));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["holidays", "123"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
