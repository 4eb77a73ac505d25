//! Decoding manifests: multi-document YAML or JSON into typed objects, strictly.
//!
//! Bounds (each a named constant): the size of one document, the number of documents in one
//! input, and nesting depth. A document over its bound is rejected before it is parsed, so a
//! hostile input costs at most one bounded parse. Unknown fields are errors naming every
//! unknown field's path; a wrong type names the field too.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::field::{ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::object::Object;

/// Largest accepted document (one object), as the Kubernetes API server's request limit.
pub const MAX_DOCUMENT_BYTES: usize = 3 * 1024 * 1024;
/// Largest accepted input (a file or standard input).
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
/// Most documents (objects, counting `List` items) in one input.
pub const MAX_DOCUMENTS: usize = 5_000;
/// Deepest accepted nesting of maps and lists in one document.
pub const MAX_DEPTH: usize = 64;

/// Why one document could not be turned into an object.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The text is not YAML or JSON.
    #[error("malformed {format}: {message}")]
    Syntax {
        /// `YAML` or `JSON`.
        format: &'static str,
        /// The parser's message, with its position.
        message: String,
    },
    /// The document is over [`MAX_DOCUMENT_BYTES`].
    #[error("document is {bytes} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// The document's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The document nests deeper than [`MAX_DEPTH`].
    #[error("document nests deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The document is not a map.
    #[error("a manifest must be a map with apiVersion, kind and metadata, not {found}")]
    NotAnObject {
        /// What was found instead.
        found: &'static str,
    },
    /// `apiVersion` or `kind` is missing or not a string.
    #[error(
        "{0} is required (a string), e.g. apiVersion: compute.ironcore.dev/v1alpha1, kind: Machine"
    )]
    MissingTypeMeta(&'static str),
    /// The apiVersion/kind pair is not served.
    #[error("no kind {kind:?} in {api_version:?}{hint}")]
    UnknownKind {
        /// The given apiVersion.
        api_version: String,
        /// The given kind.
        kind: String,
        /// A suggestion, when the kind exists in another version.
        hint: String,
    },
    /// Unknown fields or values of the wrong type.
    #[error("{errors}")]
    Fields {
        /// The errors, with their field paths.
        errors: ErrorList,
        /// The object without the unknown fields, when only unknown fields were wrong, so its
        /// other errors can be reported too.
        partial: Option<Box<Object>>,
    },
}

/// One decoded document, with the line it starts on (1-based).
#[derive(Debug)]
pub struct Decoded {
    /// The first line of the document in the input.
    pub line: usize,
    /// The object, or why not.
    pub result: Result<Object, DecodeError>,
}

/// Why a whole input was refused.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum InputError {
    /// The input is over [`MAX_INPUT_BYTES`].
    #[error("input is {bytes} bytes; the limit is {limit} bytes (split it into several files)")]
    TooLarge {
        /// The input's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The input has more than [`MAX_DOCUMENTS`] documents.
    #[error("input has more than {limit} documents (split it into several files)")]
    TooManyDocuments {
        /// The limit.
        limit: usize,
    },
}

/// Decodes every document of `text` (YAML, or JSON when it starts with `{` or `[`).
///
/// # Errors
/// When the input as a whole is over a bound; errors of single documents are per document.
pub fn decode_documents(text: &str) -> Result<Vec<Decoded>, InputError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge {
            bytes: text.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let trimmed = text.trim_start();
    let chunks = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        json_chunks(text)
    } else {
        yaml_chunks(text)
    };
    let mut out = Vec::new();
    for chunk in chunks {
        if out.len() >= MAX_DOCUMENTS {
            return Err(InputError::TooManyDocuments {
                limit: MAX_DOCUMENTS,
            });
        }
        let line = first_content_line(&chunk);
        match chunk.parse() {
            Ok(Some(value)) => expand(value, line, &mut out)?,
            Ok(None) => {}
            Err(e) => out.push(Decoded {
                line,
                result: Err(e),
            }),
        }
    }
    Ok(out)
}

/// Decodes a single JSON or YAML document into an object.
///
/// # Errors
/// As for one document of [`decode_documents`].
pub fn decode_object(text: &str) -> Result<Object, DecodeError> {
    let chunk = Chunk {
        line: 1,
        text,
        json: text.trim_start().starts_with('{'),
    };
    let value = chunk.parse()?.ok_or(DecodeError::NotAnObject {
        found: "an empty document",
    })?;
    object_from_value(value)
}

struct Chunk<'a> {
    line: usize,
    text: &'a str,
    json: bool,
}

impl Chunk<'_> {
    fn parse(&self) -> Result<Option<Value>, DecodeError> {
        if self.text.len() > MAX_DOCUMENT_BYTES {
            return Err(DecodeError::TooLarge {
                bytes: self.text.len(),
                limit: MAX_DOCUMENT_BYTES,
            });
        }
        let value: Value = if self.json {
            serde_json::from_str(self.text).map_err(|e| DecodeError::Syntax {
                format: "JSON",
                message: e.to_string(),
            })?
        } else {
            if is_blank_yaml(self.text) {
                return Ok(None);
            }
            // The YAML parser reads a whole document's events before its own recursion limit
            // applies, so a document of nested brackets is refused before parsing.
            if flow_depth(self.text) > MAX_DEPTH {
                return Err(DecodeError::TooDeep { limit: MAX_DEPTH });
            }
            serde_norway::from_str(self.text).map_err(|e| DecodeError::Syntax {
                format: "YAML",
                message: shift_line(&e.to_string(), self.line),
            })?
        };
        if value.is_null() {
            return Ok(None);
        }
        if depth(&value) > MAX_DEPTH {
            return Err(DecodeError::TooDeep { limit: MAX_DEPTH });
        }
        Ok(Some(value))
    }
}

/// The deepest nesting of YAML flow collections (`[`, `{`) outside quotes and comments.
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<u8> = None;
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        match (quote, b) {
            (Some(b'"'), b'\\') => {
                bytes.next();
            }
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'#') => while bytes.next_if(|c| *c != b'\n').is_some() {},
            (None, b'[' | b'{') => {
                depth += 1;
                max = max.max(depth);
            }
            (None, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    })
}

/// Rewrites every "line N" of the parser's message (relative to the chunk) into a line of the
/// whole input.
fn shift_line(message: &str, first_line: usize) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("line ") {
        out.push_str(&rest[..at + 5]);
        rest = &rest[at + 5..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<usize>() {
            out.push_str(&(n + first_line - 1).to_string());
            rest = &rest[digits.len()..];
        }
    }
    out.push_str(rest);
    out
}

/// The first line of `chunk` with content (not blank, not a comment), for messages.
fn first_content_line(chunk: &Chunk<'_>) -> usize {
    let skipped = chunk
        .text
        .lines()
        .take_while(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#')
        })
        .count();
    chunk.line + skipped
}

/// Splits YAML at document markers (`---` at the start of a line) without parsing, so each
/// document's size can be checked before any parser allocates for it.
fn yaml_chunks(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let marker = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if marker || bare == "..." {
            chunks.push(Chunk {
                line: start_line,
                text: &text[start..offset],
                json: false,
            });
            // Content after `--- ` on the marker line belongs to the next document.
            start = if marker {
                offset + 3
            } else {
                offset + line.len()
            };
            start_line = i + 1 + usize::from(!marker);
        }
        offset += line.len();
    }
    chunks.push(Chunk {
        line: start_line,
        text: &text[start..],
        json: false,
    });
    chunks
}

/// Splits a stream of JSON values at their top-level boundaries without building them.
fn json_chunks(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    let mut start = 0;
    loop {
        match stream.next() {
            None => break,
            Some(Ok(_)) => {
                let end = stream.byte_offset();
                let line = 1 + text[..start].matches('\n').count();
                chunks.push(Chunk {
                    line,
                    text: &text[start..end],
                    json: true,
                });
                start = end;
            }
            Some(Err(_)) => {
                // Hand the rest to the real parser, which reports the error with its position.
                let line = 1 + text[..start].matches('\n').count();
                chunks.push(Chunk {
                    line,
                    text: &text[start..],
                    json: true,
                });
                break;
            }
        }
    }
    chunks
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Expands `List` documents into their items.
fn expand(value: Value, line: usize, out: &mut Vec<Decoded>) -> Result<(), InputError> {
    let is_list = value.get("kind").and_then(Value::as_str).is_some_and(|k| {
        k == "List"
            || (k.ends_with("List")
                && Kind::from_type(
                    value
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    k.trim_end_matches("List"),
                )
                .is_some())
    });
    if !is_list {
        out.push(Decoded {
            line,
            result: object_from_value(value),
        });
        return Ok(());
    }
    let items = match value.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    for item in items {
        if out.len() >= MAX_DOCUMENTS {
            return Err(InputError::TooManyDocuments {
                limit: MAX_DOCUMENTS,
            });
        }
        out.push(Decoded {
            line,
            result: object_from_value(item),
        });
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Turns one JSON value into a typed object (strict).
///
/// # Errors
/// When the value is not a known kind, has unknown fields or values of the wrong type.
pub fn object_from_value(mut value: Value) -> Result<Object, DecodeError> {
    let Value::Object(map) = &value else {
        return Err(DecodeError::NotAnObject {
            found: type_name(&value),
        });
    };
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or(DecodeError::MissingTypeMeta("apiVersion"))?;
    let kind_name = map
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(DecodeError::MissingTypeMeta("kind"))?;
    let Some(kind) = Kind::from_type(api_version, kind_name) else {
        let hint = crate::kind::KINDS
            .iter()
            .find(|i| i.name == kind_name)
            .map(|i| format!(" (did you mean apiVersion: {}?)", i.api_version))
            .unwrap_or_default();
        return Err(DecodeError::UnknownKind {
            api_version: api_version.to_owned(),
            kind: kind_name.to_owned(),
            hint,
        });
    };
    strip_nulls(&mut value);
    Object::decode(kind, value)
}

/// Removes members whose value is `null`: Kubernetes decodes `field: null` as "not set".
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> FieldPath {
    use serde_ignored::Path;
    match path {
        Path::Root => FieldPath::root(),
        Path::Seq { parent, index } => ignored_path(parent).index(*index),
        Path::Map { parent, key } => ignored_path(parent).child(key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

/// Strict decoding of one kind: every unknown field and the first type error, with paths.
pub(crate) fn strict<T: DeserializeOwned + Into<Object>>(value: Value) -> Result<T, DecodeError> {
    let mut unknown = ErrorList::new();
    let result: Result<T, _> = {
        let mut record = |path: serde_ignored::Path<'_>| {
            unknown.push(FieldError::unknown_field(ignored_path(&path)));
        };
        let de = serde_ignored::Deserializer::new(value, &mut record);
        serde_path_to_error::deserialize(de)
    };
    match result {
        Ok(obj) if unknown.is_empty() => Ok(obj),
        Ok(obj) => Err(DecodeError::Fields {
            errors: unknown,
            partial: Some(Box::new(obj.into())),
        }),
        Err(e) => {
            let shown = e.path().to_string();
            let path = if shown == "." {
                FieldPath::root()
            } else {
                FieldPath::new(&shown)
            };
            unknown.push(FieldError::type_invalid(path, e.inner().to_string()));
            Err(DecodeError::Fields {
                errors: unknown,
                partial: None,
            })
        }
    }
}

/// Sets `namespace` on a namespaced object that has none, as `kubectl` does with its context's
/// namespace.
pub fn default_namespace(obj: &mut Object, namespace: &str) {
    if obj.kind().namespaced() && obj.meta().namespace.is_empty() {
        obj.meta_mut().namespace = namespace.to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_depth_ignores_quotes_and_comments() {
        assert_eq!(flow_depth("a: [1, {b: [2]}]"), 3);
        assert_eq!(flow_depth("a: \"[[[[\" # [[[[\nb: '[[' "), 0);
        assert_eq!(flow_depth(&"[".repeat(1000)), 1000);
    }

    #[test]
    fn document_lines_point_at_content() {
        let text = "# header\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\n\n# c\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n";
        let docs = decode_documents(text).unwrap();
        let lines: Vec<usize> = docs.iter().map(|d| d.line).collect();
        assert_eq!(lines, [2, 8]);
    }

    #[test]
    fn list_documents_expand() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}},
            {"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"}}]}"#;
        let docs = decode_documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert!(docs.iter().all(|d| d.result.is_ok()));
    }
}
