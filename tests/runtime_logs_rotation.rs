//! `--log-driver` and `--log-opt max-size/max-file`: the monitor rotates the json-file log
//! while writing, `kiln logs` (also `-f`) reads the rotated files in order, `inspect` shows
//! `HostConfig.LogConfig`, and `none` keeps no log (as Docker, `logs` says so).

mod runtime_support;

use runtime_support::Rt;

/// The container's log files (`container-json.log`, `.1`, …) and their sizes.
fn log_files(rt: &Rt, id: &str) -> Vec<(String, u64)> {
    let dir = rt.root().join("containers").join(id);
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("container-json.log")
        })
        .map(|e| {
            let size = e.metadata().unwrap().len();
            (e.file_name().to_string_lossy().into_owned(), size)
        })
        .collect();
    files.sort();
    files
}

/// The numbers of `line N` outputs, requiring them to be consecutive and end at `last`.
fn consecutive_ending_at(out: &str, last: u32) -> Vec<u32> {
    let nums: Vec<u32> = out
        .lines()
        .map(|l| {
            l.strip_prefix("line ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected log line {l:?} in:\n{out}"))
        })
        .collect();
    assert_eq!(nums.last(), Some(&last), "{out}");
    for w in nums.windows(2) {
        assert_eq!(w[1], w[0] + 1, "lines out of order or missing:\n{out}");
    }
    nums
}

/// A shell loop printing `line 0` … `line N-1`, pausing every `every` lines.
fn printer(n: u32, every: u32, pause: &str) -> String {
    format!(
        "sleep 1; i=0; while [ $i -lt {n} ]; do echo \"line $i\"; i=$((i+1)); \
         if [ $((i % {every})) -eq 0 ]; then sleep {pause}; fi; done"
    )
}

#[test]
fn json_file_rotates_keeping_max_file_files_and_logs_reads_them_in_order() {
    let rt = Rt::new();
    let script = printer(400, 1000, "0");
    let id = rt
        .ok(&[
            "run",
            "-d",
            "--log-opt",
            "max-size=2k",
            "--log-opt",
            "max-file=3",
            "busybox",
            "sh",
            "-c",
            &script,
        ])
        .trim()
        .to_string();
    assert_eq!(rt.ok(&["wait", &id]).trim(), "0");

    let files = log_files(&rt, &id);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "container-json.log",
            "container-json.log.1",
            "container-json.log.2"
        ],
        "400 lines of ~80 bytes overflow three 2k files"
    );
    for (n, size) in &files {
        assert!(*size <= 2048, "{n} is {size} bytes, over max-size");
    }
    let all = consecutive_ending_at(&rt.ok(&["logs", &id]), 399);
    assert!(all[0] > 0, "the oldest lines must have been rotated away");
    let tail = consecutive_ending_at(&rt.ok(&["logs", "--tail", "5", &id]), 399);
    assert_eq!(tail, [395, 396, 397, 398, 399]);

    let cfg = rt.ok(&[
        "container",
        "inspect",
        "--format",
        "{{json .HostConfig.LogConfig}}",
        &id,
    ]);
    let cfg: serde_json::Value = serde_json::from_str(cfg.trim()).unwrap();
    assert_eq!(
        cfg,
        serde_json::json!({"Type": "json-file", "Config": {"max-size": "2k", "max-file": "3"}})
    );
}

#[test]
fn logs_follow_reads_across_rotations() {
    let rt = Rt::new();
    // 10 lines (~0.8k) then a pause: a rotation every ~25 lines while `logs -f` follows
    // (it polls every 50 ms; only a stall of over two files' worth would lose lines).
    let script = printer(200, 10, "0.1");
    let id = rt
        .ok(&[
            "run",
            "-d",
            "--log-opt",
            "max-size=2k,max-file=3",
            "busybox",
            "sh",
            "-c",
            &script,
        ])
        .trim()
        .to_string();
    let followed = rt.ok(&["logs", "-f", &id]);
    let nums = consecutive_ending_at(&followed, 199);
    assert_eq!(nums[0], 0, "logs -f started before the first line");
    assert_eq!(log_files(&rt, &id).len(), 3);
}

#[test]
fn log_driver_none_keeps_no_log_and_logs_says_so() {
    let rt = Rt::new();
    // Attached: the output still reaches the terminal (through the monitor, not a log).
    let out = rt.ok(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2",
    ]);
    assert_eq!(out, "to-out\n");
    let (code, err) = rt.fails(&["logs", "quiet"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("configured logging driver does not support reading"),
        "{err}"
    );
    let id = rt.field_by_name("quiet");
    assert!(id.starts_with("Exited (0)"), "{id}");
    let id = rt.ok(&["container", "inspect", "--format", "{{.Id}}", "quiet"]);
    assert!(log_files(&rt, id.trim()).is_empty());
    assert_eq!(
        rt.ok(&[
            "container",
            "inspect",
            "--format",
            "{{.HostConfig.LogConfig.Type}}",
            "quiet"
        ])
        .trim(),
        "none"
    );

    let (code, err) = rt.fails(&["run", "--log-driver", "syslog", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("unknown log driver"), "{err}");
    let (code, err) = rt.fails(&["run", "--log-opt", "max-file=0", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("max-file"), "{err}");
}
