//! `ferrocore cluster status`: the client side. Asks a controller of the current context for
//! `cluster.status` and prints the members, the leader, the term, the commit index and each
//! member's lag as a table.

use std::process::ExitCode;

use serde_json::Value;

use crate::client::table::{NONE, Table};
use crate::client::{self, ConnectArgs, columns::text};

/// Arguments of `ferrocore cluster status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: ConnectArgs,
    /// Print the raw `cluster.status` result as JSON.
    #[arg(short = 'o', long = "output", value_parser = ["table", "json"], default_value = "table")]
    output: String,
}

/// Runs `ferrocore cluster status`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let api = args.conn.api()?;
    let (status, server) = client::block_on(async {
        let status = api.cluster_status().await;
        (status, api.session().server().await)
    })?;
    let status = status?;
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let via = server.map_or_else(|| NONE.to_owned(), |s| s.to_string());
    print!("{}", render(&status, &via));
    Ok(ExitCode::SUCCESS)
}

/// The summary lines and the member table.
pub(crate) fn render(status: &Value, via: &str) -> String {
    let leader = status.get("leader").and_then(Value::as_u64);
    let mut out = format!(
        "cluster:       {}\nleader:        {}\nterm:          {}\ncommit index:  {}\n\
         applied index: {}\nrevision:      {}\nanswered by:   controller {} ({via})\n\n",
        text(status, "/cluster"),
        leader.map_or_else(
            || "none (election in progress)".to_owned(),
            |l| l.to_string()
        ),
        text(status, "/term"),
        text(status, "/commitIndex"),
        text(status, "/appliedIndex"),
        text(status, "/revision"),
        text(status, "/self"),
    );
    let mut t = Table::new(["ID", "ADDRESS", "ROLE", "MATCHED", "LAG"]);
    for m in status
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut id = text(m, "/id");
        if m.get("id").and_then(Value::as_u64) == leader && leader.is_some() {
            id.push('*');
        }
        t.row(vec![
            id,
            text(m, "/addr"),
            text(m, "/role"),
            text(m, "/matchedIndex"),
            text(m, "/lag"),
        ]);
    }
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_table() {
        let s = json!({"cluster": "lab", "self": 2, "leader": 1, "term": 3, "commitIndex": 120,
            "appliedIndex": 120, "revision": "57", "members": [
            {"id": 1, "addr": "127.0.0.1:7700", "role": "leader", "matchedIndex": 120, "lag": 0},
            {"id": 2, "addr": "127.0.0.1:7701", "role": "follower", "matchedIndex": 118, "lag": 2},
            {"id": 3, "addr": "127.0.0.1:7702", "role": "follower", "matchedIndex": null, "lag": null}]});
        let text = render(&s, "127.0.0.1:7701");
        assert!(
            text.contains("leader:        1\nterm:          3\n"),
            "{text}"
        );
        assert!(
            text.contains("answered by:   controller 2 (127.0.0.1:7701)"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "ID   ADDRESS          ROLE       MATCHED   LAG\n\
                 1*   127.0.0.1:7700   leader     120       0\n\
                 2    127.0.0.1:7701   follower   118       2\n\
                 3    127.0.0.1:7702   follower   <none>    <none>\n"
            ),
            "{text}"
        );
        let no_leader = render(&json!({"leader": null, "members": []}), "x");
        assert!(no_leader.contains("none (election in progress)"));
    }
}
