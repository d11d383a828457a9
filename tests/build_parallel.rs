//! Two independent stages run at the same time: each records its start and end (seconds
//! since boot, one clock for all containers) and the intervals must overlap. No wall-clock
//! bound is asserted.

mod build_support;

use build_support::{testdata, Kiln};

#[test]
fn independent_stages_overlap() {
    let k = Kiln::with_busybox();
    let dir = testdata("build/parallel");
    k.build(&["--jobs", "2", "-t", "par", dir.to_str().unwrap()]);
    let out = k.sh("par", "cat /a.start /a.end /b.start /b.end");
    let t: Vec<f64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    let [a_start, a_end, b_start, b_end] = t[..] else {
        panic!("expected four times, got {out:?}");
    };
    assert!(a_start < a_end && b_start < b_end, "{t:?}");
    assert!(
        a_start < b_end && b_start < a_end,
        "stages did not overlap: a {a_start}..{a_end}, b {b_start}..{b_end}"
    );
}

#[test]
fn one_job_runs_stages_one_after_the_other() {
    // The same build with --jobs 1 must not overlap: proves the test above measures
    // the scheduler, not an artefact of the clock.
    let k = Kiln::with_busybox();
    let dir = testdata("build/parallel");
    k.build(&["--jobs", "1", "-t", "seq", dir.to_str().unwrap()]);
    let out = k.sh("seq", "cat /a.start /a.end /b.start /b.end");
    let t: Vec<f64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    let [a_start, a_end, b_start, b_end] = t[..] else {
        panic!("expected four times, got {out:?}");
    };
    assert!(a_end <= b_start || b_end <= a_start, "{t:?}");
}
