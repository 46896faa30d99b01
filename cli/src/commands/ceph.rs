//! `spofless ceph ...`: Ceph placement tools.
//!
//! `crush-test` maps inputs through a rule of a text CRUSH map (as
//! `crushtool -d` writes it) and prints exactly what
//! `crushtool -i map.bin --test --show-mappings` prints, so the two can be
//! diffed to trust our placement on a real cluster's map.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};
use sim::models::ceph::crush::CrushMap;
use sim::models::ceph::crush::tester::{TestSpec, write_mappings};

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

fn crush_test(args: &CrushTestArgs) -> miette::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.map)
        .into_diagnostic()
        .wrap_err_with(|| format!("reading {}", args.map.display()))?;
    let map = CrushMap::from_text(&text).map_err(|e| miette!("{}: {e}", args.map.display()))?;
    if let Some(r) = args.rule
        && map.rule(r).is_none()
    {
        return Err(miette!("{}: rule {r} does not exist", args.map.display()));
    }
    let spec = TestSpec {
        rule: args.rule,
        num_rep: args.num_rep,
        min_x: args.min_x,
        max_x: args.max_x,
        reweights: args.reweights().map_err(|e| miette!("{e}"))?,
    };
    let mut out = String::new();
    write_mappings(&map, &spec, &mut out);
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}
