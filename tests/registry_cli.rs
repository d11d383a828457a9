//! `kiln pull`, `push`, `login` and `logout` against a real `docker-registry`, and interop
//! with skopeo in both directions.

mod images_support;
mod registry_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use images_support::{busybox_archive, Kiln};
use registry_support::{Registry, RegistryOptions};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The digest in `kiln push`'s `TAG: digest: sha256:… size: N` line.
fn pushed_digest(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("no digest in push output")
        .to_string()
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn push_then_pull_into_another_root() {
    let reg = Registry::start();
    let a = Kiln::new();
    a.load_busybox();
    let name = format!("{}/team/busybox:v1", reg.host());
    a.ok(&["tag", "busybox:latest", &name]);
    let digest = pushed_digest(&a.ok(&["push", &name]));
    let again = a.run(&["push", &name]);
    assert!(
        again.status.success() && text(&again).contains("Layer already exists"),
        "{}",
        text(&again)
    );

    // The same image under another repository of the registry: its blobs are mounted.
    let sibling = format!("{}/other/busybox:v1", reg.host());
    a.ok(&["tag", "busybox:latest", &sibling]);
    let mounted = a.run(&["push", &sibling]);
    assert!(mounted.status.success(), "{}", text(&mounted));
    assert!(
        text(&mounted).contains("Mounted from another repository"),
        "{}",
        text(&mounted)
    );
    assert_eq!(
        pushed_digest(&String::from_utf8_lossy(&mounted.stdout)),
        digest
    );

    let b = Kiln::new();
    let out = b.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Digest: {digest}")) && out.contains("Downloaded newer image"),
        "{out}"
    );
    assert!(
        b.ok(&["images", "--digests"]).contains(&digest),
        "pulled image not listed"
    );
    let snapshots = std::fs::read_dir(b.root.join("snapshots"))
        .expect("snapshots dir")
        .count();
    assert!(snapshots > 0, "layers were not unpacked");
    assert!(b
        .root
        .join("snapshots")
        .read_dir()
        .expect("read")
        .flatten()
        .any(|e| e.path().join("fs/bin").exists()));
    assert!(b.ok(&["pull", &name]).contains("Image is up to date"));
    // Same content in both roots.
    assert_eq!(
        a.ok(&["inspect", "--format", "{{.Id}}", &name]),
        b.ok(&["inspect", "--format", "{{.Id}}", &name])
    );
}

#[test]
fn skopeo_reads_what_kiln_pushes_and_kiln_pulls_what_skopeo_pushes() {
    let reg = Registry::start();
    let k = Kiln::new();
    k.load_busybox();
    let name = format!("{}/interop/kiln:1", reg.host());
    k.ok(&["tag", "busybox:latest", &name]);
    let digest = pushed_digest(&k.ok(&["push", &name]));

    let inspect = skopeo(&["inspect", "--tls-verify=false", &format!("docker://{name}")]);
    let json: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo json");
    assert_eq!(json["Digest"], digest.as_str());
    let oci = k.path("oci-copy");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{name}"),
        &format!("oci:{}:copy", oci.display()),
    ]);
    assert!(oci.join("index.json").is_file());

    let archive = busybox_archive(k.tmp.path());
    let from_skopeo = format!("{}/interop/skopeo:1", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", archive.display()),
        &format!("docker://{from_skopeo}"),
    ]);
    let other = Kiln::new();
    let out = other.ok(&["pull", &from_skopeo]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let listed = other.ok(&["images"]);
    assert!(
        listed.contains(&format!("{}/interop/skopeo", reg.host())),
        "{listed}"
    );
}

#[test]
fn login_checks_saves_and_logout_forgets() {
    let reg = Registry::start_with(RegistryOptions {
        htpasswd: Some(("kiln", "pa55word")),
        ..Default::default()
    });
    let k = Kiln::new();
    let docker_config = k.path("docker");
    let with_config = |args: &[&str], stdin: &str| -> Output {
        let mut cmd = k.cmd(args);
        cmd.env("DOCKER_CONFIG", &docker_config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kiln");
        if let Some(mut input) = child.stdin.take() {
            use std::io::Write;
            input.write_all(stdin.as_bytes()).expect("stdin");
        }
        child.wait_with_output().expect("wait kiln")
    };
    let host = reg.host();
    let bad = with_config(
        &["login", "-u", "kiln", "--password-stdin", &host],
        "wrong\n",
    );
    assert_eq!(bad.status.code(), Some(125), "{}", text(&bad));
    assert!(
        text(&bad).contains("authentication to") && text(&bad).contains(&host),
        "{}",
        text(&bad)
    );
    assert!(!config_has_login(&docker_config, &host));

    let good = with_config(
        &["login", "-u", "kiln", "--password-stdin", &host],
        "pa55word\n",
    );
    assert!(
        good.status.success() && text(&good).contains("Login Succeeded"),
        "{}",
        text(&good)
    );
    assert!(config_has_login(&docker_config, &host));

    // The saved login is what push and pull use.
    k.load_busybox();
    let name = format!("{host}/private/busybox:1");
    k.ok(&["tag", "busybox:latest", &name]);
    let empty_config = k.path("no-logins");
    let anonymous = k
        .cmd(&["push", &name])
        .env("DOCKER_CONFIG", &empty_config)
        .stdin(Stdio::null())
        .output()
        .expect("kiln");
    assert!(!anonymous.status.success(), "push without login succeeded");
    assert!(
        text(&anonymous).contains("no credentials (anonymous)"),
        "{}",
        text(&anonymous)
    );
    let pushed = with_config(&["push", &name], "");
    assert!(pushed.status.success(), "{}", text(&pushed));

    let out = with_config(&["logout", &host], "");
    assert!(
        text(&out).contains("Removing login credentials"),
        "{}",
        text(&out)
    );
    assert!(!config_has_login(&docker_config, &host));
    let denied = with_config(&["pull", &name], "");
    assert_eq!(denied.status.code(), Some(125));
    assert!(text(&denied).contains("kiln login"), "{}", text(&denied));
}

fn config_has_login(dir: &Path, host: &str) -> bool {
    let Ok(bytes) = std::fs::read(dir.join("config.json")) else {
        return false;
    };
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    json["auths"][host]["auth"].is_string()
}

#[test]
fn pulling_a_missing_tag_fails_clearly() {
    let reg = Registry::start();
    let k = Kiln::new();
    let out = k.run(&["pull", &format!("{}/nothing/here:1", reg.host())]);
    assert_eq!(out.status.code(), Some(125));
    let t = text(&out);
    assert!(
        t.contains("nothing/here") && (t.contains("not found") || t.contains("does not exist")),
        "{t}"
    );
}
