//! `ferrocore describe KIND NAME...`: every field of an object in a human-readable layout, with
//! its conditions as a table.

use std::process::ExitCode;

use crate::client::output::{self, redact};
use crate::client::{self, ConnectArgs, ObjectRef};

/// Arguments of `ferrocore describe`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: ConnectArgs,
    /// The kind (`machines`, `ma`, `Machine`, ...).
    kind: String,
    /// The objects' names.
    #[arg(required = true)]
    names: Vec<String>,
    /// Namespace (default: the context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Show Secret data instead of its length.
    #[arg(long)]
    show_secrets: bool,
}

/// Runs `ferrocore describe`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let kind = client::parse_kind(&args.kind)?;
    let api = args.conn.api()?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| api.session().context().namespace.clone());
    let results = client::block_on(async {
        let mut out = Vec::new();
        for name in &args.names {
            out.push(api.get(&ObjectRef::new(kind, &namespace, name)).await);
        }
        out
    })?;
    let now = client::now_unix();
    let mut failed = false;
    for (i, (name, result)) in args.names.iter().zip(results).enumerate() {
        if i > 0 {
            println!();
        }
        match result {
            Ok(obj) => {
                let obj = if args.show_secrets { obj } else { redact(obj) };
                print!("{}", output::describe(kind, &obj, now));
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {}: {e}", output::qualified_name(kind, name));
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
