//! The tidy check: rules the compiler and clippy do not enforce.
//!
//! - No non-test `.rs` file is over 1,000 lines (we aim at 800; past 1,000 it fails).
//! - No `todo!()` or `unimplemented!()` outside tests: a stub is not done.

use std::fs;
use std::path::{Path, PathBuf};

use ferrocore_tests::workspace_root;

const MAX_LINES: usize = 1_000;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name.starts_with("target-") {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// Test code: anything under a `tests/` or `benches/` directory, or a `*_test.rs` / `tests.rs`
/// file (unit tests moved out of their module).
fn is_test_file(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    rel.components().any(|c| {
        let c = c.as_os_str();
        c == "tests" || c == "benches" || c == "fuzz"
    }) && !s.starts_with("tests/src/")
        || s.ends_with("_test.rs")
        || s.ends_with("/tests.rs")
}

/// The part of a file before its `#[cfg(test)]` module, which is where shipped code lives.
fn shipped_part(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

fn stub_lines(text: &str) -> Vec<usize> {
    let (todo, unimpl) = (concat!("todo", "!("), concat!("unimplemented", "!("));
    shipped_part(text)
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            code.contains(todo) || code.contains(unimpl)
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn no_file_too_long_and_no_stubs() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(
        files.len() > 5,
        "tidy found too few files under {}",
        root.display()
    );
    let mut problems = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
        if is_test_file(&rel) {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!(
                "{}: {lines} lines (limit {MAX_LINES}): split it",
                rel.display()
            ));
        }
        for line in stub_lines(&text) {
            problems.push(format!(
                "{}:{line}: a stub on a shipped path",
                rel.display()
            ));
        }
    }
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn tidy_detects_what_it_should() {
    let stub = format!("fn f() {{ {}\"later\") }}\n", concat!("todo", "!("));
    assert_eq!(stub_lines(&stub), vec![1]);
    let in_test = format!(
        "fn f() {{}}\n#[cfg(test)]\nmod tests {{ {}) }}\n",
        concat!("todo", "!(")
    );
    assert!(stub_lines(&in_test).is_empty());
    let commented = format!("// {}) is banned\n", concat!("todo", "!("));
    assert!(stub_lines(&commented).is_empty());
    assert!(is_test_file(Path::new("tests/tests/integration/tidy.rs")));
    assert!(is_test_file(Path::new("api/src/quantity_test.rs")));
    assert!(!is_test_file(Path::new("tests/src/lib.rs")));
    assert!(!is_test_file(Path::new("api/src/quantity.rs")));
}
