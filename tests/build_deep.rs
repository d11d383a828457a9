//! A build deeper than one overlay mount can stack: every RUN still sees every earlier
//! layer, and the flattened bottoms of the chain are shared between steps instead of made
//! anew for each one.

mod build_support;

use build_support::Kiln;

#[test]
fn deep_chains_build_correctly_and_share_flattened_bases() {
    const STEPS: usize = 40;
    let k = Kiln::with_busybox();
    let dir = k.path("deep");
    std::fs::create_dir_all(&dir).unwrap();
    let mut df = String::from("FROM busybox\n");
    for i in 1..=STEPS {
        // Each step also reads the previous step's file: a missing lower layer fails it.
        let prev = if i == 1 {
            "true".to_string()
        } else {
            format!("test -f /s{}", i - 1)
        };
        df.push_str(&format!("RUN {prev} && echo {i} > /s{i}\n"));
    }
    std::fs::write(dir.join("Dockerfile"), df).unwrap();
    k.build(&["-t", "deep", dir.to_str().unwrap()]);
    assert_eq!(k.sh("deep", "cat /s1 /s20 /s40"), "1\n20\n40\n");
    let flats = std::fs::read_dir(k.root.join("snapshots"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("flat-"))
        .count();
    assert!(
        flats <= STEPS / 8 + 2,
        "{flats} flattened snapshots for {STEPS} steps: not shared"
    );
}
