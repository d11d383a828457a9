//! A Docker user's everyday commands behaving as Docker's: `inspect` of containers (not only
//! images), `images -f reference=` globs, exit codes of command-line mistakes, and `rmi -f`
//! never deleting the image of a running container.

mod runtime_support;

use runtime_support::Rt;

#[test]
fn inspect_finds_containers_images_and_volumes() {
    let rt = Rt::new();
    // A container named like the image: Docker's untyped inspect prefers the container.
    let id = rt.ok(&["create", "--name", "busybox", "busybox", "true"]);
    let id = id.trim();
    assert_eq!(
        rt.ok(&[
            "inspect",
            "--format",
            "{{.Id}} {{.State.Status}}",
            "busybox"
        ]),
        format!("{id} created\n")
    );
    assert_eq!(
        rt.ok(&["inspect", "-f", "{{.Name}}", &id[..12]]),
        "/busybox\n"
    );
    let image_id = rt.ok(&["inspect", "--type", "image", "-f", "{{.Id}}", "busybox"]);
    assert!(image_id.starts_with("sha256:"), "{image_id}");
    rt.ok(&["volume", "create", "qa-data"]);
    assert_eq!(
        rt.ok(&["inspect", "-f", "{{.Name}}", "qa-data"]),
        "qa-data\n"
    );
    // A container is not an image: a typed lookup says what it looked for.
    rt.ok(&["rm", "busybox"]);
    let (code, err) = rt.fails(&["inspect", "--type", "container", "busybox"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such container: busybox"), "{err}");
    // Nothing by that name: Docker's `[]` on stdout and exit code 1.
    let out = rt.run(&["inspect", "nothing-here"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such object: nothing-here"), "{err}");
}

#[test]
fn images_reference_filter_matches_globs() {
    let rt = Rt::new();
    for name in ["qa/one:1", "qa/two:2", "other:1", "qa/deep/three:3"] {
        rt.ok(&["tag", "busybox", name]);
    }
    let listed = |filters: &[&str]| {
        let mut args = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        let mut v: Vec<String> = rt.ok(&args).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    // `*` stops at `/`, as Go's path.Match.
    assert_eq!(listed(&["reference=qa/*"]), ["qa/one:1", "qa/two:2"]);
    assert_eq!(
        listed(&["reference=*:1", "reference=qa/*/*"]),
        ["other:1", "qa/deep/three:3"]
    );
    assert_eq!(listed(&["reference=busybox"]), ["busybox:latest"]);
    assert_eq!(listed(&["reference=qa/t?o:2"]), ["qa/two:2"]);
    assert!(listed(&["reference=nothing*"]).is_empty());
}

#[test]
fn command_line_mistakes_exit_as_docker() {
    let rt = Rt::new();
    let (code, err) = rt.fails(&["run", "--no-such-flag", "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");
    let (code, _) = rt.fails(&["stop", "-t", "soon", "x"]);
    assert_eq!(code, 125);
    let (code, err) = rt.fails(&["no-such-command"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(rt.run(&["run", "--help"]).status.code(), Some(0));
}

#[test]
fn rmi_force_never_deletes_the_image_of_a_running_container() {
    let rt = Rt::new();
    let id = rt.detached(&["busybox", "sleep", "600"]);
    let image = rt.ok(&["inspect", "--type", "image", "-f", "{{.Id}}", "busybox"]);
    let image = image.trim();
    let short = &image["sha256:".len().."sha256:".len() + 12];
    // By id: a conflict even with -f.
    let (code, err) = rt.fails(&["rmi", "-f", short]);
    assert_eq!(code, 125);
    assert!(err.contains("running container"), "{err}");
    // By name: the name goes, the image stays (dangling) under the container.
    assert_eq!(
        rt.ok(&["rmi", "-f", "busybox"]),
        "Untagged: busybox:latest\n"
    );
    assert_eq!(
        rt.ok(&["images", "-q", "-f", "dangling=true"]),
        format!("{short}\n")
    );
    assert_eq!(rt.ok(&["exec", &id, "echo", "alive"]), "alive\n");
    // Once it stopped, -f deletes it as before.
    rt.ok(&["stop", "-t", "0", &id]);
    let out = rt.ok(&["rmi", "-f", short]);
    assert!(out.contains(&format!("Deleted: {image}")), "{out}");
    assert_eq!(rt.ok(&["images", "-q"]), "");
}

#[test]
fn ps_stats_and_volume_inspect_formats_as_docker() {
    let rt = Rt::new();
    let id = rt.detached(&["--name", "fmt", "busybox", "sleep", "600"]);
    // `--format json`: one JSON object per container, not the word "json".
    let line = rt.ok(&["ps", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("ps --format json");
    assert_eq!(v["Names"], "fmt");
    assert_eq!(v["ID"], id[..12]);
    let table = rt.ok(&["ps", "--format", "table"]);
    assert!(table.starts_with("CONTAINER ID"), "{table}");
    // `stats --format 'table …'`: a header of Docker's column names, then the rows.
    let stats = rt.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "table {{.Name}}\\t{{.PIDs}}",
        "fmt",
    ]);
    assert_eq!(stats, "NAME\tPIDS\nfmt\t1\n");
    let json = rt.ok(&["stats", "--no-stream", "--format", "json", "fmt"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("stats --format json");
    assert_eq!(v["Name"], "fmt");
    // `volume inspect -f`, and a missing volume reported without hiding the others.
    rt.ok(&["volume", "create", "fmt-data"]);
    let out = rt.run(&[
        "volume",
        "inspect",
        "-f",
        "{{.Name}}",
        "fmt-data",
        "missing",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fmt-data\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such volume: missing"), "{err}");
}

#[test]
fn system_prune_removes_stopped_containers_as_docker() {
    let rt = Rt::new();
    let stopped = rt.ok(&["create", "--name", "done", "busybox", "true"]);
    let running = rt.detached(&["--name", "busy", "busybox", "sleep", "600"]);
    let out = rt.ok(&["system", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains(stopped.trim()), "{out}");
    assert!(!out.contains(&running), "{out}");
    assert_eq!(rt.ok(&["ps", "-a", "--format", "{{.Names}}"]), "busy\n");
    // The running container's image is in use: it stays even with -a.
    rt.ok(&["system", "prune", "-a", "-f"]);
    assert!(rt.ok(&["images"]).contains("busybox"));
}

#[test]
fn stop_sends_the_signal_given_with_s() {
    let rt = Rt::new();
    let id = rt.detached(&[
        "busybox",
        "sh",
        "-c",
        "trap 'echo got INT; exit 3' INT; echo ready; while :; do sleep 0.1; done",
    ]);
    rt.eventually("the trap to be set", || {
        rt.ok(&["logs", &id]).contains("ready")
    });
    // `--timeout` is Docker's current spelling of `-t`.
    rt.ok(&["stop", "-s", "SIGINT", "--timeout", "20", &id]);
    assert!(rt.ok(&["logs", &id]).contains("got INT"));
    assert_eq!(rt.ok(&["inspect", "-f", "{{.State.ExitCode}}", &id]), "3\n");
    let (code, err) = rt.fails(&["stop", "-s", "NOPE", &id]);
    assert_eq!(code, 125);
    assert!(err.contains("invalid signal \"NOPE\""), "{err}");
}

#[test]
fn run_rejects_nameless_env_and_relative_workdir() {
    let rt = Rt::new();
    // Both the foreground path and the one through a monitor (-d) check.
    for detach in [&[][..], &["-d"][..]] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(detach);
        let (code, err) = rt.fails(&[&args[..], &["-w", "rel", "busybox", "pwd"]].concat());
        assert_eq!(code, 125, "{err}");
        assert!(
            err.contains("\"rel\" is invalid, it needs to be an absolute path"),
            "{err}"
        );
        let (code, err) = rt.fails(&[&args[..], &["-e", "=x", "busybox", "true"]].concat());
        assert_eq!(code, 125, "{err}");
        assert!(err.contains("invalid environment variable: =x"), "{err}");
    }
    assert_eq!(rt.ok(&["ps", "-aq"]), "");
    assert_eq!(
        rt.ok(&["run", "--rm", "-w", "/tmp", "busybox", "pwd"]),
        "/tmp\n"
    );
}

/// The entry names and contents (files only) of a tar stream.
fn tar_entries(bytes: &[u8]) -> Vec<(String, String)> {
    let mut a = tar::Archive::new(bytes);
    let mut v = Vec::new();
    for e in a.entries().expect("a tar stream") {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        v.push((name, body));
    }
    v.sort();
    v
}

#[test]
fn cp_dash_streams_tar_both_ways() {
    use std::io::Write;
    use std::process::Stdio;
    let rt = Rt::new();
    let id = rt.detached(&["busybox", "sleep", "600"]);
    // Into the container from stdin: a tar stream unpacked in the destination directory.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "in/note.txt", &b"hello\n"[..])
        .unwrap();
    let stream = b.into_inner().unwrap();
    let mut child =
        rt.k.cmd(&["cp", "-", &format!("{id}:/tmp")])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(rt.ok(&["exec", &id, "cat", "/tmp/in/note.txt"]), "hello\n");
    // Out to stdout: a tar stream named by the last path component, no file called `-`.
    let out =
        rt.k.cmd(&["cp", &format!("{id}:/tmp/in"), "-"])
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        tar_entries(&out.stdout),
        [
            ("in/".into(), String::new()),
            ("in/note.txt".into(), "hello\n".into())
        ]
    );
    // A tar stream goes into a directory only.
    let (code, err) = rt.fails(&["cp", "-", &format!("{id}:/tmp/in/note.txt")]);
    assert_eq!(code, 125);
    assert!(err.contains("must be a directory"), "{err}");
}

#[test]
fn events_carry_docker_status_id_and_from() {
    let rt = Rt::new();
    rt.ok(&["run", "--name", "evt", "busybox", "true"]);
    let lines = rt.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "container=evt",
        "--format",
        "{{.Status}} {{.From}}",
    ]);
    assert!(lines.lines().any(|l| l == "start busybox"), "{lines}");
    let json = rt.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "event=die",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap_or("")).unwrap();
    assert_eq!(v["status"], "die");
    assert_eq!(v["id"], v["Actor"]["ID"]);
    assert_eq!(v["from"], "busybox");
}

#[test]
fn top_passes_ps_options_and_keeps_only_the_container() {
    let rt = Rt::new();
    let id = rt.detached(&["busybox", "sleep", "600"]);
    let out = rt.ok(&["top", &id, "-o", "pid,args"]);
    let mut lines = out.lines();
    assert_eq!(
        lines
            .next()
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>),
        Some(vec!["PID", "COMMAND"])
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].ends_with("sleep 600"), "{out}");
    let (code, err) = rt.fails(&["top", &id, "-o", "comm"]);
    assert_eq!(code, 125);
    assert!(err.contains("no PID column"), "{err}");
}

#[test]
fn forced_removal_of_what_is_gone_succeeds_as_docker() {
    let rt = Rt::new();
    let out = rt.run(&["rm", "-f", "never-was"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(rt.run(&["rmi", "-f", "never:was"]).status.code(), Some(0));
    // Without -f it is still an error, and -f still fails on other problems.
    assert_eq!(rt.fails(&["rm", "never-was"]).0, 1);
    assert_eq!(rt.fails(&["rmi", "never:was"]).0, 125);
    let id = rt.ok(&["create", "busybox", "true"]);
    let out = rt.ok(&["rm", "-f", id.trim(), "never-was"]);
    assert_eq!(out, id);
}
