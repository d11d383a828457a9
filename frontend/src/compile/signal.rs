//! STOPSIGNAL values: what moby's `signal.ParseSignal` accepts on Linux.
//!
//! API (crate-internal): [`valid_signal`].

/// Whether moby's `signal.ParseSignal` accepts `s`: a number, or a Linux signal name with
/// or without `SIG`.
pub fn valid_signal(s: &str) -> bool {
    const NAMES: [&str; 34] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    if let Ok(n) = s.parse::<u32>() {
        return n != 0 && n < 65;
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    if NAMES.contains(&name) {
        return true;
    }
    // Real-time signals: RTMIN, RTMIN+n, RTMAX-n.
    let rt = |prefix: &str, sep: char| {
        name.strip_prefix(prefix).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix(sep)
                    .is_some_and(|n| n.parse::<u8>().is_ok_and(|n| n <= 15))
        })
    };
    rt("RTMIN", '+') || rt("RTMAX", '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        for s in ["SIGTERM", "TERM", "9", "SIGRTMIN+3", "SIGRTMAX"] {
            assert!(valid_signal(s), "{s}");
        }
        for s in ["", "SIGFOO", "0", "99", "sigterm"] {
            assert!(!valid_signal(s), "{s}");
        }
    }
}
