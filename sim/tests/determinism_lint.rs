//! House rule as a test: every `select!` in the simulated code is `biased`. An unbiased
//! `tokio::select!` polls its branches in an order drawn from tokio's thread-local generator,
//! which madsim does not seed: the same seed would then give different histories.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_select_is_biased() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files.sort();
    let mut offenders = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable source");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains("select!") && !line.trim_start().starts_with("//") {
                let window = lines[i..lines.len().min(i + 4)].join("\n");
                if !window.contains("biased;") {
                    offenders.push(format!("{}:{}", f.display(), i + 1));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "unbiased select! (nondeterministic polling order) at:\n{}", offenders.join("\n"));
}
