//! How `spofless lab up` runs the topology's hosts as local VMs. Only what a topology author
//! needs to pin lives here; sizes and directories are command-line choices.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
