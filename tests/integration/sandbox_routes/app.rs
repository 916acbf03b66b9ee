//! The app container of a 1.x profile, as `ohproxy up` makes it (the test image standing
//! in for OpenHands): it carries the public sandbox URL pattern, the web URL, the CA bundle
//! (system roots plus ours, read-only) and the host entry for the domain, and fetches a
//! sandbox's `/health` through nginx itself, the way OpenHands checks its sandboxes; the
//! sandbox reaches the app at the callback address OpenHands gives it. `up`
//! writes the watch service unit where it is told systemd keeps units, and `down` removes
//! it.

use std::process::Command;

use crate::docker_up::{DOMAIN, Setup, assert_ok};
use crate::support::docker::Cleanup;
use crate::support::sandbox::Sandboxes;
use crate::support::testapp::http_get;

const BUNDLE: &str = "/etc/ohproxy/ca-bundle.pem";

#[test]
fn the_app_reaches_a_sandbox_through_nginx_with_our_ca() {
    let extra =
        format!("env = {{ TESTAPP_REPORT_FILES = \"{BUNDLE}\", TESTAPP_RESOLVE = \"{DOMAIN}\" }}");
    let Some(setup) = Setup::new(true, &extra) else {
        return;
    };
    let units = setup.home.path().join("units");
    let image = crate::support::docker::test_image();
    let out = setup
        .home
        .cmd(["up", "--pull", "never", "--image", &image, "--wait", "30"])
        .env("OHPROXY_SYSTEMD_DIR", &units)
        .env("OHPROXY_SYSTEMCTL", "true")
        .run();
    assert_ok(&out);
    let https = setup.nginx.as_ref().unwrap().https_port;
    let origin = format!("https://{DOMAIN}:{https}");

    let app = format!("127.0.0.1:{}", setup.app_port);
    let (code, body) = http_get(&app, "/env").unwrap();
    assert_eq!(code, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    let env = &report["env"];
    let pattern = format!("{origin}/runtime/{{port}}");
    assert_eq!(env["OH_SANDBOX_CONTAINER_URL_PATTERN"], pattern.as_str());
    assert_eq!(env["SANDBOX_CONTAINER_URL_PATTERN"], pattern.as_str());
    assert_eq!(env["OH_WEB_URL"], origin.as_str());
    for key in [
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
    ] {
        assert_eq!(env[key], BUNDLE, "{key}");
    }
    let resolved = &report["resolve"][DOMAIN]["addresses"];
    assert!(
        resolved.as_array().is_some_and(|a| !a.is_empty()),
        "{DOMAIN} does not resolve in the app: {}",
        report["resolve"]
    );
    assert_eq!(report["files"][BUNDLE]["exists"], true);

    // The bundle ends with our CA, after the system's roots.
    let (code, bundle) = http_get(&app, &format!("/file?path={BUNDLE}")).unwrap();
    assert_eq!(code, 200);
    let ours = std::fs::read_to_string(setup.home.ca_dir().join("rootCA.pem")).unwrap();
    assert!(bundle.trim_end().ends_with(ours.trim_end()));
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > 10,
        "no system roots"
    );

    // A sandbox, routed by watch, answers the app through the public URL.
    let cleanup = Cleanup::new(&setup.engine);
    let sandboxes = Sandboxes::shared(&setup.engine, &cleanup);
    let sandbox = sandboxes.start();
    setup.home.cmd(["watch", "--once"]).ok();
    let url = format!("{origin}/runtime/{}/health", sandbox.port);
    let (code, body) = http_get(&app, &format!("/fetch?url={url}")).unwrap();
    assert_eq!(code, 200, "{body}");
    let fetched: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(fetched["status"], 200, "{fetched}");
    assert_eq!(fetched["body"], "OK", "{fetched}");

    // The sandbox reaches the app where OpenHands has it call back: its webhook URL is
    // http://host.docker.internal:<SANDBOX_HOST_PORT>/api/v1/webhooks, and that port is
    // nginx's HTTP port, which passes exactly that path on to the app (whose answer for an
    // unknown path names it), from the Docker bridge only.
    let http = setup.nginx.as_ref().unwrap().http_port;
    let from_sandbox = |url: String| {
        let (code, body) = http_get(
            &format!("127.0.0.1:{}", sandbox.port),
            &format!("/fetch?url={url}"),
        )
        .unwrap();
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let hook = from_sandbox(format!(
        "http://host.docker.internal:{http}/api/v1/webhooks/events"
    ));
    assert_eq!(hook["status"], 404, "{hook}");
    assert!(
        hook["body"]
            .as_str()
            .unwrap()
            .contains("not found: /api/v1/webhooks/events"),
        "the app itself answered: {hook}"
    );
    // Nothing else of the app is reachable that way, and the app's own port is not
    // published where a container could reach it.
    let other = from_sandbox(format!("http://host.docker.internal:{http}/health"));
    assert_eq!(other["status"], 404, "{other}");
    assert_ne!(other["body"], "OK", "{other}");
    let direct = from_sandbox(format!(
        "http://host.docker.internal:{}/health",
        setup.app_port
    ));
    assert!(
        direct.get("error").is_some(),
        "the app port answered a container: {direct}"
    );

    // The watch service unit.
    let unit = units.join(format!("ohproxy-watch-{DOMAIN}.service"));
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains(" watch\n"), "{text}");
    assert!(text.contains("Restart=always"), "{text}");
    assert!(
        text.contains(&format!("OHPROXY_HOME={}", setup.home.path().display())),
        "{text}"
    );
    if let Ok(out) = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
    {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    }
    let out = setup
        .home
        .cmd(["down"])
        .env("OHPROXY_SYSTEMD_DIR", &units)
        .env("OHPROXY_SYSTEMCTL", "true")
        .run();
    assert_ok(&out);
    assert!(!unit.exists(), "down left {}", unit.display());
    assert!(
        out.stderr.contains("watch: stopped and removed"),
        "{}",
        out.stderr
    );
}
