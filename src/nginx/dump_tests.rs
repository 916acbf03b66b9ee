use super::*;

const DEBIAN: &str = include_str!("../../tests/fixtures/debian-nginx-T.txt");

fn none() -> BTreeMap<PathBuf, String> {
    BTreeMap::new()
}

#[test]
fn splits_debians_dump_into_its_files() {
    let dump = Dump::parse(DEBIAN).unwrap();
    assert_eq!(dump.main_file(), Path::new("/etc/nginx/nginx.conf"));
    let default = dump
        .file(Path::new("/etc/nginx/sites-enabled/default"))
        .unwrap();
    assert!(default.contains("listen 80 default_server;"), "{default}");
    assert!(dump.file(Path::new("/etc/nginx/mime.types")).is_some());
}

#[test]
fn follows_includes_with_their_context() {
    let dump = Dump::parse(DEBIAN).unwrap();
    let all = dump.directives(&[], &none()).unwrap();
    let listen = all
        .iter()
        .find(|d| d.name == "listen" && d.args == ["80", "default_server"])
        .unwrap();
    assert_eq!(listen.context, ["http", "server"]);
    assert_eq!(listen.file, Path::new("/etc/nginx/sites-enabled/default"));
    let includes: Vec<_> = all
        .iter()
        .filter(|d| d.name == "include" && d.context == ["http"])
        .map(|d| d.args[0].as_str())
        .collect();
    assert_eq!(
        includes,
        [
            "/etc/nginx/mime.types",
            "/etc/nginx/conf.d/*.conf",
            "/etc/nginx/sites-enabled/*"
        ]
    );
    let types = all.iter().find(|d| d.name == "text/html").unwrap();
    assert_eq!(types.context, ["http", "types"]);
}

#[test]
fn an_override_joins_the_glob_that_matches_it() {
    let dump = Dump::parse(DEBIAN).unwrap();
    let site = PathBuf::from("/etc/nginx/conf.d/ohproxy-a.example.conf");
    let overrides = BTreeMap::from([(site.clone(), "server {\n  listen 8443;\n}\n".into())]);
    let all = dump.directives(&[], &overrides).unwrap();
    let listen = all.iter().find(|d| d.args == ["8443"]).unwrap();
    assert_eq!(listen.context, ["http", "server"]);
    assert_eq!(listen.file, site);
    assert_eq!(listen.line, 2);
}

#[test]
fn flattening_inlines_every_include_and_maps_lines_back() {
    let dump = Dump::parse(DEBIAN).unwrap();
    let site = PathBuf::from("/etc/nginx/conf.d/ohproxy-a.example.conf");
    let overrides =
        BTreeMap::from([(site.clone(), "# ours\nserver {\n  listen 8443;\n}\n".into())]);
    let flat = dump.flatten(&overrides).unwrap();
    let flat_dump = Dump::single(Path::new("/etc/nginx/nginx.conf"), &flat.text);
    let left = flat_dump.directives(&[], &none()).unwrap();
    assert!(!left.iter().any(|d| d.name == "include"), "{}", flat.text);
    let n = flat.text.lines().position(|l| l.contains("8443")).unwrap() + 1;
    assert_eq!(flat.origin(n), Some((site.as_path(), 3)));
    let n = flat
        .text
        .lines()
        .position(|l| l.contains("listen 80 default_server"))
        .unwrap()
        + 1;
    let (file, line) = flat.origin(n).unwrap();
    let default = dump.file(file).unwrap();
    assert!(
        default
            .lines()
            .nth(line - 1)
            .unwrap()
            .contains("listen 80 default_server")
    );
    // The same directives in the same contexts, whether read flat or followed.
    let names = |d: &Dump, o: &BTreeMap<PathBuf, String>| -> Vec<(String, Vec<String>)> {
        d.directives(&[], o)
            .unwrap()
            .into_iter()
            .filter(|d| d.name != "include")
            .map(|d| (d.name, d.context))
            .collect()
    };
    assert_eq!(names(&flat_dump, &none()), names(&dump, &overrides));
}

#[test]
fn reads_quotes_escapes_comments_and_variables() {
    let text = "a \"b c;\" 'd\\'e' f\\ g ${h}i; # x { ;\nserver { listen 1; }\n";
    let dump = Dump::single(Path::new("/x.conf"), text);
    let all = dump.directives(&["http"], &none()).unwrap();
    assert_eq!(all[0].args, ["b c;", "d'e", "f g", "${h}i"]);
    assert_eq!(all[2].context, ["http", "server"]);
    assert_eq!(all[2].line, 2);
    assert!(
        Dump::single(Path::new("/x"), "a \"b;\n")
            .directives(&[], &none())
            .is_err()
    );
}

#[test]
fn globs_match_like_glob3() {
    assert!(glob_match("/e/conf.d/*.conf", "/e/conf.d/a.conf"));
    assert!(!glob_match("/e/conf.d/*.conf", "/e/conf.d/a.conf.bak"));
    assert!(!glob_match("/e/conf.d/*.conf", "/e/conf.d/.hidden.conf"));
    assert!(!glob_match("/e/*", "/e/d/a"));
    assert!(glob_match("/e/s-enabled/*", "/e/s-enabled/default"));
    assert!(glob_match("/e/[a-c]?.conf", "/e/b1.conf"));
    assert!(!glob_match("/e/[!a-c]?.conf", "/e/b1.conf"));
}

#[test]
fn rejects_text_that_is_not_a_dump() {
    assert!(Dump::parse("hello\n").is_err());
    assert!(Dump::parse("").is_err());
}
