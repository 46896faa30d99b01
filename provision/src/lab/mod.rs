//! The local VM lab: the topology's hosts as libvirt guests, for end-to-end confirmation.
//!
//! `lab up` builds (or reuses) the guest image from the `vm-images` recipe, creates a private
//! libvirt network and one domain per host with a copy-on-write overlay and a cloud-init NoCloud
//! seed (hostname, static address, the lab's login key, a pre-generated host key), and waits
//! until every guest answers SSH with exactly that pinned key. Two modes share everything but
//! the daemon and the way in: *workstation* uses an existing libvirt (default `qemu:///system`)
//! and reaches guests over the lab bridge; *isolated* creates a network namespace and runs the
//! lab's own libvirtd in it with private directories, so nothing clashes with the host and
//! nothing is routed in or out. Everything created is recorded in a state file, so `lab down`
//! removes exactly that and refuses anything else.
//!
//! The pure parts (spec, XML, seeds, keys, image cache, state) build without libvirt; talking
//! to libvirt needs the `libvirt` cargo feature (the `virt` crate and libvirt's C library).

pub mod accel;
pub mod daemon;
mod error;
pub mod guest;
pub mod image;
pub mod keys;
pub mod netns;
pub mod prepare;
pub mod seed;
pub mod spec;
pub mod state;
pub mod tool;
pub mod xml;

#[cfg(feature = "libvirt")]
pub mod driver;
#[cfg(feature = "libvirt")]
pub mod ops;

pub use accel::Accel;
pub use error::LabError;
pub use spec::{LabOptions, LabSpec, Mode, VmSpec};
pub use state::LabState;
