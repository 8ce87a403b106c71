//! The exchanges of `docs/protocol.md`, replayed: every request shown there is sent, in
//! order, to a server holding the test configuration (see [`TestServer`]), and the answer
//! must be the one shown, so the document stays true for this server.
//!
//! An exchange is an HTML comment `<!-- exchange status=CODE [channel=VERSION]
//! [route=json] -->` (the HTTP status; `channel=` points channel `stable` at that version
//! first; `route=json` posts to the JSON route, `/v1/update/json`, instead of the XML one)
//! followed by two fenced blocks: the request body and the response body. Whitespace
//! between XML tags is not significant, so the document may indent them; a JSON answer is
//! the `)]}'` line and a document compared as JSON values, so it may be laid out freely.

use crate::support::TestServer;
use update_server::policy::GroupPolicy;

/// One documented exchange.
#[derive(Debug)]
struct Exchange {
    line: usize,
    status: u16,
    channel: Option<String>,
    json: bool,
    request: String,
    response: String,
}

fn document() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    std::fs::read_to_string(path).expect("docs/protocol.md")
}

/// The fenced block starting at or after line `from`: its text and the line after it.
fn fenced(lines: &[&str], from: usize) -> (String, usize) {
    let start = (from..lines.len())
        .find(|&i| lines[i].starts_with("```"))
        .unwrap_or_else(|| panic!("a fenced block after line {}", from + 1));
    let end = (start + 1..lines.len())
        .find(|&i| lines[i].starts_with("```"))
        .unwrap_or_else(|| panic!("the end of the block at line {}", start + 1));
    (lines[start + 1..end].join("\n"), end + 1)
}

fn exchanges(doc: &str) -> Vec<Exchange> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(spec) = lines[i]
            .strip_prefix("<!-- exchange")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            i += 1;
            continue;
        };
        let (mut status, mut channel, mut json) = (None, None, false);
        for word in spec.split_whitespace() {
            match word.split_once('=') {
                Some(("status", v)) => status = Some(v.parse().expect("a status code")),
                Some(("channel", v)) => channel = Some(v.to_owned()),
                Some(("route", "json")) => json = true,
                _ => panic!("line {}: unknown word {word:?}", i + 1),
            }
        }
        let (request, next) = fenced(&lines, i + 1);
        let (response, next) = fenced(&lines, next);
        out.push(Exchange {
            line: i + 1,
            status: status.unwrap_or_else(|| panic!("line {}: no status", i + 1)),
            channel,
            json,
            request,
            response,
        });
        i = next;
    }
    out
}

/// The text with the whitespace between XML tags and at both ends removed.
fn squeezed(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.trim();
        if !out.is_empty() && !out.ends_with('>') && !line.starts_with('<') {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// A JSON answer as the `)]}'` prefix (`None` without it) and the document that follows,
/// parsed (`Null` when it does not parse).
fn json_answer(text: &str) -> (Option<&str>, serde_json::Value) {
    let text = text.trim_start();
    let (prefix, rest) = match text.strip_prefix(")]}'") {
        Some(rest) => (Some(")]}'"), rest),
        None => (None, text),
    };
    (
        prefix,
        serde_json::from_str(rest).unwrap_or(serde_json::Value::Null),
    )
}

async fn replay(server: &TestServer) {
    let doc = document();
    let exchanges = exchanges(&doc);
    assert!(exchanges.len() >= 8, "{} exchanges found", exchanges.len());
    assert!(
        exchanges.iter().any(|e| e.json),
        "the JSON protocol has an exchange"
    );
    for exchange in exchanges {
        if let Some(version) = &exchange.channel {
            server.move_channel(version).await;
        }
        let request = exchange.request.clone().into_bytes();
        if exchange.json {
            let (status, body) = server.post_json_raw(request).await;
            assert_eq!(
                (status, json_answer(&body)),
                (exchange.status, json_answer(&exchange.response)),
                "docs/protocol.md line {}: the answer differs; the server sent:\n{body}",
                exchange.line
            );
            continue;
        }
        let (status, body) = server.post_raw(request).await;
        assert_eq!(
            (status, squeezed(&body)),
            (exchange.status, squeezed(&exchange.response)),
            "docs/protocol.md line {}: the answer differs; the server sent:\n{body}",
            exchange.line
        );
    }
}

#[tokio::test]
async fn the_documented_exchanges_are_what_the_server_answers_sqlite() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    replay(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn the_documented_exchanges_are_what_the_server_answers_postgres() {
    let Some(server) = TestServer::start_postgres(GroupPolicy::default()).await else {
        return;
    };
    replay(&server).await;
    server.stop().await;
}

#[test]
fn the_squeezing_keeps_text_and_drops_indentation() {
    assert_eq!(
        squeezed("<a>\n  <b x=\"1\"/>\n</a>\n"),
        "<a><b x=\"1\"/></a>"
    );
    assert_eq!(
        squeezed("malformed request:\n  at byte 3\n"),
        "malformed request: at byte 3"
    );
}

#[test]
fn json_answers_compare_as_values_after_the_prefix() {
    let served = ")]}'\n{\"response\":{\"protocol\":\"3.1\",\"app\":[]}}";
    let shown = ")]}'\n{\"response\": {\n  \"app\": [],\n  \"protocol\": \"3.1\"\n}}";
    assert_eq!(json_answer(served), json_answer(shown));
    assert_ne!(
        json_answer(served),
        json_answer(&served[5..]),
        "the prefix counts"
    );
    assert_ne!(
        json_answer(served),
        json_answer(")]}'\n{\"response\":{\"protocol\":\"4.0\",\"app\":[]}}")
    );
}
