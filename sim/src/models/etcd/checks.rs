//! Raft's safety and liveness properties as engine invariants, judged from outside the members:
//! the log's leader records and each member's durable state (read through the world view, the
//! way a test harness would inspect real members' data directories).
//!
//! - [`SingleLeaderPerTerm`]: Raft's Election Safety: at most one leader per term.
//! - [`CommitHasMajority`]: an index a member has committed is held, with the same term, in the
//!   durable logs of a majority (Raft's commit rule; with Leader Completeness this is what makes
//!   an acknowledged write survive any minority of crashes).
//! - [`CommittedLogsAgree`]: State Machine Safety: two members never commit different entries at
//!   the same index.
//! - [`LeaderRestored`]: liveness: while a majority of members runs and can talk, a leader
//!   those members follow appears within [`EtcdSimConfig::reelection_bound`].
//! - [`WritesRestored`]: the stronger liveness the seed promises ("the API continues"): after
//!   a fault, a crash or a heal, while a majority runs and can talk and clients keep writing,
//!   some write is acknowledged again within [`WritesRestored::bound`].
//! - [`MinorityWritesUnavailable`]: no split brain: a member cut off from a majority (its
//!   connected group of running members is a minority) never acknowledges a write it accepted
//!   while cut off, before the cut ends.
//! - [`ClientHistoryLinearizable`]: what the clients saw, judged at the end of the run by the
//!   Wing-Gong/Lowe checker; this is also the "no acknowledged write lost" check, since every
//!   later read must see the last acknowledged write.

use std::collections::{BTreeMap, BTreeSet};

use raft::StateRole;

use super::client::EtcdClient;
use super::config::EtcdSimConfig;
use super::facts::{EtcdLeader, EtcdRole, RoleState};
use super::member::{EtcdMember, WriteAck, role_name};
use super::session::Balancer;
use super::{CLIENT_MODEL_NAME, MODEL_NAME};
use crate::checks::invariant::{Invariant, WorldView};
use crate::checks::linearizability::{CheckConfig, History, Verdict, check};
use topology::fault::Fault;
use topology::policy::quorum::{majority, tolerated_failures};

use crate::engine::{ActorId, LogEntry, LogKind, Record, SimDuration, SimTime};

/// The members' actor ids, in Raft-id order.
fn members(world: &WorldView<'_>) -> Vec<ActorId> {
    world.directory.actors_named(MODEL_NAME).collect()
}

/// The members' models (with their durable state, crashed or not), in Raft-id order.
fn member_models<'a>(world: &'a WorldView<'_>) -> Vec<&'a EtcdMember> {
    world
        .directory
        .actors_named(MODEL_NAME)
        .filter_map(|a| world.model::<EtcdMember>(a))
        .collect()
}

/// At most one leader per term.
#[derive(Debug, Default)]
pub struct SingleLeaderPerTerm {
    leaders: BTreeMap<u64, String>,
}

impl Invariant for SingleLeaderPerTerm {
    fn name(&self) -> &str {
        "etcd-single-leader-per-term"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        let fact = entry.fact_record()?;
        let EtcdLeader { host, term } = fact.get()?;
        match self.leaders.get(term) {
            Some(other) if other != host => Some(format!(
                "{host} became leader in term {term}, which {other} already leads"
            )),
            Some(_) => None,
            None => {
                self.leaders.insert(*term, host.clone());
                None
            }
        }
    }

    fn finish(&mut self, _end: SimTime, _world: &WorldView<'_>) -> Option<String> {
        None
    }
}

/// Every member's commit index is backed by a majority of durable logs.
#[derive(Debug, Default)]
pub struct CommitHasMajority;

impl CommitHasMajority {
    fn check(world: &WorldView<'_>) -> Option<String> {
        let members = member_models(world);
        let majority = majority(members.len());
        for m in &members {
            let commit = m.durable_hard_state().commit;
            if commit == 0 {
                continue;
            }
            let Some(term) = m.durable_term(commit) else {
                return Some(format!(
                    "member {} committed index {commit} beyond its own log (last {})",
                    m.raft_id(),
                    m.durable_last_index()
                ));
            };
            let holders = members
                .iter()
                .filter(|o| o.durable_term(commit) == Some(term))
                .count();
            if holders < majority {
                return Some(format!(
                    "member {} committed index {commit} (term {term}) held by only {holders} of {} logs",
                    m.raft_id(),
                    members.len()
                ));
            }
        }
        None
    }
}

impl Invariant for CommitHasMajority {
    fn name(&self) -> &str {
        "etcd-commit-has-majority"
    }

    fn observe(&mut self, _entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        Self::check(world)
    }

    fn finish(&mut self, _end: SimTime, world: &WorldView<'_>) -> Option<String> {
        Self::check(world)
    }
}

/// No two members commit different entries at one index.
#[derive(Debug, Default)]
pub struct CommittedLogsAgree;

impl CommittedLogsAgree {
    fn check(world: &WorldView<'_>) -> Option<String> {
        let members = member_models(world);
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let upto = a
                    .durable_hard_state()
                    .commit
                    .min(b.durable_hard_state().commit);
                for index in 1..=upto {
                    let (ta, tb) = (a.durable_term(index), b.durable_term(index));
                    if ta != tb {
                        return Some(format!(
                            "members {} and {} committed different entries at index {index} (terms {ta:?} and {tb:?})",
                            a.raft_id(),
                            b.raft_id()
                        ));
                    }
                }
            }
        }
        None
    }
}

impl Invariant for CommittedLogsAgree {
    fn name(&self) -> &str {
        "etcd-committed-logs-agree"
    }

    fn observe(&mut self, entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        // The full comparison is linear in the log: run it when leadership changes.
        match &entry.kind {
            LogKind::Record {
                record: Record::Fact(fact),
                ..
            } if fact.get::<EtcdLeader>().is_some() => Self::check(world),
            _ => None,
        }
    }

    fn finish(&mut self, _end: SimTime, world: &WorldView<'_>) -> Option<String> {
        Self::check(world)
    }
}

/// Whether a `LinkSlow`/`LinkLossy` fault is in force. The liveness bounds below assume links
/// that deliver within their normal latency: with loss or added delay on the links a majority
/// depends on, pre-vote, vote and heartbeat rounds can fail again and again (each one costs a
/// randomised election timeout), so no finite bound holds. Only a heal ends the degradation.
#[derive(Debug, Default)]
struct LinkDegradation {
    in_force: bool,
}

impl LinkDegradation {
    /// Follows `entry` and answers whether links are degraded after it.
    fn observe(&mut self, entry: &LogEntry) -> bool {
        match &entry.kind {
            LogKind::Fault(Fault::LinkSlow { .. } | Fault::LinkLossy { .. }) => {
                self.in_force = true;
            }
            LogKind::Fault(Fault::Heal) => self.in_force = false,
            _ => {}
        }
        self.in_force
    }
}

/// A leader returns within a bound whenever a majority can elect one over healthy links.
///
/// The bound ([`EtcdSimConfig::reelection_bound`]) allows one split vote. Two members whose
/// tickers run nearly in phase and who draw the same randomised timeout campaign in the same
/// instant and split the vote again, as real etcd members can: each further term in the
/// stretch in which two or more members stood as candidates adds one more worst-case
/// randomised timeout (`2T`). A stretch whose terms fail without a split is held to the bound.
#[derive(Debug)]
pub struct LeaderRestored {
    bound: SimDuration,
    /// The worst randomised election timeout, `2T`: what one more split-vote round can cost.
    split_round: SimDuration,
    /// Since when a majority has been up and connected without a leader among it.
    leaderless_since: Option<SimTime>,
    /// Who stood as candidate in each term begun during the current leaderless stretch.
    candidates: BTreeMap<u64, BTreeSet<String>>,
    /// Slow or lossy links suspend the bound (see [`LinkDegradation`]).
    links: LinkDegradation,
}

impl LeaderRestored {
    /// Leaderless stretches of a healthy majority must end within `config`'s re-election bound.
    pub fn new(config: &EtcdSimConfig) -> Self {
        LeaderRestored {
            bound: config.reelection_bound(),
            split_round: config.election_timeout + config.election_timeout,
            leaderless_since: None,
            candidates: BTreeMap::new(),
            links: LinkDegradation::default(),
        }
    }

    /// Notes a member standing as candidate (a new term) during a leaderless stretch.
    fn note_candidate(&mut self, entry: &LogEntry) {
        let LogKind::Record {
            record: Record::Fact(fact),
            ..
        } = &entry.kind
        else {
            return;
        };
        if let Some(EtcdRole {
            host,
            role: RoleState::InTerm { role, term },
        }) = fact.get()
            && *role == role_name(StateRole::Candidate)
        {
            self.candidates
                .entry(*term)
                .or_default()
                .insert(host.clone());
        }
    }

    /// The bound for the stretch now ending: one more `2T` per split vote beyond the first.
    fn allowed(&self) -> (SimDuration, usize) {
        let splits = self.candidates.values().filter(|c| c.len() >= 2).count();
        let extra = u64::try_from(splits.saturating_sub(1)).unwrap_or(u64::MAX);
        let extra = SimDuration::from_nanos(self.split_round.as_nanos().saturating_mul(extra));
        (self.bound.saturating_add(extra), splits)
    }

    /// (a majority of members is running and mutually connected, one of them leads it).
    fn state(world: &WorldView<'_>) -> (bool, bool) {
        let ids = members(world);
        let majority = majority(ids.len());
        let host = |a: ActorId| world.directory.actor_host(a);
        let running = |a: ActorId| world.actor_running.get(a.0 as usize).copied() == Some(true);
        let mut healthy = false;
        let mut led = false;
        for &a in ids.iter().filter(|a| running(**a)) {
            let Some(ha) = host(a) else { continue };
            let group: Vec<ActorId> = ids
                .iter()
                .copied()
                .filter(|b| running(*b))
                .filter(|b| {
                    host(*b).is_some_and(|hb| {
                        hb == ha || (world.net.connected(ha, hb) && world.net.connected(hb, ha))
                    })
                })
                .collect();
            if group.len() < majority {
                continue;
            }
            healthy = true;
            let top_term = group
                .iter()
                .filter_map(|b| world.model::<EtcdMember>(*b)?.term())
                .max();
            led |= group.iter().any(|b| {
                world
                    .model::<EtcdMember>(*b)
                    .is_some_and(|m| m.is_leader() && m.term() == top_term)
            });
        }
        (healthy, led)
    }
}

impl Invariant for LeaderRestored {
    fn name(&self) -> &str {
        "etcd-leader-restored"
    }

    fn observe(&mut self, entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        if self.links.observe(entry) {
            // The clock for a leaderless stretch starts again at the heal.
            self.leaderless_since = None;
            return None;
        }
        let (healthy, led) = Self::state(world);
        match (healthy && !led, self.leaderless_since) {
            (true, None) => {
                self.leaderless_since = Some(entry.time);
                self.candidates.clear();
                self.note_candidate(entry);
                None
            }
            (true, Some(_)) => {
                self.note_candidate(entry);
                None
            }
            (false, Some(since)) => {
                self.leaderless_since = None;
                let gap = entry.time - since;
                let (allowed, splits) = self.allowed();
                (led && gap > allowed).then(|| {
                    format!(
                        "a connected majority went {gap} without a leader (bound {allowed}, \
                         {splits} split votes)"
                    )
                })
            }
            (false, None) => None,
        }
    }

    fn finish(&mut self, end: SimTime, _world: &WorldView<'_>) -> Option<String> {
        let since = self.leaderless_since?;
        let gap = end - since;
        let (allowed, splits) = self.allowed();
        (gap > allowed).then(|| {
            format!(
                "a connected majority had no leader for the last {gap} of the run (bound \
                 {allowed}, {splits} split votes)"
            )
        })
    }
}

/// Whether each member (in Raft-id order) sits in a connected group of running members that
/// holds a majority: two members are connected when packets flow both ways between their
/// hosts; groups are the transitive closure (a follower reaches the others through the leader).
fn in_majority(world: &WorldView<'_>) -> Vec<bool> {
    let ids = members(world);
    let majority = majority(ids.len());
    let running = |a: ActorId| world.actor_running.get(a.0 as usize).copied() == Some(true);
    let linked = |a: ActorId, b: ActorId| match (
        world.directory.actor_host(a),
        world.directory.actor_host(b),
    ) {
        (Some(ha), Some(hb)) => {
            ha == hb || (world.net.connected(ha, hb) && world.net.connected(hb, ha))
        }
        _ => false,
    };
    // Union of reachable running members, by a bounded fixed-point over at most n rounds.
    let mut group: Vec<usize> = (0..ids.len()).collect();
    for _ in 0..ids.len() {
        let mut changed = false;
        for i in 0..ids.len() {
            for j in 0..ids.len() {
                if running(ids[i]) && running(ids[j]) && linked(ids[i], ids[j]) {
                    let g = group[i].min(group[j]);
                    if group[i] != g || group[j] != g {
                        group[i] = g;
                        group[j] = g;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    (0..ids.len())
        .map(|i| running(ids[i]) && group.iter().filter(|g| **g == group[i]).count() >= majority)
        .collect()
}

fn is_membership_or_network_change(entry: &LogEntry) -> bool {
    matches!(
        entry.kind,
        LogKind::Fault(_) | LogKind::ActorUp(_) | LogKind::ActorDown(_)
    )
}

/// A member cut off from a majority acknowledges no write it accepted while cut off.
///
/// Why the rule is stated on the proposal time: messages are routed when sent, so acks a
/// majority sent before a cut may still arrive after it, and a write proposed before the cut
/// may legitimately commit just after it. A write proposed after the cut began can only commit
/// once messages cross the cut again, i.e. after it ends (or the member rejoins a majority).
#[derive(Debug, Default)]
pub struct MinorityWritesUnavailable {
    /// Per member: since when it has been cut off, if it is now.
    cut_since: Vec<Option<SimTime>>,
    /// Per member: finished cut-off stretches `[start, end)`.
    stretches: Vec<Vec<(SimTime, SimTime)>>,
    /// Per member: acks already judged.
    judged: Vec<usize>,
}

impl MinorityWritesUnavailable {
    fn judge(&mut self, world: &WorldView<'_>) -> Option<String> {
        let models = member_models(world);
        self.judged.resize(models.len(), 0);
        self.cut_since.resize(models.len(), None);
        self.stretches.resize(models.len(), Vec::new());
        for (i, m) in models.iter().enumerate() {
            let acks: &[WriteAck] = m.write_acks();
            let new = acks.get(self.judged[i]..).unwrap_or_default();
            self.judged[i] = acks.len();
            let open = self.cut_since[i].map(|s| (s, SimTime::MAX));
            for ack in new {
                let bad = self.stretches[i]
                    .iter()
                    .copied()
                    .chain(open)
                    .find(|(start, end)| ack.proposed > *start && ack.acked < *end);
                if let Some((start, _)) = bad {
                    return Some(format!(
                        "member {} acknowledged at {} a write it accepted at {} while cut off from a majority (since {start})",
                        m.raft_id(),
                        ack.acked,
                        ack.proposed
                    ));
                }
            }
        }
        None
    }
}

impl Invariant for MinorityWritesUnavailable {
    fn name(&self) -> &str {
        "etcd-minority-writes-unavailable"
    }

    fn observe(&mut self, entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        // Judge what happened up to now under the cut state in force until now, then update
        // the cut state if this entry changed who runs or who reaches whom.
        let verdict = self.judge(world);
        if is_membership_or_network_change(entry) {
            for (i, ok) in in_majority(world).into_iter().enumerate() {
                match (ok, self.cut_since[i]) {
                    (false, None) => self.cut_since[i] = Some(entry.time),
                    (true, Some(since)) => {
                        self.stretches[i].push((since, entry.time));
                        self.cut_since[i] = None;
                    }
                    _ => {}
                }
            }
        }
        verdict
    }

    fn finish(&mut self, _end: SimTime, world: &WorldView<'_>) -> Option<String> {
        self.judge(world)
    }
}

/// After any fault, crash, restart or heal that leaves a majority of members running and
/// connected, a write is acknowledged again within [`WritesRestored::bound`], provided
/// clients keep sending writes and nothing else happens meanwhile.
///
/// The bound: the cluster has a leader again within [`EtcdSimConfig::reelection_bound`]
/// (derived from etcd's election timeout: the worst randomised timeout `2T` after the last
/// heartbeat, a vote round and one split-vote retry). A client may then still be waiting on a
/// request it sent to a member that cannot answer (it gives up after its deadline) and may
/// try each of the members outside the majority before reaching one inside it: at most
/// `members - majority + 1` further deadlines (each followed by the client's think time).
/// A round-robin client (clientv3) also keeps a member that went silent in its rotation until
/// keepalive drops the connection, so the bound adds keepalive's time and timeout and one more
/// deadline; with no keepalive there is no bound, and the invariant does not judge.
#[derive(Debug)]
pub struct WritesRestored {
    reelection: SimDuration,
    /// Membership or network changes after the first acknowledged write: (when, whether a
    /// connected majority existed right after, whether a slow or lossy link was in force).
    changes: Vec<(SimTime, bool, bool)>,
    /// Slow or lossy links suspend the bound (see [`LinkDegradation`]).
    links: LinkDegradation,
}

impl WritesRestored {
    /// Judged against `config`'s re-election bound.
    pub fn new(config: &EtcdSimConfig) -> Self {
        WritesRestored {
            reelection: config.reelection_bound(),
            changes: Vec::new(),
            links: LinkDegradation::default(),
        }
    }

    /// The bound for `members` members and clients whose slowest deadline plus think time
    /// is `client_step`.
    pub fn bound(&self, members: usize, client_step: SimDuration) -> SimDuration {
        let outside = tolerated_failures(members) + 1;
        let mut b = self.reelection;
        for _ in 0..outside {
            b = b + client_step;
        }
        b
    }
}

impl WritesRestored {
    /// The bound for these clients. A round-robin client keeps a member that went silent
    /// (crashed host, pause, cut link: no reset) in its rotation until keepalive drops the
    /// connection, `time + timeout` after it last heard from it, and every call it sends
    /// there meanwhile waits out its deadline; so the bound grows by that detection time.
    /// A round-robin client without keepalive (clientv3's default) may keep the silent member
    /// for good, and then there is no bound to hold the model to.
    fn bound_for(
        &self,
        clients: &[&EtcdClient],
        members: usize,
        step: SimDuration,
    ) -> Option<SimDuration> {
        let mut detection = SimDuration::ZERO;
        for c in clients {
            let session = c.config().session;
            // A client pinned to one member has no rotation to keep a silent member in.
            if session.balancer == Balancer::RoundRobin && c.config().pin_endpoint.is_none() {
                let k = session.keepalive?;
                detection = detection.max(k.time + k.timeout + step);
            }
        }
        Some(self.bound(members, step) + detection)
    }
}

impl Invariant for WritesRestored {
    fn name(&self) -> &str {
        "etcd-writes-restored"
    }

    fn observe(&mut self, entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        let degraded = self.links.observe(entry);
        if is_membership_or_network_change(entry) {
            let majority = in_majority(world).iter().any(|b| *b);
            self.changes.push((entry.time, majority, degraded));
        }
        None
    }

    fn finish(&mut self, end: SimTime, world: &WorldView<'_>) -> Option<String> {
        let mut acks: Vec<WriteAck> = member_models(world)
            .iter()
            .flat_map(|m| m.write_acks().iter().copied())
            .collect();
        acks.sort_by_key(|a| (a.acked, a.proposed));
        let first_ack = acks.first()?.acked;
        let clients: Vec<&EtcdClient> = world
            .directory
            .actors_named(CLIENT_MODEL_NAME)
            .filter_map(|a| world.model::<EtcdClient>(a))
            .collect();
        let step = clients
            .iter()
            .map(|c| c.config().timeout + c.config().think)
            .max()
            .unwrap_or(SimDuration::ZERO);
        let bound = self.bound_for(&clients, member_models(world).len(), step)?;
        let mut write_calls: Vec<SimTime> = clients
            .iter()
            .flat_map(|c| c.calls())
            .filter(|o| o.may_write())
            .map(|o| SimTime::from_nanos(o.call_time))
            .collect();
        write_calls.sort();
        for (i, &(at, majority, degraded)) in self.changes.iter().enumerate() {
            let deadline = at + bound;
            let next = self.changes.get(i + 1).map_or(end, |c| c.0);
            // Only a change after writes first worked, that leaves a healthy majority, on
            // healthy links, undisturbed for the whole bound, with writes sent meanwhile.
            if at <= first_ack || !majority || degraded || next < deadline || end < deadline {
                continue;
            }
            let sent = write_calls
                .iter()
                .any(|t| *t >= at && *t + step <= deadline);
            if !sent {
                continue;
            }
            // A write proposed after the change: one proposed before it and committed by the
            // new leader (with its first entry of the term) shows a leader, not write service.
            let acked = acks.iter().any(|a| a.proposed > at && a.acked <= deadline);
            if !acked {
                return Some(format!(
                    "no write acknowledged in the {bound} after the change at {at}, though a majority of members ran connected and clients kept writing"
                ));
            }
        }
        None
    }
}

/// The merged client history is linearizable.
#[derive(Debug, Default)]
pub struct ClientHistoryLinearizable;

impl Invariant for ClientHistoryLinearizable {
    fn name(&self) -> &str {
        "etcd-linearizable"
    }

    fn observe(&mut self, _entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        None
    }

    fn finish(&mut self, _end: SimTime, world: &WorldView<'_>) -> Option<String> {
        let operations = world
            .directory
            .actors_named(CLIENT_MODEL_NAME)
            .filter_map(|a| world.model::<EtcdClient>(a))
            .flat_map(|c| c.calls())
            .collect();
        match check(&History::new(operations), &CheckConfig::default()) {
            Ok(Verdict::Linearizable) => None,
            Ok(Verdict::NotLinearizable(v)) => Some(format!("client history: {v:?}")),
            Ok(Verdict::Unknown { keys }) => Some(format!(
                "the checker's budget ran out on keys {keys:?}: shorten the run or the workload"
            )),
            Err(e) => Some(format!("client history is malformed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Directory, FactRecord, HostId, Model, Observer};
    use crate::net::{LinkConfig, Network};
    use raft::eraftpb::Entry;

    fn leader(t_s: u64, host: &str, term: u64) -> LogEntry {
        LogEntry {
            time: SimTime::ZERO + SimDuration::from_secs(t_s),
            kind: LogKind::Record {
                observer: Observer::Actor(0),
                record: Record::Fact(FactRecord::new(EtcdLeader {
                    host: host.into(),
                    term,
                })),
            },
        }
    }

    /// Three members with durable logs of `(index, term)` entries and commit indexes.
    fn members_with(logs: [(&[(u64, u64)], u64); 3]) -> Vec<EtcdMember> {
        logs.iter()
            .zip(1u64..)
            .map(|((entries, commit), id)| {
                let m = EtcdMember::new(EtcdSimConfig::default(), id, 3);
                let entries: Vec<Entry> = entries
                    .iter()
                    .map(|&(index, term)| Entry {
                        index,
                        term,
                        ..Entry::default()
                    })
                    .collect();
                let mut disk = m.disk().wl();
                disk.append(&entries).expect("append");
                let hs = disk.mut_hard_state();
                hs.term = entries.last().map_or(0, |e| e.term);
                hs.commit = *commit;
                drop(disk);
                m
            })
            .collect()
    }

    /// Runs `check` over a world of `members` (hosts m1..m3, one member actor each).
    fn judge(
        members: &[EtcdMember],
        check: fn(&WorldView<'_>) -> Option<String>,
    ) -> Option<String> {
        let dir = Directory {
            hosts: vec!["m1".into(), "m2".into(), "m3".into()],
            actors: (0..3).map(|h| (HostId(h), MODEL_NAME.to_owned())).collect(),
            reboots: vec![0; 3],
        };
        let net = Network::new(0, LinkConfig::default());
        let models: Vec<&dyn Model> = members.iter().map(|m| m as &dyn Model).collect();
        let world = WorldView {
            directory: &dir,
            host_up: &[true; 3],
            actor_running: &[true; 3],
            net: &net,
            models: &models,
        };
        check(&world)
    }

    #[test]
    fn commit_has_majority_fires_on_an_entry_only_one_log_holds() {
        // Entry 2 of term 1 is on members 1 and 2: committed by a majority.
        let sound = members_with([
            (&[(1, 1), (2, 1)], 2),
            (&[(1, 1), (2, 1)], 2),
            (&[(1, 1)], 1),
        ]);
        assert_eq!(judge(&sound, CommitHasMajority::check), None);
        // Member 1 commits entry 3, which only its own log holds.
        let planted = members_with([
            (&[(1, 1), (2, 1), (3, 1)], 3),
            (&[(1, 1), (2, 1)], 2),
            (&[(1, 1)], 1),
        ]);
        assert_eq!(
            judge(&planted, CommitHasMajority::check).as_deref(),
            Some("member 1 committed index 3 (term 1) held by only 1 of 3 logs")
        );
        // A commit beyond the member's own log.
        let beyond = members_with([(&[(1, 1)], 2), (&[(1, 1)], 1), (&[(1, 1)], 1)]);
        assert_eq!(
            judge(&beyond, CommitHasMajority::check).as_deref(),
            Some("member 1 committed index 2 beyond its own log (last 1)")
        );
    }

    #[test]
    fn committed_logs_agree_fires_on_two_committed_entries_of_different_terms_at_one_index() {
        let agree = members_with([
            (&[(1, 1), (2, 2)], 2),
            (&[(1, 1), (2, 2)], 2),
            (&[(1, 1), (2, 3)], 1),
        ]);
        // Member 3's entry 2 differs, but member 3 has not committed it: no violation.
        assert_eq!(judge(&agree, CommittedLogsAgree::check), None);
        let planted = members_with([
            (&[(1, 1), (2, 2)], 2),
            (&[(1, 1), (2, 2)], 2),
            (&[(1, 1), (2, 3)], 2),
        ]);
        assert_eq!(
            judge(&planted, CommittedLogsAgree::check).as_deref(),
            Some(
                "members 1 and 3 committed different entries at index 2 (terms Some(2) and Some(3))"
            )
        );
    }

    #[test]
    fn single_leader_per_term_fires_on_a_second_leader_in_one_term() {
        let dir = Directory::default();
        let net = Network::new(0, LinkConfig::default());
        let world = WorldView {
            directory: &dir,
            host_up: &[],
            actor_running: &[],
            net: &net,
            models: &[],
        };
        let mut check = SingleLeaderPerTerm::default();
        assert_eq!(check.observe(&leader(1, "n1", 2), &world), None);
        assert_eq!(check.observe(&leader(2, "n1", 2), &world), None);
        assert_eq!(check.observe(&leader(3, "n2", 3), &world), None);
        let found = check.observe(&leader(4, "n3", 3), &world);
        assert_eq!(
            found.as_deref(),
            Some("n3 became leader in term 3, which n2 already leads")
        );
    }
}
