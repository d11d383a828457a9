//! Start-to-exit latency of `/bin/true` in a busybox container: median of 100 runs,
//! natively and through runc, in the same process. Run: `cargo bench -p kiln-executor`.
//!
//! Back-to-back starts flatter kernel costs that a real sequence of RUN steps pays every
//! time (a layer commit sits between two steps): moving a process into a v1 cgroup through
//! `cgroup.procs` waits for an RCU grace period only when no other move happened within the
//! last grace period. So the native runtime is also measured with the starts spaced out.

use kiln_executor::*;
use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: usize = 100;
/// Idle time between spaced-out starts: longer than an RCU grace period here (~15 ms).
const GAP: Duration = Duration::from_millis(50);

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "median {:7.2} ms   min {:7.2} ms   p90 {:7.2} ms   max {:7.2} ms",
        ms(v[v.len() / 2]),
        ms(v[0]),
        ms(v[v.len() * 9 / 10]),
        ms(v[v.len() - 1])
    )
}

async fn measure(
    name: &str,
    exec: &Executor,
    lower: &Path,
    scratch: &Path,
    gap: Option<Duration>,
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(RUNS);
    for i in 0..RUNS + 5 {
        if let Some(gap) = gap {
            tokio::time::sleep(gap).await;
        }
        let dir = scratch.join(format!("{name}-{i}"));
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        std::fs::create_dir_all(&upper).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        let spec = ContainerSpec::new(
            format!("bench-{name}-{i}-{}", std::process::id()),
            Rootfs::Overlay {
                lower: vec![lower.to_path_buf()],
                upper,
                work,
            },
            vec!["/bin/true".into()],
        );
        let start = Instant::now();
        let outcome = exec.run(&spec, RunOptions::default()).await.unwrap();
        let took = start.elapsed();
        assert_eq!(outcome.exit_code(), 0);
        // The first few warm caches up.
        if i >= 5 {
            times.push(took);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    times
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("kiln-bench")
        .tempdir()
        .unwrap();
    let rootfs = scratch.path().join("busybox");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/busybox-rootfs.sh");
    let st = std::process::Command::new("bash")
        .arg(&script)
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(st.success());
    let state = scratch.path().join("state");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let native = Executor::new(ExecutorConfig::native(
            env!("CARGO_BIN_EXE_kiln-executor-helper"),
            &state,
        ));
        let runc = Executor::new(ExecutorConfig::runc("/usr/sbin/runc", &state));
        let n = measure("native", &native, &rootfs, scratch.path(), None).await;
        let spaced = measure("spaced", &native, &rootfs, scratch.path(), Some(GAP)).await;
        let r = measure("runc", &runc, &rootfs, scratch.path(), None).await;
        println!("/bin/true start-to-exit latency, {RUNS} runs each:");
        println!("  native  {}", stats(n));
        println!("  native, {} ms apart  {}", GAP.as_millis(), stats(spaced));
        println!("  runc    {}", stats(r));
    });
}
