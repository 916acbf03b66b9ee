//! Reading Chromium's NetLog (`--log-net-log=FILE --net-log-capture-mode=Everything`):
//! what the browser itself sent and received for a URL, as its network stack logged it.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde_json::Value;

/// One request the browser made: the response head it read and the body bytes it got.
#[derive(Debug)]
pub struct Fetch {
    /// The raw response header lines, the status line first (`HTTP/1.1 200 OK`).
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Fetch {
    /// The status code from the status line.
    pub fn status(&self) -> Option<u16> {
        self.headers
            .first()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// The value of the first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// A log cut short (Chromium killed before it closed the file) made whole again: its
/// complete events, then the brackets it would have written. Chromium writes the constants,
/// then `"events": [` and each event on a line of its own, ending in `},`.
fn whole_events(text: &str) -> String {
    let mut whole = String::new();
    for line in text.split_inclusive('\n') {
        if !line.ends_with(",\n") && line.trim_end() != r#""events": ["# {
            break;
        }
        whole.push_str(line);
    }
    let events = whole.trim_end().trim_end_matches(',');
    format!("{events}]}}")
}

/// Every URL request the log holds for exactly `url`, in the order they started.
pub fn fetches(log: &Path, url: &str) -> Vec<Fetch> {
    let text = std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("reading the NetLog {}: {e}", log.display()));
    let json: Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&whole_events(&text)))
        .unwrap_or_else(|e| panic!("the NetLog {} is not JSON: {e}", log.display()));
    let kind = |name: &str| {
        json["constants"]["logEventTypes"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("the NetLog names no event type {name}"))
    };
    let (start, head, bytes) = (
        kind("URL_REQUEST_START_JOB"),
        kind("HTTP_TRANSACTION_READ_RESPONSE_HEADERS"),
        kind("URL_REQUEST_JOB_FILTERED_BYTES_READ"),
    );
    let events = json["events"].as_array().expect("the NetLog has events");
    let mut found: BTreeMap<u64, Fetch> = BTreeMap::new();
    for event in events {
        let (Some(source), Some(kind)) = (event["source"]["id"].as_u64(), event["type"].as_u64())
        else {
            continue;
        };
        let params = &event["params"];
        if kind == start && params["url"] == url {
            found.entry(source).or_insert(Fetch {
                headers: Vec::new(),
                body: Vec::new(),
            });
        } else if let Some(fetch) = found.get_mut(&source) {
            if kind == head {
                fetch.headers = strings(&params["headers"]);
            } else if kind == bytes {
                let data = params["bytes"]
                    .as_str()
                    .expect("bytes logged: capture mode Everything");
                let data = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .expect("the logged bytes are base64");
                fetch.body.extend(data);
            }
        }
    }
    found.into_values().collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_log_cut_inside_an_event_keeps_the_events_before_it() {
    let whole = "{\"constants\":{\"logEventTypes\":{}},\n\"events\": [\n\
                 {\"type\":1,\"source\":{\"id\":1}},\n\
                 {\"type\":2,\"source\":{\"id\":1}},\n\
                 {\"type\":3,\"sou";
    let json: Value = serde_json::from_str(&whole_events(whole)).unwrap();
    let types: Vec<u64> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_u64().unwrap())
        .collect();
    assert_eq!(types, [1, 2]);
    let none: Value =
        serde_json::from_str(&whole_events("{\"constants\":{},\n\"events\": [\n{\"ty")).unwrap();
    assert_eq!(none["events"], serde_json::json!([]));
}
