//! Diagnostic logging: `-v` / `-vv` / `-vvv` (info, debug, trace for spofless' own crates) or
//! `RUST_LOG` (tracing's `EnvFilter` syntax, which wins when set), always to standard error so
//! standard output stays the command's data.

use tracing_subscriber::EnvFilter;

/// spofless' own crates, whose events `-v` turns on.
const OUR_CRATES: [&str; 4] = ["spofless", "topology", "sim", "provision"];

/// The filter for `verbosity` `-v` flags: warnings from everyone, and more from our crates.
fn filter_for(verbosity: u8) -> String {
    let ours = match verbosity {
        0 => return "warn".to_owned(),
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let mut directives = vec!["warn".to_owned()];
    directives.extend(OUR_CRATES.iter().map(|c| format!("{c}={ours}")));
    directives.join(",")
}

/// Installs the subscriber. A malformed `RUST_LOG` is reported and ignored rather than fatal:
/// logging is a diagnostic aid and must never stop the command itself.
pub fn init(verbosity: u8) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let filter = match from_env.as_deref().map(EnvFilter::try_new) {
        Some(Ok(filter)) => filter,
        Some(Err(e)) => {
            eprintln!("warning: ignoring RUST_LOG: {e}");
            EnvFilter::new(filter_for(verbosity))
        }
        None => EnvFilter::new(filter_for(verbosity)),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbosity >= 2)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_by_default_and_louder_for_our_crates_only() {
        assert_eq!(filter_for(0), "warn");
        let v = filter_for(1);
        assert!(v.starts_with("warn,"), "{v}");
        assert!(
            v.contains("sim=info") && v.contains("provision=info"),
            "{v}"
        );
        assert!(filter_for(2).contains("topology=debug"));
        assert!(filter_for(7).contains("spofless=trace"));
        for level in 0..4 {
            assert!(EnvFilter::try_new(filter_for(level)).is_ok());
        }
    }
}
