//! Drills: run a `topology` phase plan against real daemons, record what clients saw and turn
//! it into observed timelines for the judge in `topology::compare`. Today: the etcd fault
//! schedule on real members in network namespaces ([`etcd_lab`] starts them from the rendered
//! units, [`etcd_schedule`] walks the plan); keepalived and haproxy from the rendered VIP
//! artifacts ([`vip_lab`]). [`etcd_target`] is what the etcd schedule needs of a cluster, so the
//! same runner drives the bed and the applied libvirt lab (`lab_etcd`) for `spofless drill`.

pub mod ceph_lab;
pub mod ceph_probe;
pub mod ceph_schedule;
pub mod etcd_lab;
pub mod etcd_ledger;
pub mod etcd_schedule;
pub mod etcd_target;
#[cfg(feature = "libvirt")]
pub mod lab_etcd;
#[cfg(feature = "libvirt")]
pub mod lab_vip;
pub mod tcp_probe;
pub mod vip_lab;

pub use etcd_lab::{
    EtcdClient, EtcdLab, EtcdLabError, EtcdLabMember, spec_from_unit, write_rendered,
};
pub use etcd_schedule::{
    DrillOperation, FaultRun, FaultScheduleConfig, LeaderKill, LeaderLoss, PhaseCounts,
    PhaseOutcome, WorkloadMix, measure_leader_kills, measure_leader_losses, run_fault_schedule,
};
pub use etcd_target::EtcdTarget;
