//! The session cookie that stands in for the password (Safari and iOS never send Basic
//! credentials with a WebSocket): a login sets it with its attributes, it alone opens `/`
//! and a WebSocket there, a wrong one or none gets the challenge, it never reaches the
//! app, ordinary applies keep it, removing a user ends it, and its secret stays out of the
//! site file, in an include only its owner reads. Never handed to the Docker bridges.

use std::os::unix::fs::PermissionsExt;

use tungstenite::client::IntoClientRequest;

use super::{
    DOMAIN, Site, access_dir, assert_challenged, basic, curl_from_bridge, get_as, init_password,
    upgrade_with,
};
use crate::support::https::{Client, Response};

const ATTRIBUTES: &str = "; Path=/; Secure; HttpOnly; SameSite=Strict";

/// The `Set-Cookie` a response carries, as `name=value` without the attributes, which must
/// be exactly ours.
fn handed_out(response: &Response) -> String {
    let header = response.header("set-cookie").unwrap_or_else(|| {
        panic!("no Set-Cookie: {:?}", response.headers);
    });
    let pair = header
        .strip_suffix(ATTRIBUTES)
        .unwrap_or_else(|| panic!("attributes: {header:?}"));
    assert!(pair.starts_with("ohproxy_"), "{pair}");
    pair.to_string()
}

fn get_with_cookie(client: &Client, target: &str, cookie: &str) -> Response {
    client
        .request("GET", target, &[("Cookie", cookie)], b"")
        .expect("HTTPS GET")
}

/// A login as this user: the cookie it hands out.
fn log_in(client: &Client, auth: &str) -> String {
    let response = get_as(client, "/", Some(auth));
    assert_eq!(response.status, 200, "{}", response.text());
    handed_out(&response)
}

/// The secret ohproxy keeps in the state dir.
fn kept_secret(site: &Site) -> String {
    let text = std::fs::read_to_string(access_dir(site).join("session-secret")).unwrap();
    text.trim_end().to_string()
}

/// A real WebSocket on `target` with the cookie and no Authorization, which echoes.
fn websocket_echoes_with(client: &Client, target: &str, cookie: &str) {
    let stream = client.connect().unwrap();
    let url = format!("wss://{}{target}", client.authority());
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Cookie", cookie.parse().unwrap());
    let (mut socket, response) = tungstenite::client(request, stream).expect("WebSocket 101");
    assert_eq!(response.status().as_u16(), 101);
    socket
        .send(tungstenite::Message::text("ping with the cookie"))
        .unwrap();
    let reply = socket.read().unwrap();
    assert!(
        reply.to_text().unwrap().contains("ping with the cookie"),
        "{reply:?}"
    );
}

#[test]
fn a_login_hands_out_the_cookie_that_opens_websockets() {
    let Some(site) = Site::new("password", |_| {}) else {
        return;
    };
    let client = site.client();
    let refused = get_as(&client, "/", None);
    assert_challenged(&refused);
    assert_eq!(refused.header("set-cookie"), None, "never on a 401");

    let cookie = log_in(&client, &basic("ana", &init_password(&site)));
    let (name, secret) = cookie.split_once('=').unwrap();
    assert_eq!(secret, kept_secret(&site));
    assert!(
        secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()),
        "{secret}"
    );

    // The cookie alone, as Safari sends it on a WebSocket.
    assert_eq!(
        upgrade_with(&client, "/sockets/events/1", &[("Cookie", &cookie)]).status,
        101
    );
    websocket_echoes_with(&client, "/sockets/events/1", &cookie);
    assert_eq!(get_with_cookie(&client, "/", &cookie).status, 200);

    let wrong = format!("{name}={}", "0".repeat(64));
    assert_challenged(&upgrade_with(
        &client,
        "/sockets/events/1",
        &[("Cookie", &wrong)],
    ));
    assert_challenged(&upgrade_with(&client, "/sockets/events/1", &[]));
    assert_challenged(&get_with_cookie(&client, "/", &wrong));

    // The app gets the other cookies, never this one.
    let echo = get_with_cookie(&client, "/echo/in", &format!("a=1; {cookie}; b=2"));
    assert_eq!(echo.status, 200, "{}", echo.text());
    assert!(!echo.text().contains(secret), "{}", echo.text());
    assert_eq!(echo.json()["headers"]["cookie"][0], "a=1; b=2");

    // Public paths neither ask nor hand out.
    let check = client.get("/ca/check.svg");
    assert_eq!((check.status, check.header("set-cookie")), (200, None));
}

#[test]
fn removing_a_user_ends_every_session_and_applies_keep_them() {
    let Some(site) = Site::new("password", |home| {
        home.cmd(["user", "add", "bob"])
            .stdin("hunter2 but longer\n")
            .ok();
    }) else {
        return;
    };
    let client = site.client();
    let ana = basic("ana", &init_password(&site));
    let old = log_in(&client, &ana);

    // Applies that change nothing of it, and a user added, leave the session open.
    site.home.cmd(["nginx", "apply"]).ok();
    site.home
        .cmd(["user", "add", "carl"])
        .stdin("another long one\n")
        .ok();
    assert_eq!(get_with_cookie(&client, "/", &old).status, 200);

    let out = site.home.cmd(["user", "remove", "bob"]).ok();
    assert!(
        out.stderr.contains("every browser logs in again"),
        "{}",
        out.stderr
    );
    assert_challenged(&get_with_cookie(&client, "/", &old));
    assert_challenged(&upgrade_with(
        &client,
        "/sockets/events/1",
        &[("Cookie", &old)],
    ));

    let new = log_in(&client, &ana);
    assert_ne!(new, old);
    assert_eq!(
        upgrade_with(&client, "/sockets/events/1", &[("Cookie", &new)]).status,
        101
    );
}

#[test]
fn the_secret_stays_out_of_the_site_file() {
    let Some(site) = Site::new("password", |_| {}) else {
        return;
    };
    let secret = kept_secret(&site);
    let site_text = std::fs::read_to_string(site.site_file()).unwrap();
    assert!(!site_text.contains(&secret));
    let include = site.nginx.cert_dir().join(format!("{DOMAIN}.session.conf"));
    let pattern = format!("{}[f]", include.display().to_string().trim_end_matches('f'));
    assert!(
        site_text.contains(&format!("include \"{pattern}\";")),
        "{site_text}"
    );
    assert!(std::fs::read_to_string(&include).unwrap().contains(&secret));
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&include), 0o600);
    assert_eq!(mode(&access_dir(&site).join("session-secret")), 0o600);
    assert_eq!(mode(&site.site_file()), 0o644);
}

/// A container on a Docker bridge passes without the password, and must not be handed the
/// cookie, which would let it in from anywhere.
#[test]
fn the_docker_bridges_get_no_cookie() {
    let Some(site) = Site::new("password", |_| {}) else {
        return;
    };
    let user = format!("ana:{}", init_password(&site));
    let args = ["-o", "/dev/null", "-D", "-", "-u", &user];
    let Some(head) = curl_from_bridge(&site, "/health", &args) else {
        return;
    };
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/2 200"),
        "{head}"
    );
    assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
}
