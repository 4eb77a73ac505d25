//! Output formats (`-o table|wide|yaml|json`), Secret redaction and the `describe` layout.

use std::fmt::Write as _;

use base64::Engine as _;
use ferrocore_api::Kind;
use serde_json::{Value, json};

use super::columns::{table, text};
use super::table::{NONE, Table, age};

/// `-o`: how objects are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Columns per kind.
    Table,
    /// Columns per kind, with more of them.
    Wide,
    /// YAML (one object, or a `List`).
    Yaml,
    /// JSON (one object, or a `List`).
    Json,
    /// `kind/name` per object.
    Name,
}

/// Replaces every Secret `data` value with `<redacted: N bytes>`; other objects pass unchanged.
pub(crate) fn redact(mut obj: Value) -> Value {
    if obj.get("kind").and_then(Value::as_str) != Some("Secret") {
        return obj;
    }
    if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
        for v in data.values_mut() {
            let len = v.as_str().map_or(0, |s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_or(s.len(), |b| b.len())
            });
            *v = Value::String(format!("<redacted: {len} bytes>"));
        }
    }
    if let Some(m) = obj.as_object_mut() {
        m.remove("stringData");
    }
    obj
}

/// `kind.group/name` as kubectl prints it (`machine.compute.ironcore.dev/web-1`).
pub(crate) fn qualified_name(kind: Kind, name: &str) -> String {
    let info = kind.info();
    if info.group.is_empty() {
        format!("{}/{name}", info.name.to_ascii_lowercase())
    } else {
        format!("{}.{}/{name}", info.name.to_ascii_lowercase(), info.group)
    }
}

/// Renders a list (or one object when `single`) in `format`.
pub(crate) fn render(
    kind: Kind,
    items: &[Value],
    format: Format,
    single: bool,
    all_namespaces: bool,
    now: i64,
) -> String {
    match format {
        Format::Table | Format::Wide => {
            table(kind, items, all_namespaces, format == Format::Wide, now).render()
        }
        Format::Name => items
            .iter()
            .map(|i| qualified_name(kind, &text(i, "/metadata/name")) + "\n")
            .collect(),
        Format::Json | Format::Yaml => {
            let doc = if single && items.len() == 1 {
                items[0].clone()
            } else {
                json!({"apiVersion": "v1", "kind": "List", "items": items})
            };
            if format == Format::Json {
                serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
            } else {
                yaml(&doc)
            }
        }
    }
}

/// A JSON value as YAML text.
pub(crate) fn yaml(v: &Value) -> String {
    serde_norway::to_string(v).unwrap_or_else(|e| format!("# cannot render as YAML: {e}\n"))
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().fold(String::new(), |mut out, l| {
        let _ = writeln!(out, "{pad}{l}");
        out
    })
}

fn map_line(v: Option<&Value>) -> String {
    match v.and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n              "),
        _ => NONE.to_owned(),
    }
}

/// `describe`: metadata as labelled lines, then every other section as indented YAML, then the
/// conditions as a table.
pub(crate) fn describe(kind: Kind, obj: &Value, now: i64) -> String {
    let m = obj.get("metadata").cloned().unwrap_or(Value::Null);
    let mut out = String::new();
    let line = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "{:<14}{value}", format!("{label}:"));
    };
    line(&mut out, "Name", text(&m, "/name"));
    if kind.namespaced() {
        line(&mut out, "Namespace", text(&m, "/namespace"));
    }
    line(
        &mut out,
        "Kind",
        format!("{} ({})", kind.name(), kind.info().api_version),
    );
    line(&mut out, "Labels", map_line(m.get("labels")));
    line(&mut out, "Annotations", map_line(m.get("annotations")));
    line(&mut out, "UID", text(&m, "/uid"));
    line(&mut out, "Version", text(&m, "/resourceVersion"));
    line(&mut out, "Generation", text(&m, "/generation"));
    let created = m.get("creationTimestamp");
    line(
        &mut out,
        "Created",
        format!(
            "{} ({} ago)",
            text(&m, "/creationTimestamp"),
            age(created, now)
        ),
    );
    line(&mut out, "Finalizers", text(&m, "/finalizers"));
    if m.get("deletionTimestamp").is_some() {
        line(&mut out, "Deleting", text(&m, "/deletionTimestamp"));
    }
    if let Some(owners) = m.get("ownerReferences").and_then(Value::as_array) {
        let list: Vec<String> = owners
            .iter()
            .map(|o| format!("{}/{}", text(o, "/kind"), text(o, "/name")))
            .collect();
        line(&mut out, "Owners", list.join(", "));
    }
    let skip = ["apiVersion", "kind", "metadata"];
    for (key, value) in obj.as_object().into_iter().flatten() {
        if skip.contains(&key.as_str()) {
            continue;
        }
        let mut section = value.clone();
        if key == "status"
            && let Some(s) = section.as_object_mut()
        {
            s.remove("conditions");
        }
        let body = yaml(&section);
        let _ = writeln!(out, "{}:", capitalize(key));
        out.push_str(&indent(body.trim_end(), 2));
    }
    out.push_str(&conditions(obj, now));
    out
}

fn conditions(obj: &Value, now: i64) -> String {
    let Some(conds) = obj.pointer("/status/conditions").and_then(Value::as_array) else {
        return "Conditions:   <none>\n".to_owned();
    };
    let mut t = Table::new(["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"]);
    for c in conds {
        t.row(vec![
            text(c, "/type"),
            text(c, "/status"),
            text(c, "/reason"),
            age(c.get("lastTransitionTime"), now),
            text(c, "/message"),
        ]);
    }
    format!("Conditions:\n{}", indent(&t.render(), 2))
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
               "type": "Opaque", "data": {"password": "aHVudGVyMg=="}})
    }

    #[test]
    fn secrets_are_redacted_by_length() {
        let r = redact(secret());
        assert_eq!(r["data"]["password"], "<redacted: 7 bytes>");
        let text = render(Kind::Secret, &[r], Format::Yaml, true, false, 0);
        assert!(!text.contains("aHVudGVyMg"), "{text}");
        let machine = json!({"kind": "Machine", "data": {"x": "y"}});
        assert_eq!(redact(machine.clone()), machine);
    }

    #[test]
    fn names_and_lists() {
        assert_eq!(
            qualified_name(Kind::Machine, "web-1"),
            "machine.compute.ironcore.dev/web-1"
        );
        assert_eq!(qualified_name(Kind::Secret, "db"), "secret/db");
        let two = [secret(), secret()];
        let json_text = render(Kind::Secret, &two, Format::Json, false, false, 0);
        let v: Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(v["kind"], "List");
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        let one = render(Kind::Secret, &two[..1], Format::Yaml, true, false, 0);
        assert!(one.starts_with("apiVersion: v1\n"), "{one}");
        assert_eq!(
            render(Kind::Secret, &two[..1], Format::Name, false, false, 0),
            "secret/db\n"
        );
    }

    #[test]
    fn describe_shows_metadata_sections_and_conditions() {
        let m = json!({"apiVersion": "compute.ironcore.dev/v1alpha1", "kind": "Machine",
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
                         "finalizers": ["compute.ironcore.dev/machine"]},
            "spec": {"power": "On"},
            "status": {"state": "Pending", "conditions": [
                {"type": "Scheduled", "status": "False", "reason": "NoPool", "message": "no pool fits"}]}});
        let text = describe(Kind::Machine, &m, 0);
        assert!(
            text.starts_with("Name:         web-1\nNamespace:    shop\n"),
            "{text}"
        );
        assert!(text.contains("Labels:       app=web\n"), "{text}");
        assert!(
            text.contains("Finalizers:   compute.ironcore.dev/machine\n"),
            "{text}"
        );
        assert!(text.contains("Spec:\n  power: On\n"), "{text}");
        assert!(text.contains("Status:\n  state: Pending\n"), "{text}");
        assert!(text.contains("Scheduled   False    NoPool"), "{text}");
        assert!(text.contains("no pool fits"), "{text}");
    }
}
