//! `kiln version`: what this binary is and what it runs on.

use clap::Args;

use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print the version information as JSON
    #[arg(long, value_parser = ["json"])]
    pub format: Option<String>,
}

pub fn run(global: &GlobalArgs, args: VersionArgs) -> anyhow::Result<i32> {
    let info = serde_json::json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Os": std::env::consts::OS,
        "Arch": go_arch(std::env::consts::ARCH),
        "Root": global.root,
    });
    if args.format.is_some() {
        println!("{info}");
    } else {
        println!("kiln version {}", env!("CARGO_PKG_VERSION"));
        println!(
            " OS/Arch:  {}/{}",
            std::env::consts::OS,
            go_arch(std::env::consts::ARCH)
        );
        println!(" Root:     {}", global.root.display());
    }
    Ok(0)
}

/// Container tooling names architectures as Go does (`amd64`, not `x86_64`).
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}
