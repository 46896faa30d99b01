//! `spofless ceph ...`: Ceph placement tools.
//!
//! `crush-test` maps inputs through a rule of a text CRUSH map (as
//! `crushtool -d` writes it) and prints exactly what
//! `crushtool -i map.bin --test --show-mappings` prints, so the two can be
//! diffed to trust our placement on a real cluster's map.

use std::path::PathBuf;
use std::process::ExitCode;

use sim::models::ceph::crush::tester::{SpecError, TestSpec, write_mappings};
use sim::models::ceph::crush::{CrushError, CrushMap};

/// Ceph commands.
#[derive(Debug, clap::Subcommand)]
pub enum CephCommand {
    /// Print CRUSH mappings like `crushtool --test --show-mappings`.
    CrushTest(CrushTestArgs),
}

/// Arguments of `spofless ceph crush-test`.
#[derive(Debug, clap::Args)]
pub struct CrushTestArgs {
    /// Text CRUSH map (`ceph osd getcrushmap | crushtool -d -`).
    #[arg(long)]
    pub map: PathBuf,
    /// Only this rule id (default: every rule).
    #[arg(long)]
    pub rule: Option<u32>,
    /// Number of replicas to choose.
    #[arg(long)]
    pub num_rep: usize,
    /// First input x.
    #[arg(long, default_value_t = 0)]
    pub min_x: u32,
    /// Last input x (inclusive).
    #[arg(long, default_value_t = 1023)]
    pub max_x: u32,
    /// Reweight an OSD: `--weight OSD:W` or crushtool's two-argument `--weight OSD W`, with W
    /// in 0.0..=1.0. Repeatable.
    #[arg(long = "weight", value_name = "OSD[:W]", num_args = 1..=2)]
    pub weight_args: Vec<String>,
}

impl CrushTestArgs {
    /// The reweights, from `--weight` values in command-line order: `OSD:W` stands alone,
    /// `OSD` takes the next value as its weight.
    pub fn reweights(&self) -> Result<Vec<(i32, f32)>, String> {
        let mut out = Vec::new();
        let mut it = self.weight_args.iter();
        while let Some(a) = it.next() {
            let (osd, w) = match a.split_once(':') {
                Some((osd, w)) => (osd, w),
                None => {
                    let w = it.next().ok_or_else(|| {
                        format!("--weight {a}: missing the weight (OSD W or OSD:W)")
                    })?;
                    (a.as_str(), w.as_str())
                }
            };
            out.push(parse_reweight(osd, w)?);
        }
        Ok(out)
    }
}

fn parse_reweight(osd: &str, w: &str) -> Result<(i32, f32), String> {
    let osd = osd.trim_start_matches("osd.");
    let osd = osd
        .parse::<i32>()
        .map_err(|_| format!("'{osd}' is not an OSD id"))?;
    let w = w
        .parse::<f32>()
        .map_err(|_| format!("'{w}' is not a weight"))?;
    if !(0.0..=1.0).contains(&w) {
        return Err(format!("weight {w} must be between 0 and 1"));
    }
    Ok((osd, w))
}

/// Runs a `spofless ceph` subcommand.
pub fn run(cmd: CephCommand) -> miette::Result<ExitCode> {
    match cmd {
        CephCommand::CrushTest(args) => crush_test(&args),
    }
}

/// The first four bytes of a compiled CRUSH map: `CRUSH_MAGIC` (0x00010000, src/crush/crush.h),
/// little-endian.
const COMPILED_MAGIC: [u8; 4] = [0x00, 0x00, 0x01, 0x00];

/// The map file could not be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum MapError {
    #[error("cannot read the CRUSH map {path}")]
    #[diagnostic(code(spofless::ceph::read))]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is a compiled (binary) CRUSH map; crush-test reads the text form")]
    #[diagnostic(
        code(spofless::ceph::binary_map),
        help("decompile it first: crushtool -d {path} -o {path}.txt")
    )]
    Compiled { path: String },
    #[error("{path} is not text (not valid UTF-8)")]
    #[diagnostic(
        code(spofless::ceph::not_text),
        help("give the text map that `ceph osd getcrushmap | crushtool -d -` prints")
    )]
    NotText { path: String },
    #[error("{path} is not a usable CRUSH map")]
    #[diagnostic(code(spofless::ceph::map))]
    Map {
        path: String,
        #[source]
        source: CrushError,
    },
    #[error("nothing to map with these arguments")]
    #[diagnostic(code(spofless::ceph::spec))]
    Spec {
        #[source]
        source: SpecError,
    },
    #[error("bad --weight")]
    #[diagnostic(
        code(spofless::ceph::weight),
        help("--weight OSD W or --weight OSD:W, W between 0 and 1")
    )]
    Weight {
        #[source]
        source: WeightError,
    },
}

/// A `--weight` value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WeightError(String);

/// Reads and compiles the text map at `path`.
fn read_map(path: &std::path::Path) -> Result<CrushMap, MapError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| MapError::Read {
        path: name.clone(),
        source,
    })?;
    if bytes.starts_with(&COMPILED_MAGIC) {
        return Err(MapError::Compiled { path: name });
    }
    let text = String::from_utf8(bytes).map_err(|_| MapError::NotText { path: name.clone() })?;
    CrushMap::from_text(&text).map_err(|source| MapError::Map { path: name, source })
}

fn crush_test(args: &CrushTestArgs) -> miette::Result<ExitCode> {
    let map = read_map(&args.map)?;
    let spec = TestSpec {
        rule: args.rule,
        num_rep: args.num_rep,
        min_x: args.min_x,
        max_x: args.max_x,
        reweights: args.reweights().map_err(|e| MapError::Weight {
            source: WeightError(e),
        })?,
    };
    spec.check(&map)
        .map_err(|source| MapError::Spec { source })?;
    let mut text = String::new();
    write_mappings(&map, &spec, &mut text);
    crate::output::out(text)?;
    Ok(ExitCode::SUCCESS)
}
