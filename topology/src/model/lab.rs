//! How `spofless lab up` runs the topology's hosts as local VMs. Only what a topology author
//! needs to pin lives here; sizes and directories are command-line choices.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cluster, EtcdSpec};

/// How many times longer etcd's heartbeat and election timeout are in a lab whose guests QEMU
/// emulates (TCG). etcd's tuning guide sets the heartbeat near the members' round trip and the
/// election timeout well above it, and says an overloaded machine needs both raised. Five
/// emulated guests on two host cores, during Ceph's OSD creation, are that machine: with the
/// 100 ms default heartbeat the lab e2e's leaders logged 403 "leader failed to send out heartbeat
/// on time" warnings, overrunning the 200 ms bound by 105 ms at the median, 598 ms at p90,
/// 3.1 s at p99 and 6.2 s at most, and lost their leadership every 20 to 40 s (CI once saw
/// no healthy member for 180 s). Ten times stretches the election timeout to 10 s, above the
/// worst stall, and keeps etcd's default 1:10 heartbeat ratio. KVM guests keep the topology's
/// timers.
pub const EMULATED_ETCD_TIMER_FACTOR: u32 = 10;

/// etcd refuses an election timeout above 50 000 ms (`embed.Config.Validate`).
const ETCD_MAX_ELECTION_TIMEOUT_MS: u32 = 50_000;

impl EtcdSpec {
    /// These timers stretched by [`EMULATED_ETCD_TIMER_FACTOR`], kept within etcd's ceiling and
    /// its floor of five heartbeats per election timeout.
    pub fn stretched_for_emulation(&self) -> EtcdSpec {
        let election = self
            .election_timeout_ms
            .saturating_mul(EMULATED_ETCD_TIMER_FACTOR)
            .min(ETCD_MAX_ELECTION_TIMEOUT_MS);
        let heartbeat = self
            .heartbeat_interval_ms
            .saturating_mul(EMULATED_ETCD_TIMER_FACTOR)
            .min(election / crate::validate::ETCD_MIN_ELECTION_TO_HEARTBEAT_RATIO);
        EtcdSpec {
            heartbeat_interval_ms: heartbeat,
            election_timeout_ms: election,
            ..self.clone()
        }
    }
}

impl Cluster {
    /// The cluster as a lab of emulated (TCG) guests runs it: etcd's timers stretched
    /// ([`EtcdSpec::stretched_for_emulation`]); everything else as written. What the lab applies
    /// and what a drill on it predicts both come from this one cluster.
    pub fn for_emulated_lab(&self) -> Cluster {
        let mut lab = self.clone();
        lab.spec.etcd = self.spec.etcd.stretched_for_emulation();
        lab
    }
}

/// Lab settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LabSettings {
    /// How guests execute. `auto` uses KVM only where the CPU has vmx/svm, a vendor KVM module
    /// is loaded and `/dev/kvm` exists, QEMU's TCG otherwise. `--accel` and
    /// `SPOFLESS_LAB_ACCEL` override it.
    pub accelerator: Accelerator,
}

impl LabSettings {
    /// True when nothing is set (so the field is left out when the model is written).
    pub fn is_default(&self) -> bool {
        *self == LabSettings::default()
    }
}

/// Guest accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Accelerator {
    /// Probe the machine.
    #[default]
    Auto,
    /// Hardware virtualisation through KVM.
    Kvm,
    /// QEMU's tiny code generator: slow, but runs anywhere.
    Tcg,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulation_stretches_etcd_timers_within_etcds_bounds() {
        let stretched = EtcdSpec::default().stretched_for_emulation();
        assert_eq!(
            (
                stretched.heartbeat_interval_ms,
                stretched.election_timeout_ms
            ),
            (1000, 10_000)
        );
        let slow = EtcdSpec {
            heartbeat_interval_ms: 2000,
            election_timeout_ms: 20_000,
            ..EtcdSpec::default()
        }
        .stretched_for_emulation();
        assert_eq!(
            (slow.heartbeat_interval_ms, slow.election_timeout_ms),
            (10_000, 50_000)
        );
    }

    #[test]
    fn an_emulated_lab_changes_only_etcds_timers() {
        let cluster = crate::default_cluster().expect("the embedded default is valid");
        let lab = cluster.for_emulated_lab();
        assert_eq!(lab.spec.etcd.election_timeout_ms, 10_000);
        let mut back = lab.clone();
        back.spec.etcd = cluster.spec.etcd.clone();
        assert_eq!(back, cluster);
    }
}
