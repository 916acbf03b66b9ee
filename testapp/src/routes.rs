//! What each HTTP path answers: health probes, the echo and environment reports, uploads,
//! event streams and the browser WebSocket check page.

use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::time::Duration;

use serde_json::{Value, json};

use crate::Options;
use crate::http::{Request, Response, percent_decode};

/// What to send back for one request.
pub enum Reply {
    Full(Response),
    Events { count: u32, interval: Duration },
}

/// How many bytes of each reported file `/env` shows.
const FILE_HEAD: usize = 512;

pub fn handle(request: &Request, body_length: u64, options: &Options) -> Reply {
    let path = request.path();
    let response = match path {
        "/" => Response::text(200, &format!("ohproxy-testapp {}\n", name_of(options))),
        "/health" | "/ready" => Response::text(200, "OK"),
        "/alive" => Response::json(&json!({ "status": "ok" })),
        "/env" => Response::json(&environment(|key| std::env::var(key).ok())),
        "/file" => file(request),
        "/fetch" => match request.query("url").map(percent_decode) {
            Some(url) => Response::json(&crate::fetch::fetch(&url)),
            None => Response::text(400, "give ?url=https://...\n"),
        },
        // A redirect as servers make them, for checks of `Location` rewriting.
        "/redirect" => {
            let mut response = Response::text(307, "");
            let to = request
                .query("to")
                .map(percent_decode)
                .unwrap_or("/".into());
            response.headers.push(("Location".into(), to));
            response
        }
        "/events" => return events(request),
        "/upload" if request.method == "POST" || request.method == "PUT" => {
            Response::json(&json!({ "received_bytes": body_length }))
        }
        "/upload" => Response::text(405, "POST a body to /upload\n"),
        "/ws-check" => Response::new(200, "text/html; charset=utf-8", WS_CHECK_PAGE),
        "/socket.io" | "/socket.io/" => Response::new(
            400,
            "application/json",
            r#"{"code":3,"message":"Bad request: only transport=websocket is served"}"#,
        ),
        _ if path == "/echo" || path.starts_with("/echo/") => {
            Response::json(&echo(request, body_length, options))
        }
        _ => Response::text(404, &format!("not found: {path}\n")),
    };
    Reply::Full(response)
}

fn name_of(options: &Options) -> &str {
    options.name.as_deref().unwrap_or("")
}

/// The request as received: method, raw target, version, headers and body length.
pub fn echo(request: &Request, body_length: u64, options: &Options) -> Value {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &request.headers {
        headers
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.clone());
    }
    json!({
        "name": options.name,
        "method": request.method,
        "target": request.target,
        "path": request.path(),
        "version": request.version,
        "headers": headers,
        "header_list": request.headers,
        "body_length": body_length,
    })
}

/// The environment, name lookups and reported files, read through `env`.
pub fn environment(env: impl Fn(&str) -> Option<String>) -> Value {
    let vars: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
        .collect();
    let extra = env("TESTAPP_RESOLVE").unwrap_or_default();
    let names = std::iter::once("host.docker.internal")
        .chain(extra.split(',').map(str::trim).filter(|n| !n.is_empty()));
    let resolve: BTreeMap<&str, Value> = names.map(|name| (name, lookup(name))).collect();
    let listed = env("TESTAPP_REPORT_FILES").unwrap_or_default();
    let files: BTreeMap<&str, Value> = listed
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|path| (path, describe_file(path)))
        .collect();
    json!({ "env": vars, "resolve": resolve, "files": files })
}

fn lookup(name: &str) -> Value {
    match (name, 0).to_socket_addrs() {
        Ok(addrs) => {
            let mut ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
            ips.dedup();
            json!({ "addresses": ips })
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn describe_file(path: &str) -> Value {
    match std::fs::read(path) {
        Ok(bytes) => json!({
            "exists": true,
            "size": bytes.len(),
            "head": String::from_utf8_lossy(&bytes[..bytes.len().min(FILE_HEAD)]),
        }),
        Err(e) => json!({
            "exists": std::path::Path::new(path).exists(),
            "error": e.to_string(),
        }),
    }
}

/// `/file?path=/abs/path`: the file's bytes, for checks on mounted files.
fn file(request: &Request) -> Response {
    let Some(path) = request.query("path").map(percent_decode) else {
        return Response::text(400, "give ?path=/absolute/path\n");
    };
    match std::fs::read(&path) {
        Ok(bytes) => Response::new(200, "application/octet-stream", bytes),
        Err(e) => Response::text(404, &format!("{path}: {e}\n")),
    }
}

fn events(request: &Request) -> Reply {
    let number = |key: &str, default: u64, max: u64| {
        request
            .query(key)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
            .min(max)
    };
    Reply::Events {
        count: number("n", 4, 10_000) as u32,
        interval: Duration::from_millis(number("interval_ms", 1000, 60_000)),
    }
}

/// Opens a WebSocket to `/ws-test` on the page's own origin and writes the outcome into
/// `#result` and the title: `WS-OK` after an echoed message, else `WS-FAIL: <why>`.
const WS_CHECK_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>WS-PENDING</title></head>
<body><p id="result">WS-PENDING</p>
<script>
function report(text) {
  if (document.title !== "WS-PENDING") return;
  document.title = text;
  document.getElementById("result").textContent = text;
  deadline.abort();
  // Also tell the server, for a browser whose page cannot be read back.
  new Image().src = "/echo/ws-check-result/" + encodeURIComponent(text);
}
// The deadline is a slow request rather than a timer: a headless browser running on
// virtual time fires timers at once when idle, but waits for a request in flight. The
// request is cancelled as soon as there is a result, so the page settles at once.
var deadline = new AbortController();
try {
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var socket = new WebSocket(scheme + location.host + "/ws-test");
  var token = "check-" + Date.now();
  socket.onopen = function () { socket.send(token); };
  socket.onmessage = function (e) {
    report(e.data === token ? "WS-OK" : "WS-FAIL: unexpected echo " + e.data);
    socket.close();
  };
  socket.onerror = function () { report("WS-FAIL: error event"); };
  socket.onclose = function (e) { report("WS-FAIL: closed with code " + e.code); };
  fetch("/events?n=2&interval_ms=30000", { signal: deadline.signal })
    .then(function (r) { return r.text(); })
    .then(function () { report("WS-FAIL: no echo within 30 s"); }, function () {});
} catch (e) {
  report("WS-FAIL: " + e);
}
</script></body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str) -> Request {
        Request {
            method: "GET".into(),
            target: target.into(),
            version: "HTTP/1.1".into(),
            headers: vec![("X-A".into(), "1".into()), ("x-a".into(), "2".into())],
        }
    }

    #[test]
    fn echo_groups_headers_and_keeps_target() {
        let options = Options {
            name: Some("n1".into()),
            ..Options::default()
        };
        let report = echo(&request("/echo/a%2Fb?q=%20"), 7, &options);
        assert_eq!(report["target"], "/echo/a%2Fb?q=%20");
        assert_eq!(report["headers"]["x-a"], json!(["1", "2"]));
        assert_eq!(report["body_length"], 7);
        assert_eq!(report["name"], "n1");
    }

    #[test]
    fn environment_reports_lookups_and_files() {
        let dir = std::env::temp_dir().join(format!("testapp-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let present = dir.join("bundle.pem");
        std::fs::write(&present, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let files = format!("{},{}", present.display(), dir.join("missing").display());
        let report = environment(|key| match key {
            "TESTAPP_RESOLVE" => Some("localhost, 127.0.0.1".into()),
            "TESTAPP_REPORT_FILES" => Some(files.clone()),
            _ => None,
        });
        assert_eq!(
            report["resolve"]["127.0.0.1"]["addresses"],
            json!(["127.0.0.1"])
        );
        assert!(report["resolve"].get("host.docker.internal").is_some());
        let shown = &report["files"][present.to_str().unwrap()];
        assert_eq!(shown["exists"], true);
        assert_eq!(shown["head"], "-----BEGIN CERTIFICATE-----\n");
        let missing = &report["files"][dir.join("missing").to_str().unwrap()];
        assert_eq!(missing["exists"], false);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn event_parameters_are_bounded() {
        let Reply::Events { count, interval } = events(&request("/events?n=2&interval_ms=99999"))
        else {
            panic!("events answer with a stream");
        };
        assert_eq!((count, interval), (2, Duration::from_secs(60)));
    }
}
