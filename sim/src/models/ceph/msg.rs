//! Messages of the Ceph model: the monitors' elector, lease and commit rounds; OSD boot, failure
//! reports and map pushes; OSD peer heartbeats; PG peering, replication and recovery; client
//! writes. Each is a plain value whose `Debug` text is deterministic (no hash maps inside).

use super::layout::PgId;
use super::osdmap::OsdMap;
use crate::engine::{SimDuration, SimTime, message_kind};

/// A PG replica as an OSD stores it: the ids of the writes it holds, in order, the map epoch
/// of the interval that wrote each one, and whether it holds the whole PG (a backfill target
/// is incomplete until its push lands). The length of `log` is the PG version; with the last
/// entry's epoch it is `last_update`, Ceph's eversion (epoch, version).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PgCopy {
    /// Client write ids in version order (version = index + 1).
    pub log: Vec<u64>,
    /// The epoch each entry was written in, parallel to `log`.
    pub epochs: Vec<u64>,
    /// Holds every object of the PG up to `log.len()`.
    pub complete: bool,
}

impl PgCopy {
    /// Appends write `tid`, written in the interval of map `epoch`.
    pub fn push(&mut self, tid: u64, epoch: u64) {
        self.log.push(tid);
        self.epochs.push(epoch);
    }

    /// `last_update` as Ceph orders it: (epoch of the last entry, version). A log written in
    /// a newer interval is newer whatever its length: the older interval's extra entries are
    /// divergent and get rolled back (`PGLog::rewind_divergent_log`).
    pub fn last_update(&self) -> (u64, u64) {
        (self.epochs.last().copied().unwrap_or(0), self.version())
    }

    /// Whether this copy's log (ids and epochs) is a prefix of `other`'s.
    pub fn is_prefix_of(&self, other: &PgCopy) -> bool {
        other.log.starts_with(&self.log) && other.epochs.starts_with(&self.epochs)
    }

    /// The version (`last_update`).
    pub fn version(&self) -> u64 {
        self.log.len() as u64
    }

    /// Whether this copy durably holds write `tid` at `version`.
    pub fn holds(&self, version: u64, tid: u64) -> bool {
        self.complete && version >= 1 && self.log.get(version as usize - 1).copied() == Some(tid)
    }
}

/// Elector: `rank` proposes itself in election `epoch` (odd while electing).
#[derive(Clone, Debug)]
pub struct MonPropose {
    /// Election epoch.
    pub epoch: u64,
    /// Proposer's rank.
    pub rank: usize,
}

/// Elector: `rank` defers to the proposer, handing over its committed map.
#[derive(Clone, Debug)]
pub struct MonAck {
    /// Election epoch.
    pub epoch: u64,
    /// Acker's rank.
    pub rank: usize,
    /// Acker's committed OSDMap.
    pub map: OsdMap,
}

/// Elector: `leader` won with `quorum`; the committed map with the highest epoch among them.
#[derive(Clone, Debug)]
pub struct MonVictory {
    /// Election epoch (even: stable).
    pub epoch: u64,
    /// Winner.
    pub leader: usize,
    /// Ranks in the quorum.
    pub quorum: Vec<usize>,
    /// The newest committed map among the quorum.
    pub map: OsdMap,
}

/// Paxos lease renewal from the leader.
#[derive(Clone, Debug)]
pub struct MonLease {
    /// Election epoch.
    pub epoch: u64,
}

/// A peon's lease ack.
#[derive(Clone, Debug)]
pub struct MonLeaseAck {
    /// Election epoch.
    pub epoch: u64,
    /// Peon's rank.
    pub rank: usize,
}

/// Paxos begin: the leader proposes the next map.
#[derive(Clone, Debug)]
pub struct MonBegin {
    /// Election epoch.
    pub epoch: u64,
    /// Proposed map.
    pub map: OsdMap,
}

/// Paxos accept.
#[derive(Clone, Debug)]
pub struct MonAccept {
    /// Election epoch.
    pub epoch: u64,
    /// Map epoch accepted.
    pub map_epoch: u64,
    /// Acceptor's rank.
    pub rank: usize,
}

/// Paxos commit.
#[derive(Clone, Debug)]
pub struct MonCommit {
    /// Election epoch.
    pub epoch: u64,
    /// Committed map.
    pub map: OsdMap,
}

/// The leader's beacon to OSDs and clients: a quorum stands and holds a lease until `until`.
#[derive(Clone, Debug)]
pub struct MonBeacon {
    /// Latest committed map epoch.
    pub map_epoch: u64,
    /// End of the lease.
    pub until: SimTime,
}

impl MonBeacon {
    /// What a holder of map epoch `have` asks the beacon's sender for: the newer map, if the
    /// beacon names one.
    pub fn catch_up(&self, have: u64) -> Option<MapRequest> {
        (self.map_epoch > have).then_some(MapRequest {
            have,
            session_start: false,
        })
    }
}

/// A committed map pushed to OSDs and clients (also the answer to [`MapRequest`]).
#[derive(Clone, Debug)]
pub struct MapUpdate {
    /// The map.
    pub map: OsdMap,
}

/// "Send me the latest map": after a beacon showed a newer epoch, or when a client opens its
/// monitor session (then the leader also tells it the quorum's lease).
#[derive(Clone, Debug)]
pub struct MapRequest {
    /// The epoch the asker has.
    pub have: u64,
    /// Sent by a client opening its session (`MonClient` subscribing to the osdmap).
    pub session_start: bool,
}

/// An OSD incarnation asks to be marked up.
#[derive(Clone, Debug)]
pub struct OsdBoot {
    /// OSD id.
    pub osd: i32,
    /// Boot counter of this incarnation.
    pub nonce: u64,
}

/// `MOSDAlive`: a primary that cannot activate a PG until its up_thru covers the PG's interval
/// start asks the monitors for it (`OSD::queue_want_up_thru`, `send_alive`).
#[derive(Clone, Debug)]
pub struct OsdAlive {
    /// The OSD.
    pub osd: i32,
    /// Its boot incarnation.
    pub nonce: u64,
    /// The newest map epoch it has (what the monitor writes as up_thru).
    pub version: u64,
    /// The interval start it needs covered.
    pub want: u64,
}

/// `MOSDMarkMeDown`: an OSD shutting down asks to be marked down (`OSD::prepare_to_stop`).
#[derive(Clone, Debug)]
pub struct OsdMarkMeDown {
    /// The OSD.
    pub osd: i32,
    /// Its boot incarnation.
    pub nonce: u64,
}

/// An OSD tells the monitors it is alive (`MOSDBeacon`).
#[derive(Clone, Debug)]
pub struct OsdBeacon {
    /// OSD id.
    pub osd: i32,
}

/// A failure report (or its cancellation when `alive`).
#[derive(Clone, Debug)]
pub struct OsdFailure {
    /// The silent OSD.
    pub target: i32,
    /// The reporting OSD.
    pub reporter: i32,
    /// How long the target has been silent.
    pub failed_for: SimDuration,
    /// True cancels an earlier report.
    pub alive: bool,
    /// `MOSDFailure::FLAG_IMMEDIATE`: the reporter's connection to the target was refused, so
    /// the target's process is gone; the monitors mark it down without waiting for the grace.
    pub immediate: bool,
}

/// OSD heartbeat ping (`MOSDPing::PING`).
#[derive(Clone, Debug)]
pub struct Ping {
    /// Sender OSD.
    pub from: i32,
    /// Receiver OSD.
    pub to: i32,
    /// When it was sent (echoed in the reply).
    pub stamp: SimTime,
}

/// OSD heartbeat reply (`MOSDPing::PING_REPLY`).
#[derive(Clone, Debug)]
pub struct PingReply {
    /// Replying OSD.
    pub from: i32,
    /// The OSD that pinged.
    pub to: i32,
    /// The ping's send time.
    pub stamp: SimTime,
}

/// The kernel's reset for a ping to an OSD whose process died while its host stayed up (the
/// disk under it was lost): the OSD's port is closed, so the peer's reconnect is refused. The
/// host's other OSDs run in this actor, so the actor answers for the dead one's kernel; a
/// whole `ceph-osd` actor that is down is refused by the engine (`Event::Refused`).
#[derive(Clone, Debug)]
pub struct PingRefused {
    /// The dead OSD that was pinged.
    pub from: i32,
    /// The OSD that pinged.
    pub to: i32,
}

/// Peering: the primary asks an OSD for its copy of `pg`.
#[derive(Clone, Debug)]
pub struct PgQuery {
    /// The PG.
    pub pg: PgId,
    /// Peering round id at the primary.
    pub round: u64,
    /// Primary OSD.
    pub primary: i32,
    /// Asked OSD.
    pub to: i32,
    /// The primary's OSDMap epoch: an OSD whose map is older holds the query until its map
    /// catches up, as Ceph queues a peering event until the PG's shard reaches the event's
    /// epoch (`OSDShard::wait_min_pg_epoch`) instead of answering from an older interval.
    pub epoch: u64,
}

/// Peering: an OSD's answer.
#[derive(Clone, Debug)]
pub struct PgInfo {
    /// The PG.
    pub pg: PgId,
    /// Round being answered.
    pub round: u64,
    /// Answering OSD.
    pub from: i32,
    /// Primary OSD.
    pub to: i32,
    /// Its copy, if any.
    pub copy: Option<PgCopy>,
}

/// Replication of one write to an acting replica.
#[derive(Clone, Debug)]
pub struct RepOp {
    /// The PG.
    pub pg: PgId,
    /// Peering round of the primary.
    pub round: u64,
    /// Primary OSD.
    pub primary: i32,
    /// Replica OSD.
    pub to: i32,
    /// Version this write takes.
    pub version: u64,
    /// Write id.
    pub tid: u64,
    /// The map epoch of the primary's interval, which the entry is written in.
    pub epoch: u64,
}

/// A replica has the write on disk.
#[derive(Clone, Debug)]
pub struct RepOpAck {
    /// The PG.
    pub pg: PgId,
    /// Round.
    pub round: u64,
    /// Replica OSD.
    pub from: i32,
    /// Primary OSD.
    pub to: i32,
    /// Version written.
    pub version: u64,
}

/// Recovery: the primary asks a target OSD for its one remote backfill slot.
#[derive(Clone, Debug)]
pub struct ReserveRequest {
    /// The PG.
    pub pg: PgId,
    /// Round.
    pub round: u64,
    /// Primary OSD.
    pub primary: i32,
    /// Target OSD.
    pub to: i32,
}

/// Recovery: the target grants its slot.
#[derive(Clone, Debug)]
pub struct ReserveGrant {
    /// The PG.
    pub pg: PgId,
    /// Round.
    pub round: u64,
    /// Target OSD.
    pub from: i32,
    /// Primary OSD.
    pub to: i32,
}

/// Recovery: the copy, after the transfer time; also releases the target's slot.
#[derive(Clone, Debug)]
pub struct Push {
    /// The PG.
    pub pg: PgId,
    /// Round.
    pub round: u64,
    /// Primary OSD.
    pub primary: i32,
    /// Target OSD.
    pub to: i32,
    /// The copy to store.
    pub copy: PgCopy,
    /// Whether this ends a timed recovery or backfill transfer (else it is the log handed to a
    /// stale replica at activation).
    pub transfer: bool,
}

/// Recovery: the target stored the push.
#[derive(Clone, Debug)]
pub struct PushAck {
    /// The PG.
    pub pg: PgId,
    /// Round.
    pub round: u64,
    /// Target OSD.
    pub from: i32,
    /// Primary OSD.
    pub to: i32,
    /// The push's `transfer`.
    pub transfer: bool,
}

/// Recovery gave up a reservation (new round) without pushing.
#[derive(Clone, Debug)]
pub struct ReserveCancel {
    /// The PG.
    pub pg: PgId,
    /// Primary OSD.
    pub primary: i32,
    /// Target OSD.
    pub to: i32,
}

/// A clean PG's primary tells an OSD outside the acting set to delete its stray copy.
#[derive(Clone, Debug)]
pub struct PgRemove {
    /// The PG.
    pub pg: PgId,
    /// The OSD holding the stray.
    pub to: i32,
}

/// A client write of one object to `pg`.
#[derive(Clone, Debug)]
pub struct ClientWrite {
    /// Write id (unique per run).
    pub tid: u64,
    /// Target PG.
    pub pg: PgId,
    /// Primary the client addressed.
    pub to: i32,
    /// The client's map epoch (`MOSDOp::get_map_epoch`): an OSD with an older map waits for
    /// that one before it looks at the op (`OSD::require_same_or_newer_map`).
    pub epoch: u64,
}

/// The primary's answer to a [`ClientWrite`].
#[derive(Clone, Debug)]
pub struct ClientReply {
    /// Write id.
    pub tid: u64,
    /// The PG.
    pub pg: PgId,
    /// `Some(version)` when acknowledged; `None` means resend (wrong primary or new interval).
    pub version: Option<u64>,
    /// The PG was not active+clean when it acknowledged.
    pub degraded: bool,
    /// Time the write waited in the PG's queue because the PG was not active.
    pub inactive_wait: SimDuration,
    /// When the primary sent this answer (for the checks: over a slowed link the client hears
    /// it later, possibly after the PG left the state it answered in).
    pub sent: SimTime,
}

message_kind!(
    MonPropose,
    MonAck,
    MonVictory,
    MonLease,
    MonLeaseAck,
    MonBegin,
    MonAccept,
    MonCommit,
    MonBeacon,
    MapUpdate,
    MapRequest,
    OsdBoot,
    OsdAlive,
    OsdMarkMeDown,
    OsdBeacon,
    OsdFailure,
    Ping,
    PingReply,
    PingRefused,
    PgQuery,
    PgInfo,
    RepOp,
    RepOpAck,
    ReserveRequest,
    ReserveGrant,
    Push,
    PushAck,
    ReserveCancel,
    PgRemove,
    ClientWrite,
    ClientReply,
);
