//! A client whose files the daemon cannot see: a shell script run in its own mount
//! namespace, in a directory with a fresh tmpfs mounted on it. The daemon (in the host's
//! namespace) sees that directory empty, so whatever the build reads from it or writes
//! into it must have travelled over the API. The tmpfs goes away with the namespace when
//! the script ends, also when a test fails.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct PrivateClient {
    /// The directory the tmpfs is mounted on (empty for everyone else).
    pub dir: PathBuf,
    /// `kc`: the kiln binary with the daemon's address and TLS flags.
    wrapper: PathBuf,
}

impl PrivateClient {
    /// A client of the daemon at `host` with `global` flags (root, TLS, ...); its files
    /// live in `base/client` (a tmpfs private to each [`PrivateClient::run`]).
    pub fn new(base: &Path, host: &str, global: &[&str]) -> PrivateClient {
        let dir = base.join("client");
        std::fs::create_dir_all(&dir).unwrap();
        let wrapper = base.join("kc");
        let quoted: Vec<String> = global.iter().map(|a| format!("'{a}'")).collect();
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec '{}' --host '{host}' {} \"$@\"\n",
                env!("CARGO_BIN_EXE_kiln"),
                quoted.join(" ")
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        PrivateClient { dir, wrapper }
    }

    /// Run `script` (sh -eu) in the private directory; `kc` runs kiln against the daemon.
    /// What the script needs from the test arrives in `env`.
    pub fn run(&self, script: &str, env: &[(&str, &str)]) -> Output {
        let full = format!(
            "mount -t tmpfs kiln-test-client '{dir}'\ncd '{dir}'\nkc() {{ '{kc}' \"$@\"; }}\n{script}",
            dir = self.dir.display(),
            kc = self.wrapper.display()
        );
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-euc", &full])
            .env_remove("KILN_ROOT")
            .env_remove("KILN_HOST")
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }
}
