//! `zksim conformance CORPUS [--target model-3.8.0|model|service]` through the real binary: the
//! vendored real-ZooKeeper cases all pass on the model with 3.8.0's watch bookkeeping and, but
//! for the two 3.8.0-bug cases, on the fixed model and the service; a case whose recorded answer is changed fails with
//! its diff (exit 1), and a malformed corpus is an error naming the file (exit 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CORPUS: &str = "model/testdata/zookeeper-3.8-probes.json";

fn conformance(corpus: &Path, target: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zksim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["conformance", "--target", target])
        .arg(corpus)
        .output()
        .expect("the zksim binary runs")
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("zksim-conformance-test-{}-{name}", std::process::id()))
}

#[test]
fn the_vendored_cases_pass_on_the_model_and_the_service() {
    let out = conformance(Path::new(CORPUS), "model-3.8.0");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("142 cases: 142 pass, 0 known 3.8.0 bugs, 0 fail"), "{stdout}");
    for target in ["model", "service"] {
        let out = conformance(Path::new(CORPUS), target);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{target}: {stdout}");
        assert!(stdout.contains("142 cases: 140 pass, 2 known 3.8.0 bugs, 0 fail"), "{target}: {stdout}");
    }
}

#[test]
fn a_changed_answer_fails_with_its_diff() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS)).unwrap();
    let mut cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let case = cases.as_array_mut().unwrap().iter_mut().find(|c| c["name"] == "acl_no_delete_parent").unwrap();
    // The real server refused the child's delete (the parent lacks DELETE); claim it succeeded.
    case["results"][2] = serde_json::json!({"ok": null, "events": []});
    let file = scratch("changed.json");
    std::fs::write(&file, serde_json::to_string(&cases).unwrap()).unwrap();
    let out = conformance(&file, "model");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("fail              acl_no_delete_parent"), "{stdout}");
    assert!(stdout.contains(r#"got:      {"err":"NoAuth""#), "the diff shows the model's answer: {stdout}");
    assert!(stdout.contains("142 cases: 139 pass, 2 known 3.8.0 bugs, 1 fail or cannot run"), "{stdout}");
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_malformed_corpus_names_the_file() {
    let file = scratch("malformed.json");
    std::fs::write(&file, r#"[{"name": "x", "namespace": "moon", "sessions": 1, "ops": [], "results": []}]"#).unwrap();
    let out = conformance(&file, "model");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()) && stderr.contains("moon"), "{stderr}");
    let _ = std::fs::remove_file(file);
}
