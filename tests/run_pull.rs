//! `kiln run`/`create` with an image the store lacks: pulled from a real `docker-registry`
//! as Docker does (announced on stderr), `--pull always|missing|never`, and `--platform`.

mod registry_support;
mod runtime_support;

use std::process::Output;

use registry_support::Registry;
use runtime_support::{Kiln, Rt};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn succeeded(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// A registry holding busybox as `HOST/busybox:latest`, pushed from `src`.
fn registry_with_busybox(src: &Rt) -> (Registry, String) {
    let reg = Registry::start();
    let name = format!("{}/busybox", reg.host());
    src.ok(&["tag", "busybox:latest", &name]);
    src.ok(&["push", &name]);
    (reg, name)
}

/// What `/version` holds in the image, "none" without it.
const SHOW_VERSION: &str = "cat /version 2>/dev/null || echo none";

#[test]
fn run_pulls_missing_image_then_uses_the_store_and_pull_always_re_resolves() {
    let src = Rt::new();
    let (reg, name) = registry_with_busybox(&src);
    let dst = Kiln::new();
    let announce = format!("Unable to find image '{name}:latest' locally");

    let first = succeeded(
        dst.run(&["run", "--network", "none", &name, "sh", "-c", SHOW_VERSION]),
        "first run",
    );
    assert_eq!(stdout(&first), "none\n", "{}", stderr(&first));
    let err = stderr(&first);
    assert!(err.contains(&announce), "{err}");
    assert!(err.contains("latest: Pulling from busybox"), "{err}");
    assert!(err.contains("Status: Downloaded newer image for"), "{err}");
    assert!(err.contains("Pull complete"), "{err}");
    assert!(dst
        .ok(&["images"])
        .contains(&format!("{}/busybox", reg.host())));

    // In the store now: no announcement, no pull.
    let second = succeeded(
        dst.run(&["run", "--network", "none", &name, "true"]),
        "second run",
    );
    assert!(
        !stderr(&second).contains("Unable to find image"),
        "{}",
        stderr(&second)
    );
    assert!(!stderr(&second).contains("Status:"), "{}", stderr(&second));

    // A changed image pushed under the same tag.
    src.ok(&[
        "run",
        "--name",
        "v2",
        "busybox",
        "sh",
        "-c",
        "echo v2 > /version",
    ]);
    src.ok(&["commit", "v2", &name]);
    src.ok(&["push", &name]);

    // `missing` (the default) keeps the stored image ...
    let stale = succeeded(
        dst.run(&["run", "--network", "none", &name, "sh", "-c", SHOW_VERSION]),
        "run with the stored image",
    );
    assert_eq!(stdout(&stale), "none\n");
    // ... `always` asks the registry and runs the new one.
    let fresh = succeeded(
        dst.run(&[
            "run",
            "--pull",
            "always",
            "--network",
            "none",
            &name,
            "sh",
            "-c",
            SHOW_VERSION,
        ]),
        "run --pull always",
    );
    assert_eq!(stdout(&fresh), "v2\n", "{}", stderr(&fresh));
    assert!(
        stderr(&fresh).contains("Status: Downloaded newer image for"),
        "{}",
        stderr(&fresh)
    );
    // And again: up to date, nothing downloaded.
    let again = succeeded(
        dst.run(&[
            "run",
            "--pull",
            "always",
            "--network",
            "none",
            &name,
            "true",
        ]),
        "second run --pull always",
    );
    assert!(
        stderr(&again).contains("Status: Image is up to date for"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn pull_never_and_missing_repositories_fail_with_125() {
    let src = Rt::new();
    let (reg, name) = registry_with_busybox(&src);
    let empty = Kiln::new();

    let never = empty.run(&["run", "--pull", "never", &name, "true"]);
    assert_eq!(never.status.code(), Some(125), "{}", stderr(&never));
    assert!(
        stderr(&never).contains("No such image"),
        "{}",
        stderr(&never)
    );
    assert!(
        !stderr(&never).contains("Unable to find image"),
        "{}",
        stderr(&never)
    );
    let never_create = empty.run(&["create", "--pull", "never", &name]);
    assert_eq!(never_create.status.code(), Some(125));
    assert!(empty.ok(&["images", "-q"]).trim().is_empty());

    let missing = format!("{}/nobody/nothing", reg.host());
    let out = empty.run(&["run", "--network", "none", &missing, "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Unable to find image '{missing}:latest' locally")),
        "{err}"
    );
    // docker-registry answers MANIFEST_UNKNOWN for a repository it never had, as Docker
    // reports it too ("manifest for … not found").
    assert!(
        err.contains("latest not found in") && err.contains("nobody/nothing"),
        "{err}"
    );
}

#[test]
fn create_and_runtime_run_pull_with_only_the_id_on_stdout() {
    let src = Rt::new();
    let (_reg, name) = registry_with_busybox(&src);
    // Rt's guard removes the containers made below, also on failure.
    let dst = Rt { k: Kiln::new() };

    let created = succeeded(
        dst.run(&["create", "--name", "made", &name, "true"]),
        "create",
    );
    let id = stdout(&created);
    assert_eq!(id.trim().len(), 64, "stdout must be only the id: {id:?}");
    assert!(
        stderr(&created).contains("Unable to find image"),
        "{}",
        stderr(&created)
    );
    assert_eq!(
        dst.field_by_name("made").split_whitespace().next(),
        Some("Created")
    );

    // The runtime path (`--name`) finds it in the store.
    let ran = succeeded(
        dst.run(&["run", "--name", "ran", &name, "echo", "hi"]),
        "runtime run",
    );
    assert_eq!(stdout(&ran), "hi\n");
    assert!(
        !stderr(&ran).contains("Unable to find image"),
        "{}",
        stderr(&ran)
    );
    // `-d --pull always`: resolved again, reported on stderr; stdout is only the id.
    let bg = succeeded(
        dst.run(&["run", "-d", "--pull", "always", &name, "true"]),
        "run -d --pull always",
    );
    assert_eq!(stdout(&bg).trim().len(), 64, "{:?}", stdout(&bg));
    assert!(
        stderr(&bg).contains("Status: Image is up to date for"),
        "{}",
        stderr(&bg)
    );
}

#[test]
fn platform_other_than_this_machines_is_refused() {
    let rt = Rt::new();
    let (os, arch) = ("linux", std::env::consts::ARCH);
    let arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let other = if arch == "s390x" {
        "linux/ppc64le"
    } else {
        "linux/s390x"
    };
    for args in [
        vec!["run", "--platform", other, "busybox", "true"],
        vec!["create", "--platform", other, "busybox"],
        vec!["pull", "--platform", other, "busybox"],
    ] {
        let (code, err) = rt.fails(&args);
        assert_eq!(code, 125, "{args:?}: {err}");
        assert!(err.contains("no emulation"), "{args:?}: {err}");
    }
    let host = format!("{os}/{arch}");
    let out = rt.ok(&[
        "run",
        "--network",
        "none",
        "--platform",
        &host,
        "busybox",
        "echo",
        "ok",
    ]);
    assert_eq!(out, "ok\n");
    // `pull`'s registry flags are `run`'s and `create`'s too.
    let certs = rt.k.path("certs.d");
    let flags = [
        "--insecure-registry",
        "registry.example:5000",
        "--certs-dir",
        certs.to_str().unwrap(),
    ];
    let mut run = vec!["run", "--network", "none"];
    run.extend(flags);
    run.extend(["busybox", "echo", "ok"]);
    assert_eq!(rt.ok(&run), "ok\n");
    let mut create = vec!["create"];
    create.extend(flags);
    create.push("busybox");
    let id = rt.ok(&create);
    rt.ok(&["rm", id.trim()]);
    if arch == "amd64" {
        let v1 = rt.ok(&[
            "run",
            "--network",
            "none",
            "--platform",
            "linux/amd64/v1",
            "busybox",
            "echo",
            "ok",
        ]);
        assert_eq!(v1, "ok\n");
    }
}
