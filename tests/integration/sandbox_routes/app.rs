//! The app container of a 1.x profile, as `ohproxy up` makes it (the test image standing
//! in for OpenHands): it carries the public sandbox URL pattern, the web URL, the CA bundle
//! (system roots plus ours, read-only) and the host entry for the domain, and fetches a
//! sandbox's `/health` through nginx itself, the way OpenHands checks its sandboxes; the
//! sandbox reaches the app at the callback address OpenHands gives it. `up` writes the
//! watch service unit where it is told systemd keeps units, or, when systemctl fails,
//! succeeds all the same, warns and says how to run watch by hand; `down` removes the unit
//! and empties the sandbox allow-list, so no sandbox port stays routed.

use std::path::Path;
use std::process::Command;

use crate::docker_up::{DOMAIN, Setup, assert_ok};
use crate::support::Output;
use crate::support::docker::Cleanup;
use crate::support::sandbox::{AppSettings, Sandbox, Sandboxes};
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
    let unit = units.join(format!("ohproxy-watch-{DOMAIN}.service"));
    let image = crate::support::docker::test_image();
    let up = |systemctl: &str| {
        setup
            .home
            .cmd(["up", "--pull", "never", "--image", &image, "--wait", "30"])
            .env("OHPROXY_SYSTEMD_DIR", &units)
            .env("OHPROXY_SYSTEMCTL", systemctl)
            .run()
    };

    // systemctl fails (no bus): the container and nginx are up all the same, one warning
    // says how to run watch by hand, and no unit is left that systemd did not take.
    let out = up("false");
    assert_ok(&out);
    let warning = "warning: watch: the service is not set up (`systemctl daemon-reload` failed";
    let hint = format!(
        "); run `ohproxy --config {} watch &`",
        setup.config_file().display()
    );
    let line = out.stderr.lines().find(|l| l.starts_with(warning));
    assert!(
        line.is_some_and(|l| l.contains(&hint)),
        "no one-line warning with the hint:\n{}",
        out.stderr
    );
    assert!(!unit.exists(), "{} left behind", unit.display());
    assert!(
        out.stderr.contains("OpenHands is at https://"),
        "{}",
        out.stderr
    );

    let out = up("true");
    assert_ok(&out);
    assert!(out.stderr.contains("watch: installed"), "{}", out.stderr);
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
    // Started as OpenHands starts one, with what the app passes on to its sandboxes.
    let sandbox = sandboxes.start_as(&AppSettings::from_env(env));
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
    // The sandbox reaches the app as OpenHands has it reach MCP, at <OH_WEB_URL>/mcp/mcp:
    // the domain leads to this host's nginx and our CA is trusted (the app's answer for an
    // unknown path names it).
    let mcp = from_sandbox(format!("{origin}/mcp/mcp"));
    assert_eq!(mcp["status"], 404, "{mcp}");
    assert!(
        mcp["body"]
            .as_str()
            .unwrap()
            .contains("not found: /mcp/mcp"),
        "{mcp}"
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
    let out = down(&setup, &units, &[]);
    assert!(!unit.exists(), "down left {}", unit.display());
    assert!(
        out.stderr.contains("watch: stopped and removed"),
        "{}",
        out.stderr
    );
    down_leaves_no_sandbox_routed(&setup, &units, &sandbox, &out);
}

/// `ohproxy down ARGS` with the unit directory of the test, which must succeed.
fn down(setup: &Setup, units: &Path, args: &[&str]) -> Output {
    let out = setup
        .home
        .cmd(["down"].iter().chain(args))
        .env("OHPROXY_SYSTEMD_DIR", units)
        .env("OHPROXY_SYSTEMCTL", "true")
        .run();
    assert_ok(&out);
    out
}

/// With nothing left to keep it current, `down` (which printed `out`) emptied the
/// allow-list: the sandbox, still running, is no longer reachable through the site, which
/// stays installed. With `--nginx` the site goes, and an apply afterwards routes nothing
/// from before.
fn down_leaves_no_sandbox_routed(setup: &Setup, units: &Path, sandbox: &Sandbox, out: &Output) {
    let emptied = "nginx: emptied the sandbox allow-list ";
    assert!(out.stderr.contains(emptied), "{}", out.stderr);
    let client = setup.client();
    let route = format!("/runtime/{}/health", sandbox.port);
    let direct = format!("127.0.0.1:{}", sandbox.port);
    assert_eq!(client.get(&route).status, 404);
    assert_eq!(http_get(&direct, "/health").unwrap().0, 200);
    let nginx = setup.nginx.as_ref().unwrap();
    let site_file = nginx.site_dir().join(format!("ohproxy-{DOMAIN}.conf"));
    assert!(site_file.exists(), "down without --nginx removed the site");
    let again = down(setup, units, &[]);
    assert!(!again.stderr.contains(emptied), "{}", again.stderr);

    setup.home.cmd(["watch", "--once"]).ok();
    assert_eq!(client.get(&route).status, 200);
    let out = down(setup, units, &["--nginx"]);
    assert!(out.stderr.contains(emptied), "{}", out.stderr);
    assert!(!site_file.exists(), "down --nginx left the site");
    setup.home.cmd(["nginx", "apply"]).ok();
    assert_eq!(client.get(&route).status, 404);
    assert_eq!(http_get(&direct, "/health").unwrap().0, 200);
}
