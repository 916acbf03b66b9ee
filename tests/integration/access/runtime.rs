//! The 1.x sandbox route `/runtime/<port>/` carries the same rule as `/`: a sandbox (the
//! test app, named as OpenHands names them) routed by `ohproxy watch --once` answers 401
//! with a challenge without credentials, over HTTP and on a WebSocket upgrade, 200 and 101
//! with them or with the session cookie alone (which the sandbox never sees), and 200 to a
//! request from the Docker bridge (the app's own health check).
//! In client-cert mode it answers 403 without a certificate and 200 with ours.

use super::{
    Site, access_dir, assert_challenged, basic, get_as, init_password, status_from_bridge,
    upgrade_status, upgrade_with,
};
use crate::support::docker::{Cleanup, require_docker};
use crate::support::sandbox::Sandboxes;

#[test]
fn the_sandbox_route_asks_for_the_same_password() {
    let Some(docker) = require_docker() else {
        return;
    };
    let Some(site) = Site::new("password", |_| {}) else {
        return;
    };
    let cleanup = Cleanup::new(&docker);
    let sandboxes = Sandboxes::shared(&docker, &cleanup);
    let sandbox = sandboxes.start();
    let out = site.home.cmd(["watch", "--once"]).ok();
    assert!(
        out.stderr.contains(&format!("/runtime/{}/", sandbox.port)),
        "{}",
        out.stderr
    );

    let health = format!("/runtime/{}/health", sandbox.port);
    let events = format!(
        "/runtime/{}/sockets/events/{}",
        sandbox.port, sandbox.conversation
    );
    let client = site.client();
    assert_challenged(&get_as(&client, &health, None));
    assert_challenged(&upgrade_status(&client, &events, None));

    let ana = basic("ana", &init_password(&site));
    let ok = get_as(&client, &health, Some(&ana));
    assert_eq!((ok.status, ok.text().as_str()), (200, "OK"));
    assert_eq!(upgrade_status(&client, &events, Some(&ana)).status, 101);

    let set = ok
        .header("set-cookie")
        .expect("the login hands out the cookie");
    let cookie = set.split(';').next().unwrap();
    assert_eq!(
        upgrade_with(&client, &events, &[("Cookie", cookie)]).status,
        101
    );
    let (name, secret) = cookie.split_once('=').unwrap();
    let wrong = format!("{name}={}", "0".repeat(secret.len()));
    assert_challenged(&upgrade_with(&client, &events, &[("Cookie", &wrong)]));
    let echo = format!("/runtime/{}/echo/in", sandbox.port);
    let echo = client
        .request("GET", &echo, &[("Cookie", cookie)], b"")
        .unwrap();
    assert_eq!(echo.status, 200, "{}", echo.text());
    assert!(!echo.text().contains(secret), "{}", echo.text());

    if let Some(status) = status_from_bridge(&site, &health) {
        assert_eq!(
            status, 200,
            "the app's check of its sandbox, from the bridge"
        );
    }
}

#[test]
fn the_sandbox_route_asks_for_the_same_certificate() {
    let Some(docker) = require_docker() else {
        return;
    };
    let Some(site) = Site::new("client-cert", |home| {
        home.cmd(["client", "add", "phone"]).ok();
    }) else {
        return;
    };
    let cleanup = Cleanup::new(&docker);
    let sandboxes = Sandboxes::shared(&docker, &cleanup);
    let sandbox = sandboxes.start();
    site.home.cmd(["watch", "--once"]).ok();

    let health = format!("/runtime/{}/health", sandbox.port);
    assert_eq!(site.client().get(&health).status, 403);
    let doctor = access_dir(&site).join("doctor-client.pem");
    assert_eq!(site.client_with(&doctor).get(&health).status, 200);
}
