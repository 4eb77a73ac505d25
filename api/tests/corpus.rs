//! The compatibility corpus: every IronCore sample manifest and every file in `examples/`
//! decodes, defaults and validates unchanged.

use std::path::{Path, PathBuf};

use ferrocore_api::decode::{decode_documents, default_namespace};

fn manifests(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            manifests(&p, out);
        } else if p
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(p);
        }
    }
}

/// Validates every object of every manifest under `dir`; returns how many objects there were.
fn check_dir(dir: &Path) -> usize {
    let mut files = Vec::new();
    manifests(dir, &mut files);
    assert!(!files.is_empty(), "no manifests under {}", dir.display());
    let mut count = 0;
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in decode_documents(&text).unwrap() {
            count += 1;
            match doc.result {
                Ok(mut obj) => {
                    default_namespace(&mut obj, "default");
                    obj.set_defaults();
                    let errs = obj.validate();
                    if !errs.is_empty() {
                        failures.push(format!("{}:{}: {errs}", file.display(), doc.line));
                    }
                }
                Err(e) => failures.push(format!("{}:{}: {e}", file.display(), doc.line)),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    count
}

#[test]
fn every_ironcore_sample_validates_unchanged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ironcore-samples");
    assert_eq!(check_dir(&dir), 49);
}

#[test]
fn every_example_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    assert!(check_dir(&dir) >= 21);
}

#[test]
fn examples_cover_every_kind() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = Vec::new();
    manifests(&dir, &mut files);
    let mut kinds = std::collections::BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in decode_documents(&text).unwrap() {
            kinds.insert(doc.result.unwrap().kind());
        }
    }
    let missing: Vec<_> = ferrocore_api::Kind::all()
        .filter(|k| !kinds.contains(k))
        .collect();
    assert!(missing.is_empty(), "examples miss {missing:?}");
}
