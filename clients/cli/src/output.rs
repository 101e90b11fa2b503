//! What commands print: aligned tables for people, JSON (`--json`) for
//! scripts, and progress bars only on a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// How to print.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    /// `--json`: one JSON document on stdout.
    pub json: bool,
}

impl Out {
    /// True when progress may be drawn: a terminal, and not `--json`.
    pub fn interactive(&self) -> bool {
        !self.json && std::io::stdout().is_terminal()
    }

    /// Prints `value` as pretty JSON.
    pub fn print_json(&self, value: &serde_json::Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("json values serialise")
        );
    }

    /// Prints a table with a header row, columns padded to their widest cell.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) {
        print!("{}", render_table(headers, rows));
    }

    /// A byte-count bar, hidden unless interactive.
    pub fn bytes_bar(&self, total: u64, label: &str) -> ProgressBar {
        if !self.interactive() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        bar
    }

    /// A percentage bar, hidden unless interactive.
    pub fn percent_bar(&self, label: &str) -> ProgressBar {
        if !self.interactive() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(100);
        bar.set_style(
            ProgressStyle::with_template("{prefix:12} [{bar:30}] {pos:>3}% {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        bar
    }
}

/// The text of a table (one line per row, two spaces between columns).
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut text = line(headers.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// A byte count for people (`1.5 MiB`).
pub fn human_bytes(bytes: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// A timestamp as RFC 3339 (UTC), or empty.
pub fn time(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map(|t| {
        let seconds = t.seconds;
        let days = seconds.div_euclid(86_400);
        let rest = seconds.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rest / 3600,
            (rest % 3600) / 60,
            rest % 60
        )
    })
    .unwrap_or_default()
}

// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let text = render_table(
            &["ID", "NAME"],
            &[
                vec!["1".into(), "Michigan".into()],
                vec!["12".into(), "H3Africa".into()],
            ],
        );
        assert_eq!(text, "ID  NAME\n1   Michigan\n12  H3Africa\n");
    }

    #[test]
    fn timestamps_print_as_utc() {
        let ts = prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        };
        assert_eq!(time(Some(&ts)), "2023-11-14T22:13:20Z");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
