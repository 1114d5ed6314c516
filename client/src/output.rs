//! What the commands print: tables, JSON, and stdout lines that fail cleanly (a closed pipe is
//! an error, not a panic).

use anyhow::Context;
use cdn_proto::ImageView;
use serde::Serialize;
use std::io::Write;

/// Writes `text` and a newline to stdout.
pub fn line(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// Writes `value` as pretty JSON to stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot encode JSON")?;
    line(&text)
}

/// A table: a header row and rows, columns left-aligned and separated by two spaces, no
/// trailing spaces. Every row has as many cells as the header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut text = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = width.saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// The `cdn list` columns.
pub const IMAGE_HEADER: [&str; 7] = [
    "ID", "STATUS", "SOURCE", "THUMB", "ATTEMPTS", "WORKER", "ERROR",
];

/// One `cdn list` row: id, status, source bytes, thumbnail WxH, attempts, the worker (lease
/// holder, else maker), the last error (`KIND: MESSAGE`, on one line). `-` where empty.
pub fn image_row(image: &ImageView) -> Vec<String> {
    let dash = || "-".to_string();
    vec![
        image.id.clone(),
        image.status.as_str().to_string(),
        image.source.size.to_string(),
        image
            .thumbnail
            .as_ref()
            .map_or_else(dash, |t| format!("{}x{}", t.width, t.height)),
        image.attempts.to_string(),
        image
            .lease
            .as_ref()
            .map(|l| l.worker.clone())
            .or_else(|| image.made_by.clone())
            .unwrap_or_else(dash),
        image
            .last_error
            .as_ref()
            .map_or_else(dash, |e| one_line(&format!("{}: {}", e.kind, e.message))),
    ]
}

/// Text from the master (plugin and worker errors, refusals) made safe for a terminal: every
/// control character (escape sequences, newlines, tabs) becomes a space, so it can neither
/// move the cursor nor recolour the screen, and stays one line.
pub fn printable(text: &str) -> String {
    one_line(text)
}

/// Newlines and tabs as spaces, so a table row stays one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_proto::{ErrorView, LeaseView, Params, PluginInfo, SourceView, Status, ThumbnailView};

    #[test]
    fn columns_line_up_without_trailing_spaces() {
        let text = table(
            &["NAME", "HASH"],
            &[
                vec!["thumbnail".into(), "ab12".into()],
                vec!["s".into(), "".into()],
                vec!["é".into(), "cd".into()],
            ],
        );
        assert_eq!(text, "NAME       HASH\nthumbnail  ab12\ns\né          cd\n");
        assert_eq!(table(&["A", "B"], &[]), "A  B\n");
    }

    fn image(status: Status) -> ImageView {
        ImageView {
            id: "cat.jpg".into(),
            status,
            source: SourceView {
                hash: cdn_proto::ContentHash::of(b"00"),
                size: 5000,
            },
            params: Params::default(),
            plugin: PluginInfo {
                name: "thumbnail".into(),
                hash: cdn_proto::ContentHash::of(b"11"),
            },
            attempts: 0,
            last_error: None,
            lease: None,
            thumbnail: None,
            made_by: None,
            created_ms: 0,
            updated_ms: 0,
            finished_ms: None,
        }
    }

    #[test]
    fn image_rows() {
        assert_eq!(
            image_row(&image(Status::Pending)),
            ["cat.jpg", "pending", "5000", "-", "0", "-", "-"]
        );
        let mut done = image(Status::Done);
        done.attempts = 2;
        done.made_by = Some("w1".into());
        done.last_error = Some(ErrorView {
            kind: "trap".into(),
            message: "line one\nline two".into(),
        });
        done.thumbnail = Some(ThumbnailView {
            hash: cdn_proto::ContentHash::of(b"22"),
            size: 99,
            width: 256,
            height: 170,
            format: "jpeg".into(),
            location: "/x".into(),
        });
        assert_eq!(
            image_row(&done),
            [
                "cat.jpg",
                "done",
                "5000",
                "256x170",
                "2",
                "w1",
                "trap: line one line two"
            ]
        );
        let mut leased = image(Status::Leased);
        leased.lease = Some(LeaseView {
            worker: "w2".into(),
            deadline_ms: 1,
        });
        assert_eq!(image_row(&leased)[5], "w2");
        let text = table(&IMAGE_HEADER, &[image_row(&done), image_row(&leased)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ID       STATUS  SOURCE  THUMB    ATTEMPTS  WORKER  ERROR"
        );
        assert_eq!(
            lines[1],
            "cat.jpg  done    5000    256x170  2         w1      trap: line one line two"
        );
        assert_eq!(
            lines[2],
            "cat.jpg  leased  5000    -        0         w2      -"
        );
    }
}
