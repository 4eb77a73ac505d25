//! `ferrocore watch KIND [-n NS | -A] [-l SELECTOR] [-o line|json]`: stream every change as a
//! line (`ADDED`, `MODIFIED`, `DELETED`) or a JSON object per line.
//!
//! The watch follows the last revision it printed: when the connection breaks it reconnects
//! (failing over to another controller) and resumes from there, so no change is printed twice
//! or skipped. When the server has compacted that revision away (Gone), it lists the current
//! objects again, prints them as `ADDED`, and watches on from the list's revision.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::columns::text;
use crate::client::output::{qualified_name, redact};
use crate::client::{self, Api, ApiError, ConnectArgs, Reason, Selection};
use ferrocore_api::Kind;

/// Reconnect attempts in a row without a single event or successful subscribe before the
/// watch gives up: with [`RECONNECT_PAUSE`] this rides out a controller restart or an election.
const MAX_RECONNECTS: u32 = 30;
/// Pause before a reconnect.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// Arguments of `ferrocore watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: ConnectArgs,
    /// The kind (`machines`, `ma`, `Machine`, ...).
    kind: String,
    /// Namespace (default: the context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Watch all namespaces.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,
    /// Label selector, e.g. `app=web`.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Start after this revision (default: now).
    #[arg(long, value_name = "REV")]
    resource_version: Option<String>,
    /// `line` (one readable line per change) or `json` (one JSON object per line).
    #[arg(short = 'o', long = "output", value_parser = ["line", "json"], default_value = "line")]
    output: String,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    max_events: Option<u64>,
    /// Show Secret data instead of its length (JSON output).
    #[arg(long)]
    show_secrets: bool,
}

/// Runs `ferrocore watch`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let kind = client::parse_kind(&args.kind)?;
    let api = args.conn.api()?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| api.session().context().namespace.clone());
    let sel = Selection {
        kind: Some(kind),
        namespace: (!args.all_namespaces).then_some(namespace),
        selector: args.selector.clone(),
    };
    client::block_on(watch(&api, &sel, kind, args))??;
    Ok(ExitCode::SUCCESS)
}

async fn watch(api: &Api, sel: &Selection, kind: Kind, args: &Args) -> Result<(), ApiError> {
    let mut from = args.resource_version.clone();
    let mut printed = 0u64;
    let mut failures = 0u32;
    loop {
        if args.max_events.is_some_and(|max| printed >= max) {
            return Ok(());
        }
        let mut sub = match api.watch(sel, from.as_deref()).await {
            Ok(s) => s,
            Err(e) if e.reason() == Some(Reason::Gone) => {
                from = Some(relist(api, sel, kind, args, &mut printed).await?);
                continue;
            }
            Err(e @ (ApiError::Transport(_) | ApiError::NoServer { .. }))
                if failures < MAX_RECONNECTS =>
            {
                failures += 1;
                eprintln!("watch: {} (retrying)", first_line(&e.to_string()));
                ferrocore_runtime::sleep(RECONNECT_PAUSE).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        failures = 0;
        if from.is_none() {
            from = sub
                .initial()
                .get("resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        while let Some(item) = sub.next().await {
            match item {
                Ok(event) => {
                    if let Some(rev) = event.get("revision").and_then(Value::as_str) {
                        from = Some(rev.to_owned());
                    }
                    print_event(&event, kind, args);
                    printed += 1;
                    if args.max_events.is_some_and(|max| printed >= max) {
                        return Ok(());
                    }
                }
                Err(e) => {
                    let e = ApiError::from_client(e, &api.session().context().file);
                    if e.reason() == Some(Reason::Gone) {
                        from = Some(relist(api, sel, kind, args, &mut printed).await?);
                    } else if e.reason().is_some() {
                        return Err(e);
                    }
                    break;
                }
            }
        }
        // The stream ended (server shutdown, leader change on that controller, lost
        // connection): resume from the last revision, on another controller if need be.
        api.session().drop_current().await;
        ferrocore_runtime::sleep(RECONNECT_PAUSE).await;
    }
}

/// Lists the selection, prints each object as ADDED, and returns the list's revision.
async fn relist(
    api: &Api,
    sel: &Selection,
    kind: Kind,
    args: &Args,
    printed: &mut u64,
) -> Result<String, ApiError> {
    eprintln!(
        "watch: the revision was compacted; listing again (deletions in the gap are not shown)"
    );
    let list = api.list(sel).await?;
    for obj in list.items {
        let event = json!({"type": "ADDED", "revision": list.resource_version, "object": obj});
        print_event(&event, kind, args);
        *printed += 1;
    }
    Ok(list.resource_version)
}

fn print_event(event: &Value, kind: Kind, args: &Args) {
    if args.output == "json" {
        let mut e = event.clone();
        if !args.show_secrets
            && let Some(obj) = e.get_mut("object")
        {
            *obj = redact(obj.take());
        }
        println!("{}", serde_json::to_string(&e).unwrap_or_default());
        return;
    }
    println!("{}", event_line(event, kind));
}

/// `MODIFIED  rev 57  machine.compute.ironcore.dev/web-1  namespace=shop  state=Running`.
pub(crate) fn event_line(event: &Value, kind: Kind) -> String {
    let obj = event.get("object").unwrap_or(&Value::Null);
    let mut line = format!(
        "{:<9} rev {:<6} {}",
        text(event, "/type"),
        text(event, "/revision"),
        qualified_name(kind, &text(obj, "/metadata/name"))
    );
    if let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        line.push_str(&format!("  namespace={ns}"));
    }
    for (label, ptr) in [("state", "/status/state"), ("phase", "/status/phase")] {
        if let Some(s) = obj.pointer(ptr).and_then(Value::as_str) {
            line.push_str(&format!("  {label}={s}"));
        }
    }
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        line.push_str("  deleting");
    }
    line
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines() {
        let e = json!({"type": "MODIFIED", "revision": "57", "object": {
            "metadata": {"name": "web-1", "namespace": "shop"}, "status": {"state": "Running"}}});
        assert_eq!(
            event_line(&e, Kind::Machine),
            "MODIFIED  rev 57     machine.compute.ironcore.dev/web-1  namespace=shop  state=Running"
        );
        let d =
            json!({"type": "DELETED", "revision": "9", "object": {"metadata": {"name": "x86"}}});
        assert_eq!(
            event_line(&d, Kind::MachineClass),
            "DELETED   rev 9      machineclass.compute.ironcore.dev/x86"
        );
    }
}
