//! Debugging builds (testdata/build/debug): full step logs on disk (`--logs DIR`, and the
//! default directory printed at the end), `--on-error=shell` driven through a real
//! pseudo-terminal (`script`), and `--keep-intermediate` images a shell can start in.

mod build_support;

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use build_support::{testdata, Kiln};

/// Longest a test waits for the shell to answer before giving up (a hang guard, not a
/// speed check).
const PATIENCE: Duration = Duration::from_secs(120);

#[test]
fn every_step_log_is_kept_whole_on_disk() {
    let k = Kiln::with_busybox();
    let ctx = testdata("build/debug");
    let f = testdata("build/debug/Dockerfile.logs");
    let logs = k.path("logs");
    k.ok(&[
        "build",
        "-q",
        "--logs",
        logs.to_str().unwrap(),
        "-f",
        f.to_str().unwrap(),
        ctx.to_str().unwrap(),
    ]);
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    let big = std::fs::read_to_string(logs.join(&names[0])).unwrap();
    assert_eq!(big.matches('x').count(), 3_000_000);
    assert!(big.contains("\nlast-line-of-output\n"));
    let second = std::fs::read_to_string(logs.join(&names[1])).unwrap();
    assert!(second.contains("second-step"), "{second}");
    // Without --logs, the directory is under the store and named at the end.
    let out = k.run(&[
        "build",
        "--no-cache",
        "--progress",
        "plain",
        "-f",
        f.to_str().unwrap(),
        ctx.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let dir = err
        .lines()
        .find_map(|l| l.strip_prefix("full step logs: "))
        .expect("the log directory is printed");
    assert!(dir.starts_with(k.root.to_str().unwrap()), "{dir}");
    // --no-cache also re-reads the sources; the two RUN logs are there, whole.
    let runs: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|t| t.contains("last-line-of-output") || t.contains("second-step"))
        .collect();
    assert_eq!(runs.len(), 2);
}

/// Reads `script`'s output on a thread; `wait_for` collects it until a text shows up.
struct Terminal {
    rx: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Terminal {
    fn wait_for(&mut self, text: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        while !self.seen.contains(text) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("never saw {text:?}; the terminal showed:\n{}", self.seen),
            }
        }
    }
}

#[test]
fn on_error_shell_opens_in_the_failed_steps_container() {
    let k = Kiln::with_busybox();
    let ctx = testdata("build/debug");
    let kiln = env!("CARGO_BIN_EXE_kiln");
    let command = format!(
        "{kiln} --root {} build --progress plain --on-error=shell {}",
        k.root.display(),
        ctx.display()
    );
    // `script` gives kiln a pseudo-terminal as stdin/stdout/stderr; -e: its exit code.
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-f", "-c", &command, "/dev/null"])
        .env_remove("KILN_ROOT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut term = Terminal {
        rx,
        seen: String::new(),
    };
    let mut stdin = child.stdin.take().unwrap();
    term.wait_for("a shell in its container follows");
    stdin
        .write_all(b"ls /work /cache; echo \"var=$STEPVAR at $(pwd)\"\n")
        .unwrap();
    term.wait_for("var=step-env at /work");
    stdin.write_all(b"exit\n").unwrap();
    let status = child.wait().unwrap();
    let screen = term.seen.clone();
    // The rootfs as the failed command left it, its cache mount, env and cwd.
    for f in ["failed-step-was-here", "before", "cache-was-here"] {
        assert!(screen.contains(f), "{f} missing:\n{screen}");
    }
    // The build then ends with the command's own exit code.
    assert_eq!(status.code(), Some(7), "{screen}");
}

#[test]
fn keep_intermediate_stores_every_step_as_an_image() {
    let k = Kiln::with_busybox();
    let ctx = testdata("build/debug");
    let out = k.run(&[
        "build",
        "--progress",
        "plain",
        "--keep-intermediate",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let id = err
        .lines()
        .filter(|l| l.starts_with("intermediate image "))
        .find(|l| l.ends_with("RUN echo kept > /work/before"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_else(|| panic!("no intermediate image line:\n{err}"));
    assert_eq!(k.sh(id, "cat /work/before"), "kept\n");
}
