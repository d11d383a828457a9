//! `kiln build --secret` / `--ssh` with RUN --mount=type=secret|ssh (testdata/build/secrets):
//! the step gets the secret (file with mode/owner, or env), and the value appears nowhere
//! else — not in a layer, the config or history, a cache record or key, a log file or a
//! progress line. An SSH agent is forwarded: the host's real ssh-add, run in the step,
//! lists the agent's key through kiln's socket.

mod build_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use build_support::{events, ran, testdata, Kiln};

const FILE_SECRET: &str = "kiln-file-secret-5b9e1c0d";
const ENV_SECRET: &str = "kiln-env-secret-77aa0d3f";

fn sha256_hex(data: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// Every file under `dir` (gzip members decompressed) that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
                continue;
            }
            if !meta.is_file() {
                continue;
            }
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            let mut text = bytes.clone();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                let out = Command::new("gzip")
                    .args(["-dc", p.to_str().unwrap()])
                    .output()
                    .unwrap();
                text = out.stdout;
            }
            let found = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
            if found(&text) || found(&bytes) {
                hits.push(p);
            }
        }
    }
    hits
}

#[test]
fn secrets_reach_the_step_and_appear_nowhere_else() {
    let k = Kiln::with_busybox();
    let tok = k.path("tok.txt");
    std::fs::write(&tok, FILE_SECRET).unwrap();
    let ctx = testdata("build/secrets");
    let ctx = ctx.to_str().unwrap();
    let build = |progress: &str, file_value: &Path| {
        let arg = format!("id=tok,src={}", file_value.display());
        k.cmd(&[
            "build",
            "--progress",
            progress,
            "-t",
            "sec",
            "--secret",
            &arg,
            "--secret",
            "id=envtok,env=KILN_TEST_API_TOKEN",
            ctx,
        ])
        .env("KILN_TEST_API_TOKEN", ENV_SECRET)
        .stdin(Stdio::null())
        .output()
        .unwrap()
    };
    let out = build("plain", &tok);
    let plain = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{plain}");
    // The step read both secrets; the echoed one is masked in the output.
    assert!(plain.contains("the token is ****"), "{plain}");
    assert!(plain.contains("optional-secret-skipped"), "{plain}");
    assert_eq!(
        k.sh("sec", "cat /secret-meta /secret-sha /env-sha /leftover"),
        format!(
            "440 1000 1001\n{}\n{}\n0\n",
            sha256_hex(FILE_SECRET),
            sha256_hex(ENV_SECRET)
        )
    );
    let history = k.ok(&["history", "--no-trunc", "sec"]);
    let inspect = k.ok(&["inspect", "sec"]);
    for secret in [FILE_SECRET, ENV_SECRET] {
        assert!(!plain.contains(secret), "progress shows a secret:\n{plain}");
        assert!(!history.contains(secret), "{history}");
        assert!(!inspect.contains(secret), "{inspect}");
        // Layers (decompressed), config and history blobs, the metadata database with
        // its cache records, recorded keys, step logs: nothing holds the value.
        let hits = files_containing(&k.root, secret);
        assert!(hits.is_empty(), "secret found in {hits:?}");
    }
    // The search does reach into layers and step logs: what the steps wrote is found.
    assert!(!files_containing(&k.root, &sha256_hex(FILE_SECRET)).is_empty());
    assert!(!files_containing(&k.root.join("build-logs"), "optional-secret-skipped").is_empty());
    // A secret is not part of any cache key: another value still hits the cache.
    let other = k.path("other.txt");
    std::fs::write(&other, "another-value").unwrap();
    let out = build("rawjson", &other);
    assert!(out.status.success());
    let steps = ran(&events(&out.stderr));
    assert!(
        steps.iter().all(|s| !s.starts_with("RUN")),
        "steps re-ran with another secret value: {steps:?}"
    );
}

#[test]
fn a_missing_required_secret_fails_with_a_hint() {
    let k = Kiln::with_busybox();
    let f = testdata("build/secrets/Dockerfile.required");
    let out = k.run(&[
        "build",
        "--progress",
        "plain",
        "-f",
        f.to_str().unwrap(),
        testdata("build/secrets").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secret \"needed\" is required") && err.contains("--secret id=needed"),
        "{err}"
    );
}

/// An ssh-agent of our own, killed (by its pid) when dropped.
struct Agent {
    pid: i32,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let out = Command::new("ssh-agent")
            .arg("-a")
            .arg(&socket)
            .arg("-s")
            .output()
            .expect("ssh-agent (openssh-client) is installed");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let pid = text
            .split("SSH_AGENT_PID=")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .and_then(|p| p.parse().ok())
            .expect("ssh-agent printed its pid");
        Agent { pid, socket }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the agent this test started.
        unsafe {
            libc::kill(self.pid, libc::SIGTERM);
        }
    }
}

/// The host's ssh-add with the dynamic loader and libraries it needs, under `dest`:
/// `ssh-add`, `ld.so`, `lib/…`.
fn host_ssh_add(dest: &Path) {
    let bin = "/usr/bin/ssh-add";
    std::fs::create_dir_all(dest.join("lib")).unwrap();
    std::fs::copy(bin, dest.join("ssh-add")).unwrap();
    let ldd = Command::new("ldd").arg(bin).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next().unwrap_or(""),
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if !path.starts_with('/') {
            continue;
        }
        let p = Path::new(path);
        if line.contains("ld-linux") {
            std::fs::copy(p, dest.join("ld.so")).unwrap();
        } else {
            std::fs::copy(p, dest.join("lib").join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn ssh_agent_is_forwarded_into_the_step() {
    let k = Kiln::with_busybox();
    let agent = Agent::start(k.tmp.path());
    let key = k.path("id_ed25519");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "kiln-test-key", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &agent.socket)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let ctx = k.path("sshctx");
    host_ssh_add(&ctx.join("host"));
    std::fs::copy(
        testdata("build/secrets/Dockerfile.ssh"),
        ctx.join("Dockerfile"),
    )
    .unwrap();
    let mut out = k
        .cmd(&[
            "build",
            "--progress",
            "plain",
            "-t",
            "ssh",
            "--ssh",
            "default",
            ctx.to_str().unwrap(),
        ])
        .env("SSH_AUTH_SOCK", &agent.socket)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    out.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(out.wait().unwrap().success(), "{err}");
    assert_eq!(k.sh("ssh", "cat /sock-meta"), "socket 660 1001\n");
    let keys = k.sh("ssh", "cat /agent-keys");
    assert!(
        keys.contains("kiln-test-key") && keys.contains("ED25519"),
        "{keys}"
    );
    // Without --ssh, a required agent is a clear error.
    let out = k.run(&[
        "build",
        "--no-cache",
        "--progress",
        "plain",
        ctx.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("--ssh default"), "{text}");
}
