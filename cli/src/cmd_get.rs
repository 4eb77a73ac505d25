//! `ferrocore get KIND [NAME...] [-n NS | -A] [-l SELECTOR] [-o table|wide|yaml|json|name]`:
//! list or fetch objects from the cluster and print them.

use std::process::ExitCode;

use crate::client::output::{self, redact};
use crate::client::{self, ConnectArgs, Format, ObjectRef, Selection};

/// Arguments of `ferrocore get`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: ConnectArgs,
    /// The kind: plural, singular, short name or kind name (`machines`, `ma`, `Machine`,
    /// `machines.compute.ironcore.dev`).
    kind: String,
    /// Names to fetch; without names, every object of the kind is listed.
    names: Vec<String>,
    /// Namespace (default: the context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,
    /// Label selector, e.g. `app=web,tier!=db,zone in (a,b),!legacy`.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Format,
    /// Show Secret data instead of its length.
    #[arg(long)]
    show_secrets: bool,
}

/// Runs `ferrocore get`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let kind = client::parse_kind(&args.kind)?;
    if !args.names.is_empty() && args.selector.is_some() {
        anyhow::bail!("give names or a label selector (-l), not both");
    }
    let api = args.conn.api()?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| api.session().context().namespace.clone());
    let (items, missing) = client::block_on(async {
        if args.names.is_empty() {
            let sel = Selection {
                kind: Some(kind),
                namespace: (!args.all_namespaces).then(|| namespace.clone()),
                selector: args.selector.clone(),
            };
            return api.list(&sel).await.map(|l| (l.items, Vec::new()));
        }
        let mut items = Vec::new();
        let mut missing = Vec::new();
        for name in &args.names {
            match api.get(&ObjectRef::new(kind, &namespace, name)).await {
                Ok(obj) => items.push(obj),
                Err(e) if e.reason() == Some(client::Reason::NotFound) => missing.push(name),
                Err(e) => return Err(e),
            }
        }
        Ok((items, missing))
    })??;
    let items: Vec<_> = if args.show_secrets {
        items
    } else {
        items.into_iter().map(redact).collect()
    };
    let single = args.names.len() == 1;
    if items.is_empty() && missing.is_empty() {
        if kind.namespaced() && !args.all_namespaces {
            eprintln!("No {} found in namespace {namespace}.", kind.plural());
        } else {
            eprintln!("No {} found.", kind.plural());
        }
    } else if !items.is_empty() {
        let text = output::render(
            kind,
            &items,
            args.output,
            single,
            args.all_namespaces,
            client::now_unix(),
        );
        print!("{text}");
    }
    for name in &missing {
        let where_ = if kind.namespaced() {
            format!(" in namespace {namespace}")
        } else {
            String::new()
        };
        eprintln!(
            "error: {} {name:?} not found{where_}",
            output::qualified_name(kind, "").trim_end_matches('/')
        );
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
