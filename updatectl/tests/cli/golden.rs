//! Golden tests of the table and JSON output: `tests/data/golden.txt` is a script of
//! commands, each `$ <args>` line followed by the exact output expected. They run in
//! order against one fresh server. A command that fails is expected as `[exit N]` and its
//! stderr's first line. Timestamps (RFC 3339) are replaced by `<time>` before comparing.
//!
//! `UPDATE_GOLDEN=1 cargo test -p updatectl --test cli golden` rewrites the file with the
//! actual output (review the diff before committing it).

use super::{APP, Server};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden.txt");

/// Splits a command line into words: whitespace separates, `'...'` and `"..."` quote.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Replaces RFC 3339 timestamps (`2026-11-27T10:00:00Z`, with fractions or an offset)
/// with `<time>`.
fn mask_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let digits = |from: usize, n: usize| {
        bytes.len() >= from + n && bytes[from..from + n].iter().all(u8::is_ascii_digit)
    };
    while i < bytes.len() {
        let looks_like_date = digits(i, 4)
            && bytes.get(i + 4) == Some(&b'-')
            && digits(i + 5, 2)
            && bytes.get(i + 7) == Some(&b'-')
            && digits(i + 8, 2)
            && bytes.get(i + 10) == Some(&b'T');
        if looks_like_date {
            let mut end = i + 11;
            while end < bytes.len()
                && (bytes[end].is_ascii_digit() || b":.+-Z".contains(&bytes[end]))
            {
                end += 1;
            }
            out.push_str("<time>");
            i = end;
        } else {
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    out
}

#[test]
fn golden_output() {
    let script = std::fs::read_to_string(SCRIPT).expect("golden script");
    let server = Server::start();
    let payload_dir = tempfile::tempdir().unwrap();
    let payload = payload_dir.path().join("update.gz");
    std::fs::write(&payload, b"hello").unwrap();

    let mut blessed = String::new();
    let mut failures = Vec::new();
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in script.split_inclusive('\n') {
        if let Some(command) = line.strip_prefix("$ ") {
            blocks.push((command.trim_end().to_owned(), String::new()));
        } else if let Some((_, expected)) = blocks.last_mut() {
            expected.push_str(line);
        } else {
            // Comments before the first command are kept as they are.
            blessed.push_str(line);
        }
    }
    for (command, expected) in &blocks {
        let args: Vec<String> = words(
            &command
                .replace("$APP", APP)
                .replace("$PAYLOAD", &payload.display().to_string()),
        );
        let out = server.ctl().args(&args).output().expect("run updatectl");
        let actual = if out.status.success() {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            format!(
                "[exit {}]\n{}\n",
                out.status.code().unwrap_or(-1),
                stderr.lines().next().unwrap_or_default()
            )
        };
        let actual = mask_times(&actual);
        if actual.trim_end_matches('\n') != expected.trim_end_matches('\n') {
            failures.push(format!(
                "$ {command}\n--- expected\n{expected}--- actual\n{actual}"
            ));
        }
        blessed.push_str(&format!("$ {command}\n{actual}\n"));
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(SCRIPT, blessed).expect("rewrite the golden script");
        return;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn words_split_like_a_shell() {
    assert_eq!(
        words("app create --label='Fake App' \"--description=a b\"  x"),
        [
            "app",
            "create",
            "--label=Fake App",
            "--description=a b",
            "x"
        ]
    );
    assert_eq!(
        mask_times(r#"{"dateCreated":"2026-11-27T10:00:00.123Z"} 2026-11-27T10:00:00+01:00"#),
        r#"{"dateCreated":"<time>"} <time>"#
    );
}
