//! `kiln build` flags on the daemon's typed build path, driven by a client whose files the
//! daemon cannot see (its own mount namespace, a private tmpfs): secrets read on the
//! client, outputs written on the client, a context or Dockerfile from the client's stdin,
//! SOURCE_DATE_EPOCH and --squash applied, step logs kept, `--explain` reported.

mod build_support;
mod daemon_support;

use std::path::Path;
use std::time::{Duration, Instant};

use build_support::Kiln;
use daemon_support::certs::{ca, free_port, leaf, tls_args};
use daemon_support::private::PrivateClient;
use daemon_support::{kiln, Daemon};

const SECRET: &str = "correct-horse-battery-staple";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether any file under `dir` contains `needle`.
fn found_under(dir: &Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let data = std::fs::read(e.path()).unwrap_or_default();
                if data.windows(needle.len()).any(|w| w == needle) {
                    return Some(e.path());
                }
            }
        }
    }
    None
}

#[test]
fn secrets_outputs_and_logs_live_on_the_client() {
    let k = Kiln::with_busybox();
    let d = Daemon::start(&k.root, k.tmp.path(), &[]);
    let root = k.root.display().to_string();
    let client = PrivateClient::new(k.tmp.path(), &d.host, &["--root", &root]);
    let out = client.run(
        r#"
mkdir ctx
printf 'FROM busybox\nCOPY a.txt /a.txt\nRUN --mount=type=secret,id=tok tr a-z A-Z < /run/secrets/tok > /tok.upper && echo step-output-line\n' > ctx/Dockerfile
echo hello > ctx/a.txt
printf '%s' "$SECRET" > tok
kc build --progress plain --secret id=tok,src=tok -o type=local,dest=out -o type=tar,dest=fs.tar --logs steplogs --iidfile iid ctx 2> build.err || { cat build.err >&2; exit 1; }
cat build.err >&2
echo "upper=$(cat out/tok.upper)"
echo "a=$(cat out/a.txt)"
tar -tf fs.tar | grep -q 'tok.upper$' && echo tar-has-file
grep -l step-output-line steplogs/*.log > /dev/null && echo logs-kept
echo "iid=$(cat iid)"
"#,
        &[("SECRET", SECRET)],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\ndaemon log:\n{}",
        d.log_text()
    );
    let upper = SECRET.to_uppercase();
    assert!(stdout.contains(&format!("upper={upper}\n")), "{stdout}");
    assert!(stdout.contains("a=hello\n"), "{stdout}");
    assert!(stdout.contains("tar-has-file\n"), "{stdout}");
    assert!(stdout.contains("logs-kept\n"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("full step logs: steplogs"),
        "the client's --logs directory is reported:\n{stderr}"
    );
    let iid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("iid="))
        .unwrap()
        .to_string();
    assert!(iid.starts_with("sha256:"), "{stdout}");
    // The image is in the daemon's store; the outputs were written by the client only.
    assert!(d.ok(&["images", "-q", "--no-trunc"]).contains(&iid));
    assert_eq!(
        std::fs::read_dir(&client.dir).unwrap().count(),
        0,
        "the daemon wrote into the client's directory"
    );
    // The secret was used, never kept: not in the daemon's log nor anywhere in the store.
    assert!(!d.log_text().contains(SECRET));
    assert_eq!(found_under(&k.root, SECRET.as_bytes()), None);
    // Nothing is left waiting for a client.
    let waiting = std::fs::read_dir(k.root.join("daemon/outputs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(waiting, 0, "fetched outputs are removed");
}

#[test]
fn stdin_contexts_epoch_squash_and_archives_over_mutual_tls() {
    let k = Kiln::with_busybox();
    let dir = k.tmp.path();
    let authority = ca("kiln flags CA");
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, authority.cert.pem()).unwrap();
    let (scert, skey) = leaf(dir, &authority, "server", true);
    let (ccert, ckey) = leaf(dir, &authority, "client", false);
    let host = format!("tcp://127.0.0.1:{}", free_port());
    let d = Daemon::start_on(
        &k.root,
        dir,
        &host,
        dir.join("unused.sock"),
        &tls_args(&ca_pem, &scert, &skey),
    );
    let tls = tls_args(&ca_pem, &ccert, &ckey);
    let outside = |args: &[&str]| {
        kiln()
            .args(["--host", &host])
            .args(&tls)
            .args(args)
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !outside(&["version"]).status.success() || !outside(&["images"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "no TLS answer:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let client = PrivateClient::new(dir, &host, &tls);
    let out = client.run(
        r#"
mkdir ctx
printf 'FROM busybox\nCOPY a.txt /a.txt\nRUN echo one > /one\nRUN echo two > /two\n' > ctx/Dockerfile
echo hi > ctx/a.txt
tar -C ctx -cf - . | SOURCE_DATE_EPOCH=1700000000 kc build --squash -q -o type=oci,dest=img.tar --iidfile iid - > /dev/null
tar -tf img.tar | grep -q '^index.json$' && echo oci-archive
echo "iid=$(cat iid)"
printf 'FROM busybox\nCOPY a.txt /from-ctx\nRUN echo from-stdin-dockerfile > /f\n' | kc build -q -t stdinfile -f - ctx > /dev/null
"#,
        &[],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\ndaemon log:\n{}",
        d.log_text()
    );
    assert!(stdout.contains("oci-archive\n"), "{stdout}");
    let iid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("iid="))
        .unwrap()
        .to_string();
    let inspect = outside(&["inspect", &iid]);
    assert!(inspect.status.success(), "{}", text(&inspect.stderr));
    let img: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(img[0]["Created"], "2023-11-14T22:13:20Z", "{img}");
    let layers = img[0]["RootFS"]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "busybox's layer and one squashed: {img}");
    let run = outside(&["run", "--rm", "stdinfile", "cat", "/f", "/from-ctx"]);
    assert_eq!(
        text(&run.stdout),
        "from-stdin-dockerfile\nhi\n",
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn step_logs_failures_and_explain_print_as_in_process() {
    let k = Kiln::with_busybox();
    let d = Daemon::start(&k.root, k.tmp.path(), &[]);
    let ctx = k.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt && echo logged-line\n",
    )
    .unwrap();
    std::fs::write(ctx.join("a.txt"), "v1\n").unwrap();
    let c = ctx.to_str().unwrap();
    let out = d.run(&["build", "--progress", "plain", "-t", "logs", c]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", d.log_text());
    let logs = stderr
        .lines()
        .find_map(|l| l.strip_prefix("full step logs: "))
        .unwrap_or_else(|| panic!("no logs line:\n{stderr}"));
    assert!(
        Path::new(logs).starts_with(k.root.join("build-logs")),
        "{logs}"
    );
    assert!(
        found_under(Path::new(logs), b"logged-line").is_some(),
        "{logs}"
    );

    std::fs::write(ctx.join("a.txt"), "v2\n").unwrap();
    let out = d.run(&["build", "--progress", "plain", "--explain", "-t", "logs", c]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("explain: steps that ran and why"),
        "{stderr}"
    );
    let report = &stderr[stderr.find("explain:").unwrap()..];
    assert!(
        report.contains("a.txt") && report.contains("RUN cat"),
        "the changed file and the steps it invalidated are named:\n{stderr}"
    );

    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo failing && exit 3\n",
    )
    .unwrap();
    let out = d.run(&["build", "--progress", "plain", c]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("full step logs: "), "{stderr}");
    // -q prints no logs line, as in-process.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN true\n").unwrap();
    let out = d.run(&["build", "-q", c]);
    assert!(out.status.success());
    assert!(!text(&out.stderr).contains("full step logs"));
}
