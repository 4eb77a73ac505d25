//! `ferrocore validate -f FILE|DIR|-`: decode, default and validate manifests the way the
//! controllers' admission will, and say per object whether it is valid.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ferrocore_api::Object;
use ferrocore_api::decode::{DecodeError, decode_documents, default_namespace};
use ferrocore_api::field::ErrorList;

use crate::client::manifests::{manifest_files, read_file, read_stdin};

/// Arguments of `ferrocore validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A manifest file, a directory (read recursively: *.yaml, *.yml, *.json) or `-` for
    /// standard input. May be repeated.
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// Namespace for namespaced objects that name none.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    namespace: String,
    /// Print only invalid objects and the summary.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// Arguments of `ferrocore bench validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Directory (or file) of manifests.
    #[arg(short = 'f', long = "filename", default_value = "examples")]
    path: PathBuf,
    /// How long to run each side.
    #[arg(long, default_value = "3")]
    seconds: u64,
}

/// Counts of one run.
#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut tally = Tally::default();
    for input in &args.files {
        if input.as_os_str() == "-" {
            let text = read_stdin()?;
            check_text("<stdin>", &text, args, &mut tally);
            continue;
        }
        let files = manifest_files(input)?;
        if files.is_empty() {
            anyhow::bail!(
                "{}: no *.yaml, *.yml or *.json files found",
                input.display()
            );
        }
        for file in files {
            match read_file(&file) {
                Ok(text) => check_text(&file.display().to_string(), &text, args, &mut tally),
                Err(e) => {
                    println!("{}: {e:#}", file.display());
                    tally.invalid += 1;
                }
            }
        }
    }
    println!(
        "{} object(s): {} valid, {} invalid",
        tally.valid + tally.invalid,
        tally.valid,
        tally.invalid
    );
    Ok(if tally.invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_text(source: &str, text: &str, args: &Args, tally: &mut Tally) {
    let docs = match decode_documents(text) {
        Ok(docs) => docs,
        Err(e) => {
            println!("{source}: {e}");
            tally.invalid += 1;
            return;
        }
    };
    for doc in docs {
        let (obj, decode_errors) = match doc.result {
            Ok(obj) => (obj, ErrorList::new()),
            Err(DecodeError::Fields {
                errors,
                partial: Some(obj),
            }) => (*obj, errors),
            Err(e) => {
                tally.invalid += 1;
                println!("{source}:{}: {}", doc.line, indent_rest(&e.to_string()));
                continue;
            }
        };
        check_object(
            obj,
            decode_errors,
            &format!("{source}:{}", doc.line),
            args,
            tally,
        );
    }
}

/// Defaults and validates one object and prints the verdict with every error.
fn check_object(mut obj: Object, mut errs: ErrorList, at: &str, args: &Args, tally: &mut Tally) {
    default_namespace(&mut obj, &args.namespace);
    obj.set_defaults();
    errs.extend(obj.validate());
    let name = describe(&obj);
    if errs.is_empty() {
        tally.valid += 1;
        if !args.quiet {
            println!("{name}: valid");
        }
        return;
    }
    tally.invalid += 1;
    println!("{name}: invalid ({at})");
    for e in &errs {
        println!("  {e}");
    }
}

fn indent_rest(text: &str) -> String {
    text.replace('\n', "\n  ")
}

fn describe(obj: &Object) -> String {
    let name = if obj.meta().name.is_empty() {
        format!("{}<generated>", obj.meta().generate_name)
    } else {
        obj.meta().name.clone()
    };
    if obj.meta().namespace.is_empty() {
        format!("{} {name}", obj.kind())
    } else {
        format!("{} {}/{name}", obj.kind(), obj.meta().namespace)
    }
}

/// `ferrocore bench validate`: objects per second through decode + default + validate, next to
/// the floor of only parsing the same text into untyped JSON values.
pub(crate) fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let files = manifest_files(&args.path)?;
    let texts: Vec<String> = files
        .iter()
        .map(|f| read_file(f))
        .collect::<Result<_, _>>()?;
    let per_side = Duration::from_secs(args.seconds.max(1));
    let clock = ferrocore_runtime::SystemClock::new();
    let full = measure(&clock, per_side, &texts, |t| {
        let mut n = 0;
        for doc in decode_documents(t).into_iter().flatten() {
            if let Ok(mut obj) = doc.result {
                obj.set_defaults();
                n += usize::from(obj.validate().is_empty());
            }
        }
        n
    });
    let floor = measure(&clock, per_side, &texts, |t| {
        serde_norway::Deserializer::from_str(t)
            .filter_map(|d| serde::Deserialize::deserialize(d).ok())
            .filter(|v: &serde_json::Value| !v.is_null())
            .count()
    });
    println!("{:<40} {:>14}", "pipeline", "objects/s");
    println!("{:<40} {:>14.0}", "ferrocore decode+default+validate", full);
    println!(
        "{:<40} {:>14.0}",
        "floor: YAML parse to untyped JSON", floor
    );
    println!("ratio (ferrocore / floor): {:.2}", full / floor.max(1.0));
    Ok(ExitCode::SUCCESS)
}

fn measure(
    clock: &ferrocore_runtime::SystemClock,
    budget: Duration,
    texts: &[String],
    f: impl Fn(&str) -> usize,
) -> f64 {
    use ferrocore_runtime::Clock as _;
    let start = clock.now();
    let mut objects = 0usize;
    while clock.now() - start < budget {
        for t in texts {
            objects += f(t);
        }
    }
    #[allow(clippy::cast_precision_loss)] // a rate for display
    let rate = objects as f64 / (clock.now() - start).as_secs_f64();
    rate
}
