//! Real etcd on the [test bed](crate::testbed): a cluster started from the rendered artifacts,
//! and the etcd fault schedule the differential drill runs against it.

mod etcd;
mod etcd_faults;

pub use etcd::{EtcdClient, EtcdLab, EtcdLabError, EtcdLabMember, spec_from_unit, write_rendered};
pub use etcd_faults::{
    DEFAULT_PHASE, DEFAULT_RECOVERY_TIMEOUT, FaultRun, FaultScheduleConfig, LeaderKill,
    PhaseCounts, PhaseOutcome, RecordedCompare, RecordedKv, RecordedOp, RecordedOperation,
    RecordedOutcome, RecordedRequest, RecordedResponse, RecordedResult, RecordedTarget,
    WorkloadMix, measure_leader_kills, run_fault_schedule,
};
