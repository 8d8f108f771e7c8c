//! Replays through the fuzz targets' own checks (`fuzz/checks.rs`) every input the fuzzers
//! kept: their corpora (`fuzz/corpus/<target>/`, seeds included) and every input that once
//! failed a check (`fuzz/regressions/<target>/`). So what fuzzing found stays fixed without
//! a nightly toolchain; `scripts/fuzz` does the fuzzing itself.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

#[test]
fn every_kept_input_passes_its_target_s_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, check) in checks::TARGETS {
        let mut replayed = 0;
        for kind in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
                continue;
            };
            for entry in entries.flatten() {
                let input = std::fs::read(entry.path()).expect("a readable input");
                check(&input);
                replayed += 1;
            }
        }
        assert!(replayed > 0, "{target}: no corpus");
    }
}
