//! What `pull`, `push` and `login` share: registry connection flags, the client built from
//! them, the async runtime they run on, and the per-blob progress display (bars on a
//! terminal, one line per step otherwise).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_registry::transport::DEFAULT_CERTS_DIR;
use kiln_registry::{ClientConfig, Digest, Phase, Progress, RegistryClient, TransportConfig};

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Registry (host or host:port) to reach over plain http, like Docker's --insecure-registry
    #[arg(
        long = "insecure-registry",
        value_name = "HOST",
        env = "KILN_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
    /// Directory of per-registry CA and client certificates (<dir>/<host[:port]>/*.crt)
    #[arg(long, value_name = "DIR", env = "KILN_CERTS_DIR", default_value = DEFAULT_CERTS_DIR)]
    pub certs_dir: PathBuf,
}

impl RegistryArgs {
    pub fn client_config(&self) -> ClientConfig {
        let transport = TransportConfig {
            insecure_registries: self.insecure_registries.clone(),
            certs_dir: self.certs_dir.clone(),
            ..TransportConfig::default()
        };
        ClientConfig {
            transport,
            ..ClientConfig::default()
        }
    }

    pub fn client(&self, view: &Arc<ProgressView>) -> RegistryClient {
        let view = view.clone();
        RegistryClient::with_progress(self.client_config(), move |p| view.show(p))
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Shows transfer progress on stderr, keeping stdout for results.
pub enum ProgressView {
    Quiet,
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<Digest, ProgressBar>>,
    },
    Lines {
        last: Mutex<HashMap<Digest, Phase>>,
        pushing: bool,
    },
}

impl ProgressView {
    pub fn new(quiet: bool, pushing: bool) -> Arc<Self> {
        let view = if quiet {
            ProgressView::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressView::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::default(),
            }
        } else {
            ProgressView::Lines {
                last: Mutex::default(),
                pushing,
            }
        };
        Arc::new(view)
    }

    fn show(&self, p: &Progress) {
        match self {
            ProgressView::Quiet => {}
            ProgressView::Bars { multi, bars } => {
                let mut bars = bars.lock().unwrap_or_else(|e| e.into_inner());
                let bar = bars.entry(p.digest.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(p.total));
                    let style = ProgressStyle::with_template(
                        "{prefix} {msg:<12} [{bar:30}] {bytes}/{total_bytes}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                    bar.set_style(style);
                    bar.set_prefix(p.digest.short().to_string());
                    bar
                });
                bar.set_position(p.done);
                match p.phase {
                    Phase::Downloading => bar.set_message("Downloading"),
                    Phase::Uploading => bar.set_message("Pushing"),
                    Phase::Skipped => bar.finish_with_message("Already exists"),
                    Phase::Mounted => bar.finish_with_message("Mounted"),
                    Phase::Done => bar.finish_with_message("Done"),
                }
            }
            ProgressView::Lines { last, pushing } => {
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if last.get(&p.digest) == Some(&p.phase) {
                    return;
                }
                last.insert(p.digest.clone(), p.phase.clone());
                let what = match (&p.phase, pushing) {
                    (Phase::Downloading, _) => "Downloading",
                    (Phase::Uploading, _) => "Pushing",
                    (Phase::Skipped, true) => "Layer already exists",
                    (Phase::Skipped, false) => "Already exists",
                    (Phase::Mounted, _) => "Mounted from another repository",
                    (Phase::Done, true) => "Pushed",
                    (Phase::Done, false) => "Pull complete",
                };
                eprintln!("{}: {what}", p.digest.short());
            }
        }
    }

    /// Leave the bars drawn as they ended.
    pub fn finish(&self) {
        if let ProgressView::Bars { bars, .. } = self {
            for bar in bars.lock().unwrap_or_else(|e| e.into_inner()).values() {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
        }
    }
}
