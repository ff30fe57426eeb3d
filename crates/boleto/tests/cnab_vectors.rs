//! Every public return-file vector in `tests/data/cnab/` (copied from `shared/vectors/cnab/`):
//! the reader's JSON equals the expected records — every field the vector lists — and says the
//! same bank and layout.

use std::path::Path;

use serde_json::Value;

#[test]
fn every_return_vector_reads_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cnab");
    let mut files = 0;
    let mut records = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    for json in entries {
        let expected: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let file = dir.join(expected["file"].as_str().unwrap());
        let read = boleto::cnab::read_return(&std::fs::read(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let got = boleto::cnab::to_json(&read);
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(got["bank"], expected["bank"], "{name}");
        assert_eq!(got["layout"], expected["layout"], "{name}");
        let want = expected["records"].as_array().unwrap();
        let have = got["records"].as_array().unwrap();
        assert_eq!(have.len(), want.len(), "{name}: number of records");
        for (w, h) in want.iter().zip(have) {
            for (key, value) in w.as_object().unwrap() {
                assert_eq!(&h[key], value, "{name} line {}: {key}", w["line"]);
            }
            // Every record says why in Portuguese.
            assert!(!h["reasons"].as_array().unwrap().is_empty(), "{name}");
        }
        files += 1;
        records += want.len();
    }
    assert_eq!(files, 20, "all the public return files");
    assert!(records >= 240, "{records} records");
}
