//! `ferrocore validate -f FILE|DIR|-`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ferrocore validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A manifest file, a directory (read recursively) or `-` for standard input.
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
}

/// Arguments of `ferrocore bench validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Directory of manifests.
    #[arg(short = 'f', long = "filename", default_value = "examples")]
    dir: PathBuf,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("validate is being built; {} file(s) given", args.files.len())
}

pub(crate) fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("bench validate is being built ({})", args.dir.display())
}
