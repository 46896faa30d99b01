//! One fault injector: a [`topology::fault::Fault`] applied to whatever the hosts are.
//!
//! The simulator and the real drills speak the same fault vocabulary, so a case found in
//! simulation can be replayed for real. A [`FaultTarget`] applies one fault: the namespace test
//! bed ([`crate::testbed::Testbed`]: signals to its daemons, `ip link`, blackhole routes and tc netem
//! for cuts, loss and latency), the libvirt lab (host crash and restart, a guest's link, and
//! process faults through its guests' SSH [`Host`](crate::host::Host)s), and any `dyn Host`
//! ([`host::apply_on_host`]: process faults by signal, as on real machines). A fault a target
//! cannot express is refused with [`InjectError::Unsupported`], never silently skipped, so a
//! drill never reports a fault that did not happen.

pub mod host;
#[cfg(feature = "libvirt")]
pub mod lab;
mod testbed;

use std::collections::BTreeSet;

use topology::fault::Fault;

use crate::host::HostError;
use crate::testbed::NetnsError;

/// Something faults can be applied to.
pub trait FaultTarget {
    /// The target, for messages.
    fn target_name(&self) -> String;

    /// Applies `fault` now, or refuses it.
    fn apply(&mut self, fault: &Fault) -> Result<(), InjectError>;
}

/// Why a fault was not applied.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// The target has no way to express this fault.
    #[error("{target} cannot apply `{fault}`: {reason}")]
    Unsupported {
        /// The target.
        target: String,
        /// The fault.
        fault: String,
        /// Why not.
        reason: String,
    },
    /// The fault names a process that does not run there.
    #[error("{target}: no process `{process}` on host {host} (for `{fault}`)")]
    NoSuchProcess {
        /// The target.
        target: String,
        /// The fault.
        fault: String,
        /// The host.
        host: String,
        /// The process.
        process: String,
    },
    /// The namespace test bed failed.
    #[error("{target}: applying `{fault}`: {source}")]
    Testbed {
        /// The target.
        target: String,
        /// The fault.
        fault: String,
        /// What failed.
        #[source]
        source: Box<NetnsError>,
    },
    /// A host failed to run what the fault needs.
    #[error("{target}: applying `{fault}`: {source}")]
    Host {
        /// The target.
        target: String,
        /// The fault.
        fault: String,
        /// What failed.
        #[source]
        source: Box<HostError>,
    },
    /// The libvirt lab failed.
    #[error("{target}: applying `{fault}`: {source}")]
    Lab {
        /// The target.
        target: String,
        /// The fault.
        fault: String,
        /// What failed.
        #[source]
        source: Box<crate::lab::LabError>,
    },
}

impl InjectError {
    /// `fault` refused on `target` because of `reason`.
    pub fn unsupported(target: &str, fault: &Fault, reason: impl Into<String>) -> Self {
        InjectError::Unsupported {
            target: target.to_owned(),
            fault: fault.to_string(),
            reason: reason.into(),
        }
    }
}

/// The groups of a [`Fault::Partition`] over `hosts`: the named groups, plus one group of the
/// hosts no group names (if any). Hosts are compared by name.
pub fn partition_groups(named: &[Vec<String>], hosts: &[String]) -> Vec<Vec<String>> {
    let listed: BTreeSet<&str> = named.iter().flatten().map(String::as_str).collect();
    let rest: Vec<String> = hosts
        .iter()
        .filter(|h| !listed.contains(h.as_str()))
        .cloned()
        .collect();
    let mut groups: Vec<Vec<String>> = named.iter().filter(|g| !g.is_empty()).cloned().collect();
    if !rest.is_empty() {
        groups.push(rest);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_hosts_form_one_more_group() {
        let hosts: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let g = partition_groups(&[vec!["a".into()], vec!["b".into()]], &hosts);
        assert_eq!(
            g,
            vec![
                vec!["a".to_owned()],
                vec!["b".to_owned()],
                vec!["c".to_owned(), "d".to_owned()]
            ]
        );
        let all = partition_groups(
            &[vec!["a".into(), "b".into()], vec!["c".into(), "d".into()]],
            &hosts,
        );
        assert_eq!(all.len(), 2);
    }
}
