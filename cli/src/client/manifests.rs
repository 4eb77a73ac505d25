//! Reading manifests for `apply -f` and `delete -f`: files, directories (recursively, `*.yaml`,
//! `*.yml`, `*.json`, sorted) or standard input (`-`), decoded strictly into objects with the
//! namespace defaulted; a document that does not decode becomes a [`Problem`] with every cause.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ferrocore_api::Object;
use ferrocore_api::decode::{DecodeError, MAX_INPUT_BYTES, decode_documents, default_namespace};

/// One document of the input.
#[derive(Debug)]
pub(crate) enum Manifest {
    /// A decoded object (namespace defaulted, not yet defaulted otherwise).
    Object(Box<Object>),
    /// A document that cannot be sent.
    Problem(Problem),
}

/// Why a document cannot be sent, with where it is.
#[derive(Debug)]
pub(crate) struct Problem {
    /// `file:line` of the document, or the object's name when known.
    pub(crate) at: String,
    /// Every cause, one per line.
    pub(crate) causes: Vec<String>,
}

/// Reads and decodes every input in order.
///
/// # Errors
/// When an input path cannot be read at all (missing file, unreadable directory).
pub(crate) fn load(inputs: &[PathBuf], namespace: &str) -> anyhow::Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            decode_into("<stdin>", &read_stdin()?, namespace, &mut out);
            continue;
        }
        let files = manifest_files(input)?;
        if files.is_empty() {
            anyhow::bail!(
                "{}: no *.yaml, *.yml or *.json files found",
                input.display()
            );
        }
        for file in files {
            let source = file.display().to_string();
            match read_file(&file) {
                Ok(text) => decode_into(&source, &text, namespace, &mut out),
                Err(e) => out.push(Manifest::Problem(Problem {
                    at: source,
                    causes: vec![format!("{e:#}")],
                })),
            }
        }
    }
    Ok(out)
}

fn decode_into(source: &str, text: &str, namespace: &str, out: &mut Vec<Manifest>) {
    let docs = match decode_documents(text) {
        Ok(d) => d,
        Err(e) => {
            out.push(Manifest::Problem(Problem {
                at: source.to_owned(),
                causes: vec![e.to_string()],
            }));
            return;
        }
    };
    for doc in docs {
        let at = format!("{source}:{}", doc.line);
        match doc.result {
            Ok(mut obj) => {
                default_namespace(&mut obj, namespace);
                out.push(Manifest::Object(Box::new(obj)));
            }
            Err(DecodeError::Fields { errors, partial }) => {
                let at = partial.map_or_else(|| at.clone(), |o| format!("{} ({at})", o.key()));
                out.push(Manifest::Problem(Problem {
                    at,
                    causes: errors.iter().map(ToString::to_string).collect(),
                }));
            }
            Err(e) => out.push(Manifest::Problem(Problem {
                at,
                causes: e.to_string().lines().map(str::to_owned).collect(),
            })),
        }
    }
}

/// Standard input as text, at most [`MAX_INPUT_BYTES`] (+1, so the decoder sees it is over).
pub(crate) fn read_stdin() -> anyhow::Result<String> {
    let mut buf = String::new();
    let limit = u64::try_from(MAX_INPUT_BYTES).unwrap_or(u64::MAX) + 1;
    std::io::stdin()
        .take(limit)
        .read_to_string(&mut buf)
        .context("reading standard input (it must be UTF-8 text)")?;
    Ok(buf)
}

/// A manifest file as text; one over [`MAX_INPUT_BYTES`] is refused before it is read.
pub(crate) fn read_file(path: &Path) -> anyhow::Result<String> {
    let len = std::fs::metadata(path)?.len();
    if len > u64::try_from(MAX_INPUT_BYTES).unwrap_or(u64::MAX) {
        anyhow::bail!("file is {len} bytes; the limit is {MAX_INPUT_BYTES} bytes (split it)");
    }
    std::fs::read_to_string(path).context("reading the file (it must be UTF-8 text)")
}

/// `path` itself if it is a file, else every manifest below it, sorted.
pub(crate) fn manifest_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_default_and_problems_list_every_cause() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\n\
                    apiVersion: v1\nkind: Secret\nmetadata: {name: b, namespace: other}\nbogus: 1\nworse: 2\n---\n\
                    apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachineClass\nmetadata: {name: c}\n";
        let mut out = Vec::new();
        decode_into("f.yaml", text, "shop", &mut out);
        assert_eq!(out.len(), 3);
        let Manifest::Object(a) = &out[0] else {
            panic!("{:?}", out[0])
        };
        assert_eq!(a.meta().namespace, "shop");
        let Manifest::Problem(p) = &out[1] else {
            panic!("{:?}", out[1])
        };
        assert_eq!(p.causes.len(), 2, "{p:?}");
        assert!(p.at.contains("f.yaml:5"), "{p:?}");
        let Manifest::Object(c) = &out[2] else {
            panic!("{:?}", out[2])
        };
        assert_eq!(
            c.meta().namespace,
            "",
            "cluster-scoped kinds get no namespace"
        );
    }
}
