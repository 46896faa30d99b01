//! keepalived 2.2 running one VRRPv2 instance for the API VIP, as `spofless render` configures
//! it: unicast adverts to the other control-plane hosts, a `vrrp_script` that asks the local
//! haproxy for the health-check path, preemption on (keepalived's default).
//!
//! The rules, RFC 3768 section 6.4 as keepalived 2.2.7 implements them (`vrrp.c`,
//! `vrrp_scheduler.c`; read at tag v2.2.7 and measured in network namespaces):
//! - Every instance starts as backup (`vrrp_init_state`: only priority 255 starts as master,
//!   `state MASTER` does not) after removing the VIP from its interface, and becomes master
//!   when no advert reset its timer for `3 x advert_int + (256 - priority) / 256` s
//!   ([`vrrp::master_down_interval`]).
//! - A new master advertises, then adds the VIP and sends gratuitous ARPs, again
//!   `vrrp_garp_master_delay` (5 s) later; then it advertises every `advert_int`, no jitter.
//! - A backup resets its timer on an advert whose priority is at least its own (ties too); a
//!   lower one is discarded, so with preemption on (the default) it takes over after the
//!   master-down interval. A priority-0 advert sets the timer to the skew time.
//! - A master that hears a higher priority, or an equal one from a higher address, drops the
//!   VIP and becomes backup without a word. One that hears a lower priority (or priority 0)
//!   answers at once with an advert and gratuitous ARPs: that is how a split brain ends
//!   within milliseconds of a heal.
//! - SIGTERM: a master sends one priority-0 advert and removes the VIP. SIGKILL of every
//!   keepalived process leaves the VIP on the interface, so the host keeps answering on it
//!   until another host claims it.
//! - The `vrrp_script` runs at start and then every `interval` from the previous start (runs
//!   can overlap in 2.2.7). Until its first result it counts as neither good nor failed; the
//!   first result sets its state, then `fall` failures in a row mark it failed and `rise`
//!   successes good. While failed, the advertised priority is lowered by `weight`; a master
//!   only shows it in its next periodic advert.

use std::collections::BTreeSet;
use std::net::IpAddr;

use topology::policy::vrrp;
use topology::{Cluster, Host};

use super::facts::VipMaster;
use super::msg::{HttpGet, HttpReply, VrrpAdvert};
use super::{HAPROXY_MODEL, KEEPALIVED_MODEL};
use crate::engine::{ActorId, Address, Ctx, Event, Model, SimDuration, TimerId};

/// keepalived's `vrrp_garp_master_delay`: a master repeats its gratuitous ARPs this long after
/// it took over.
pub const GARP_MASTER_DELAY: SimDuration = SimDuration::from_secs(5);
/// How long the rendered check script waits for haproxy (`curl --max-time`, the renderer's
/// `CHECK_SCRIPT_TIMEOUT_S`, kubeadm's HA guide): a silent haproxy fails the check then.
pub const CHECK_SCRIPT_TIMEOUT: SimDuration = SimDuration::from_secs(2);

/// The `vrrp_script` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackScript {
    /// Path the script fetches through the local haproxy.
    pub path: String,
    /// Seconds between runs.
    pub interval: SimDuration,
    /// Failures in a row that mark it failed.
    pub fall: u32,
    /// Successes in a row that mark it good again.
    pub rise: u32,
    /// Priority taken off while it is failed.
    pub weight: u32,
}

/// One host's keepalived configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeepalivedConfig {
    /// The virtual IP.
    pub vip: Address,
    /// `advert_int`.
    pub advert: SimDuration,
    /// Configured priority.
    pub priority: u32,
    /// This host's address (`unicast_src_ip`), the tie-breaker between equal priorities.
    pub address: IpAddr,
    /// Hosts in `unicast_peer`.
    pub peers: Vec<String>,
    /// The tracked health check, if the topology has one.
    pub script: Option<TrackScript>,
}

impl KeepalivedConfig {
    /// What `spofless render` writes for `host` (`None` if it is not a control-plane host).
    pub fn for_host(cluster: &Cluster, host: &Host) -> Option<Self> {
        let order = vrrp::priority_order(cluster);
        let rank = order.iter().position(|h| h.name == host.name)?;
        let api = &cluster.spec.api_endpoint;
        let script = api.health_check.as_ref().map(|hc| TrackScript {
            path: hc.path.clone(),
            interval: SimDuration::from_secs(u64::from(hc.interval_seconds.max(1))),
            fall: hc.fall.max(1),
            rise: hc.rise.max(1),
            weight: vrrp::track_weight(order.len()),
        });
        Some(KeepalivedConfig {
            vip: Address::new(api.vip.to_string()),
            advert: SimDuration::from_secs(u64::from(api.vrrp.advert_interval_seconds.max(1))),
            priority: vrrp::base_priority(rank),
            address: host.address,
            peers: order
                .iter()
                .filter(|h| h.name != host.name)
                .map(|h| h.name.clone())
                .collect(),
            script,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeepalivedTimer {
    /// Backup: no advert came in time.
    MasterDown,
    /// Master: time to advertise.
    Advert,
    /// Time to run the track script.
    Script,
    /// The running script's `curl --max-time` ran out.
    ScriptTimeout(u64),
    /// A master's second round of gratuitous ARPs.
    GarpRepeat,
}

/// VRRP state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VrrpState {
    /// Not running.
    Down,
    /// Waiting for the master's adverts.
    Backup,
    /// Holding the VIP.
    Master,
}

/// The track script's state and counters.
#[derive(Clone, Debug, Default)]
struct ScriptState {
    /// `None` until the first result.
    failed: Option<bool>,
    /// Results in a row that disagree with `failed`.
    streak: u32,
    /// Runs in flight.
    running: BTreeSet<u64>,
    runs: u64,
}

/// keepalived on one control-plane host.
#[derive(Debug)]
pub struct Keepalived {
    config: KeepalivedConfig,
    state: VrrpState,
    peers: Vec<ActorId>,
    timer: Option<TimerId>,
    script: ScriptState,
    /// Times this instance became master (for tests and reports).
    pub masterships: u32,
}

impl Keepalived {
    /// keepalived with `config`.
    pub fn new(config: KeepalivedConfig) -> Self {
        Keepalived {
            config,
            state: VrrpState::Down,
            peers: Vec::new(),
            timer: None,
            script: ScriptState::default(),
            masterships: 0,
        }
    }

    /// Its VRRP state.
    pub fn state(&self) -> VrrpState {
        self.state
    }

    /// The priority it advertises now.
    pub fn effective_priority(&self) -> u32 {
        let weight = self.config.script.as_ref().map_or(0, |s| s.weight);
        vrrp::effective_priority(
            self.config.priority,
            self.script.failed == Some(true),
            weight,
        )
    }

    fn rearm(&mut self, ctx: &mut Ctx<'_>, after: SimDuration, tag: KeepalivedTimer) {
        if let Some(t) = self.timer.take() {
            ctx.cancel_timer(t);
        }
        self.timer = Some(ctx.set_timer(after, tag));
    }

    fn master_down_interval(&self) -> SimDuration {
        let advert = std::time::Duration::from_nanos(self.config.advert.as_nanos());
        vrrp::master_down_interval(advert, self.effective_priority()).into()
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        let dir = ctx.directory();
        self.peers = self
            .config
            .peers
            .iter()
            .filter_map(|h| dir.host_id(h))
            .filter_map(|h| dir.actor_on(h, KEEPALIVED_MODEL))
            .collect();
        self.script = ScriptState::default();
        // A VIP left on the interface by a killed predecessor is removed at start.
        ctx.release(self.config.vip.clone());
        self.become_backup(ctx, self.master_down_interval());
        if self.config.script.is_some() {
            ctx.set_timer(SimDuration::ZERO, KeepalivedTimer::Script);
        }
    }

    fn become_backup(&mut self, ctx: &mut Ctx<'_>, wait: SimDuration) {
        if self.state == VrrpState::Master {
            ctx.release(self.config.vip.clone());
        }
        self.state = VrrpState::Backup;
        self.rearm(ctx, wait, KeepalivedTimer::MasterDown);
    }

    fn become_master(&mut self, ctx: &mut Ctx<'_>) {
        self.state = VrrpState::Master;
        self.masterships += 1;
        let host = ctx.directory().host_name(ctx.host()).to_owned();
        ctx.fact(VipMaster { host });
        self.advertise(ctx, self.effective_priority());
        ctx.claim(self.config.vip.clone());
        ctx.set_timer(GARP_MASTER_DELAY, KeepalivedTimer::GarpRepeat);
        self.rearm(ctx, self.config.advert, KeepalivedTimer::Advert);
    }

    fn advertise(&self, ctx: &mut Ctx<'_>, priority: u32) {
        for peer in &self.peers {
            ctx.send(
                *peer,
                VrrpAdvert {
                    priority,
                    source: self.config.address,
                },
            );
        }
    }

    fn on_advert(&mut self, ctx: &mut Ctx<'_>, advert: &VrrpAdvert) {
        let mine = self.effective_priority();
        match self.state {
            VrrpState::Down => {}
            VrrpState::Backup => {
                if advert.priority == 0 {
                    let skew = vrrp::skew_time(mine).into();
                    self.rearm(ctx, skew, KeepalivedTimer::MasterDown);
                } else if advert.priority >= mine {
                    let wait = self.master_down_interval();
                    self.rearm(ctx, wait, KeepalivedTimer::MasterDown);
                }
            }
            VrrpState::Master => {
                let higher = advert.priority > mine
                    || (advert.priority == mine && advert.source > self.config.address);
                if higher {
                    let wait = self.master_down_interval();
                    self.become_backup(ctx, wait);
                } else {
                    // Assert mastership at once: advert, gratuitous ARPs, a fresh advert timer.
                    self.advertise(ctx, mine);
                    ctx.claim(self.config.vip.clone());
                    self.rearm(ctx, self.config.advert, KeepalivedTimer::Advert);
                }
            }
        }
    }

    fn run_script(&mut self, ctx: &mut Ctx<'_>) {
        let Some(script) = self.config.script.clone() else {
            return;
        };
        ctx.set_timer(script.interval, KeepalivedTimer::Script);
        self.script.runs += 1;
        let run = self.script.runs;
        self.script.running.insert(run);
        match ctx.directory().actor_on(ctx.host(), HAPROXY_MODEL) {
            Some(haproxy) => {
                let get = HttpGet {
                    id: run,
                    path: script.path.clone(),
                };
                ctx.send(haproxy, get);
                ctx.set_timer(CHECK_SCRIPT_TIMEOUT, KeepalivedTimer::ScriptTimeout(run));
            }
            None => self.script_result(run, false),
        }
    }

    /// Counts run `run`'s result towards `fall` or `rise`.
    fn script_result(&mut self, run: u64, ok: bool) {
        if !self.script.running.remove(&run) {
            return;
        }
        let Some(script) = &self.config.script else {
            return;
        };
        let Some(failed) = self.script.failed else {
            // The first result decides at once.
            self.script.failed = Some(!ok);
            return;
        };
        if ok != failed {
            self.script.streak = 0;
            return;
        }
        self.script.streak += 1;
        if self.script.streak >= if failed { script.rise } else { script.fall } {
            self.script.failed = Some(!failed);
            self.script.streak = 0;
        }
    }
}

impl Model for Keepalived {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => self.start(ctx),
            Event::Timer { id, tag } => match tag.downcast_ref::<KeepalivedTimer>() {
                Some(KeepalivedTimer::MasterDown) if Some(id) == self.timer => {
                    self.timer = None;
                    if self.state == VrrpState::Backup {
                        self.become_master(ctx);
                    }
                }
                Some(KeepalivedTimer::Advert) if Some(id) == self.timer => {
                    self.timer = None;
                    if self.state == VrrpState::Master {
                        self.advertise(ctx, self.effective_priority());
                        self.rearm(ctx, self.config.advert, KeepalivedTimer::Advert);
                    }
                }
                Some(KeepalivedTimer::Script) => self.run_script(ctx),
                Some(KeepalivedTimer::ScriptTimeout(run)) => self.script_result(*run, false),
                Some(KeepalivedTimer::GarpRepeat) if self.state == VrrpState::Master => {
                    ctx.claim(self.config.vip.clone());
                }
                _ => {}
            },
            Event::Message { msg, .. } => {
                if let Some(a) = msg.downcast_ref::<VrrpAdvert>() {
                    self.on_advert(ctx, a);
                } else if let Some(r) = msg.downcast_ref::<HttpReply>() {
                    self.script_result(r.id, r.status == 200);
                }
            }
            Event::Refused { msg, .. } => {
                // curl to a dead haproxy: connection refused, the check fails at once.
                if let Some(g) = msg.downcast_ref::<HttpGet>() {
                    self.script_result(g.id, false);
                }
            }
            Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        // SIGKILL or a host crash: no goodbye advert, and the VIP stays where it was.
        self.state = VrrpState::Down;
        self.timer = None;
        self.script = ScriptState::default();
    }

    fn terminate(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.state == VrrpState::Master {
            self.advertise(ctx, 0);
            ctx.release(self.config.vip.clone());
        }
        self.state = VrrpState::Down;
        ctx.exit();
        true
    }
}
