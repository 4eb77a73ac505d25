//! `ferrocore delete KIND NAME... | -f FILE`: delete objects. An object with finalizers is
//! marked for deletion and stays until its finalizers are cleared; the command says which.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use crate::client::api::Deleted;
use crate::client::manifests::{self, Manifest};
use crate::client::output::qualified_name;
use crate::client::{self, Api, ApiError, ConnectArgs, ObjectRef, Reason};

/// Arguments of `ferrocore delete`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: ConnectArgs,
    /// The kind and the names: `machines web-1 web-2`. Not with -f.
    #[arg(conflicts_with = "files")]
    what: Vec<String>,
    /// Delete the objects these manifests name (files, directories or `-`).
    #[arg(short = 'f', long = "filename")]
    files: Vec<PathBuf>,
    /// Namespace (default: the context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Succeed when an object does not exist.
    #[arg(long)]
    ignore_not_found: bool,
}

/// Runs `ferrocore delete`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let api = args.conn.api()?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| api.session().context().namespace.clone());
    let mut refs = Vec::new();
    let mut failed = 0usize;
    if args.files.is_empty() {
        let [kind, names @ ..] = args.what.as_slice() else {
            anyhow::bail!(
                "name a kind and objects (`ferrocore delete machines web-1`) or use -f FILE"
            );
        };
        if names.is_empty() {
            anyhow::bail!("name the {kind} to delete (`ferrocore delete {kind} NAME...`)");
        }
        let kind = client::parse_kind(kind)?;
        refs.extend(names.iter().map(|n| ObjectRef::new(kind, &namespace, n)));
    } else {
        for doc in manifests::load(&args.files, &namespace)? {
            match doc {
                Manifest::Object(o) => {
                    refs.push(ObjectRef::new(
                        o.kind(),
                        &o.meta().namespace,
                        &o.meta().name,
                    ));
                }
                Manifest::Problem(p) => {
                    failed += 1;
                    println!("{}: cannot read the object to delete", p.at);
                    for c in &p.causes {
                        println!("  {c}");
                    }
                }
            }
        }
    }
    failed += client::block_on(delete_all(&api, &refs, args.ignore_not_found))??;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn delete_all(
    api: &Api,
    refs: &[ObjectRef],
    ignore_not_found: bool,
) -> Result<usize, ApiError> {
    let mut failed = 0;
    for r in refs {
        let name = qualified_name(r.kind, &r.name);
        match api.delete(r).await {
            Ok(d) => println!("{name} {}", describe(&d)),
            Err(e) if e.reason() == Some(Reason::NotFound) && ignore_not_found => {}
            Err(e @ (ApiError::NoServer { .. } | ApiError::Unauthenticated { .. })) => {
                return Err(e);
            }
            Err(e) => {
                failed += 1;
                println!("{name}: {}", e.to_string().replace('\n', "\n  "));
            }
        }
    }
    Ok(failed)
}

/// `deleted`, or `marked for deletion (finalizers: a, b)`.
pub(crate) fn describe(d: &Deleted) -> String {
    if d.removed {
        return "deleted".to_owned();
    }
    let finalizers: Vec<&str> = d
        .object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if finalizers.is_empty() {
        "marked for deletion".to_owned()
    } else {
        format!(
            "marked for deletion (finalizers: {})",
            finalizers.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deleted_or_marked() {
        let gone = Deleted {
            object: json!({}),
            removed: true,
        };
        assert_eq!(describe(&gone), "deleted");
        let kept = Deleted {
            object: json!({"metadata": {"finalizers": ["a.io/x", "b.io/y"]}}),
            removed: false,
        };
        assert_eq!(
            describe(&kept),
            "marked for deletion (finalizers: a.io/x, b.io/y)"
        );
    }
}
