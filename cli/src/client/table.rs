//! Plain-text tables as kubectl prints them: upper-case headers, columns padded to the widest
//! cell and separated by three spaces, no borders; and ages (`45s`, `12m`, `3h`, `5d`).

use ferrocore_api::meta::Time;
use serde_json::Value;

/// Column separator.
const GAP: &str = "   ";
/// Shown for an unset cell.
pub(crate) const NONE: &str = "<none>";

/// Rows under headers.
#[derive(Debug, Default)]
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers.
    pub(crate) fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (short rows are padded with empty cells).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, each ending in a newline.
    pub(crate) fn render(&self) -> String {
        let cols = self.headers.len();
        let mut width: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (i, w) in width.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                text.push_str(cell);
                if i + 1 < cols {
                    text.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
                    text.push_str(GAP);
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.headers);
        for row in &self.rows {
            line(row);
        }
        out
    }
}

/// The age of an object created at `created` (RFC 3339), seen at `now` (Unix seconds).
pub(crate) fn age(created: Option<&Value>, now: i64) -> String {
    let Some(t) = created
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Time>().ok())
    else {
        return NONE.to_owned();
    };
    human_duration(now.saturating_sub(t.unix_seconds()))
}

/// Seconds as kubectl shows them: `59s`, `5m30s` under 10 minutes, `45m`, `3h15m` under 8
/// hours, `20h`, `4d` ...
pub(crate) fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..600 if s % 60 != 0 => format!("{}m{}s", s / 60, s % 60),
        120..3600 => format!("{}m", s / 60),
        3600..28_800 if (s / 60) % 60 != 0 => format!("{}h{}m", s / 3600, (s / 60) % 60),
        3600..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pad_to_the_widest_cell() {
        let mut t = Table::new(["NAME", "STATE", "AGE"]);
        t.row(vec!["web-1".into(), "Running".into(), "5m".into()]);
        t.row(vec!["database-primary".into(), NONE.into(), "12d".into()]);
        assert_eq!(
            t.render(),
            "NAME               STATE     AGE\n\
             web-1              Running   5m\n\
             database-primary   <none>    12d\n"
        );
    }

    #[test]
    fn short_rows_and_empty_last_cells_do_not_leave_trailing_space() {
        let mut t = Table::new(["A", "B"]);
        t.row(vec!["x".into()]);
        assert_eq!(t.render(), "A   B\nx\n");
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(-5), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 15 * 60), "3h15m");
        assert_eq!(human_duration(20 * 3600), "20h");
        assert_eq!(human_duration(5 * 86_400), "5d");
        let created = Value::from("2026-11-28T10:00:00Z");
        let now = "2026-11-28T10:07:00Z"
            .parse::<Time>()
            .unwrap()
            .unix_seconds();
        assert_eq!(age(Some(&created), now), "7m");
        assert_eq!(age(None, now), NONE);
    }
}
