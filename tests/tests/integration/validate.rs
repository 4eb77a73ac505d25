//! `ferrocore validate` as a user runs it: the examples and IronCore's samples validate, and
//! bad input gets a clear error, a non-zero exit, no panic and bounded memory.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use ferrocore_tests::{ferrocore_bin, workspace_root};

fn validate(args: &[&str]) -> Output {
    Command::new(ferrocore_bin())
        .arg("validate")
        .args(args)
        .output()
        .expect("run ferrocore validate (build it first: cargo build --bins)")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp_file(name: &str, content: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocore-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Address-space limit for the bad-input runs: far above what validation needs, far below
/// what parsing a 50 MiB document into a tree would take. A run over it fails to allocate and
/// aborts, which the exit-code checks catch.
const MEMORY_LIMIT_KIB: u64 = 512 * 1024;

/// Runs `ferrocore validate` under `ulimit -v` so memory is bounded, not just measured.
fn run_bounded(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" validate \"$@\""
        ))
        .arg(ferrocore_bin())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    child.wait_with_output().unwrap()
}

#[test]
fn examples_and_ironcore_samples_are_valid() {
    let root = workspace_root();
    for dir in ["examples", "api/tests/fixtures/ironcore-samples"] {
        let out = validate(&["-f", root.join(dir).to_str().unwrap()]);
        let text = stdout(&out);
        assert!(out.status.success(), "{dir}:\n{text}");
        assert!(text.contains(" 0 invalid"), "{text}");
        assert!(!text.contains(": invalid"), "{text}");
    }
}

#[test]
fn invalid_objects_list_every_error_and_exit_1() {
    let f = temp_file(
        "bad.yaml",
        b"apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine\nmetadata: {name: m}\nspec:\n  power: Sometimes\n",
    );
    let out = validate(&["-f", f.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Machine default/m: invalid"), "{text}");
    assert!(
        text.contains("  spec.machineClassRef.name: Required value"),
        "{text}"
    );
    assert!(
        text.contains("  spec.power: Unsupported value: \"Sometimes\""),
        "{text}"
    );
}

#[test]
fn malformed_yaml_and_wrong_types_are_clear() {
    let f = temp_file(
        "junk.yaml",
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: ok}\n---\nkind: [unclosed\n---\napiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume\nmetadata: {name: v}\nspec: {resources: {storage: lots}}\n---\n42\n",
    );
    let out = validate(&["-f", f.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Secret default/ok: valid"), "{text}");
    assert!(text.contains("junk.yaml:5: malformed YAML"), "{text}");
    assert!(
        text.contains("junk.yaml:7: spec.resources.storage: Invalid type: \"lots\""),
        "{text}"
    );
    assert!(text.contains("a manifest must be a map"), "{text}");
}

#[test]
fn a_50_mib_document_is_refused_with_bounded_memory() {
    let mut doc =
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: big}\nstringData:\n  blob: \"".to_vec();
    doc.resize(doc.len() + 50 * 1024 * 1024, b'x');
    doc.extend_from_slice(b"\"\n");
    let f = temp_file("big.yaml", &doc);
    let out = run_bounded(&["-f", f.to_str().unwrap()], None);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("the limit is 3145728 bytes"), "{text}");
    std::fs::remove_file(f).unwrap();
}

#[test]
fn ten_thousand_objects_in_one_file_are_refused_with_bounded_memory() {
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!("---\napiVersion: networking.ironcore.dev/v1alpha1\nkind: Network\nmetadata: {{name: n{i}}}\n"));
    }
    let f = temp_file("many.yaml", text.as_bytes());
    let out = run_bounded(&["-f", f.to_str().unwrap()], None);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("more than 5000 documents (split it into several files)"),
        "{text}"
    );
}

#[test]
fn deeply_nested_junk_is_refused() {
    let deep_yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: d}}\nx: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_json = format!("{}{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    for (name, body) in [("deep.yaml", deep_yaml), ("deep.json", deep_json)] {
        let f = temp_file(name, body.as_bytes());
        let out = run_bounded(&["-f", f.to_str().unwrap()], None);
        let text = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("malformed") || text.contains("nests deeper"),
            "{name}: {text}"
        );
    }
}

#[test]
fn standard_input_and_json_work() {
    let json = br#"{"apiVersion":"networking.ironcore.dev/v1alpha1","kind":"Network","metadata":{"name":"n","namespace":"team"}}"#;
    let out = run_bounded(&["-f", "-"], Some(json));
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Network team/n: valid"), "{text}");
}

#[test]
fn a_missing_path_is_an_error_that_names_it() {
    let out = validate(&["-f", "/nonexistent/manifests"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/manifests"), "{err}");
}
