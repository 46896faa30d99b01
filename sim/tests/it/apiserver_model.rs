//! kube-apiservers (`sim::models::kube::apiserver`) on the default topology's control-plane
//! hosts, each given its local etcd member as kubeadm does, behind keepalived and haproxy,
//! with the outside probe asking `/readyz` through the VIP. Expected times come from the
//! cited constants (etcd check timeout, haproxy interval and fall).

use sim::engine::{Address, Ctx, Event, Model, NullSink, SimDuration, SimTime, Simulation};
use sim::models::kube::api::{ApiError, ApiOp, ApiRequest, ApiResponse, LeaseRecord};
use sim::models::vip::HAPROXY_MODEL;

use super::kube_support::etcd_and_apiservers;
use sim::models::kube::etcd_check::ETCD_CHECK_TIMEOUT;
use sim::models::vip::haproxy::Haproxy;
use sim::models::vip::probe::ApiProbe;
use sim::models::vip::setup::{PROBE_INTERVAL, ProbeAt, VipActors, add_vip};
use topology::fault::Fault;

const MASTER: &str = "micklethefickle";

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

struct World {
    sim: Simulation,
    vip: VipActors,
    cluster: topology::Cluster,
}

fn world(seed: u64) -> World {
    let (mut sim, cluster, _) = etcd_and_apiservers(seed);
    let probe = ProbeAt {
        host: "blackboar",
        from: PROBE_INTERVAL,
    };
    let vip = add_vip(&mut sim, &cluster, Some(probe)).expect("vip");
    World { sim, vip, cluster }
}

impl World {
    fn probe(&self) -> &ApiProbe {
        self.sim
            .model::<ApiProbe>(self.vip.probe.expect("probe"))
            .expect("probe")
    }

    fn ok_ratio(&self, from: SimTime, to: SimTime) -> (usize, usize) {
        self.probe().answered(from, to)
    }

    fn haproxy(&self, host: &str) -> &Haproxy {
        let id = self
            .vip
            .haproxy
            .iter()
            .find(|(h, _)| h == host)
            .expect("h")
            .1;
        self.sim.model::<Haproxy>(id).expect("haproxy")
    }

    fn interval(&self) -> SimDuration {
        let hc = self.cluster.spec.api_endpoint.health_check.clone();
        SimDuration::from_secs(u64::from(hc.expect("health check").interval_seconds))
    }

    fn fall(&self) -> u64 {
        let hc = self.cluster.spec.api_endpoint.health_check.clone();
        u64::from(hc.expect("health check").fall)
    }
}

fn etcd_fault(host: &str) -> Fault {
    Fault::ProcessStop {
        host: host.to_owned(),
        process: "etcd".to_owned(),
    }
}

#[test]
fn a_healthy_control_plane_answers_readyz_through_the_vip() {
    let mut w = world(1);
    w.sim.run_until(secs(30), &mut NullSink);
    w.sim.finish(&mut NullSink);
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    let (ok, sent) = w.ok_ratio(secs(10), secs(30));
    assert!(sent > 150);
    assert_eq!(ok, sent, "every probe after start-up answered 200");
}

/// kubeadm gives each apiserver only its local etcd member: with that member stopped the
/// apiserver's `/readyz` fails although etcd keeps its quorum, and every haproxy takes the
/// apiserver out, while the API keeps answering through the VIP from the other two.
#[test]
fn an_apiserver_whose_local_etcd_is_down_is_taken_out_and_the_api_stays_up() {
    let mut w = world(2);
    w.sim
        .schedule_fault(secs(20), etcd_fault(MASTER))
        .expect("fault");
    w.sim.run_until(secs(60), &mut NullSink);
    w.sim.finish(&mut NullSink);
    // Taken out within: the check cache (half the timeout), one probe timeout each for the
    // two etcd checks, then `fall` failed haproxy checks one interval apart.
    let bound = secs(20)
        + SimDuration::from_nanos(ETCD_CHECK_TIMEOUT.as_nanos() / 2)
        + ETCD_CHECK_TIMEOUT
        + ETCD_CHECK_TIMEOUT
        + SimDuration::from_nanos(w.interval().as_nanos() * w.fall());
    for (host, _) in &w.vip.haproxy {
        let h = w.haproxy(host);
        assert_eq!(h.server_up(MASTER), Some(false), "{host}");
        let (t, _, _) = h
            .transitions
            .iter()
            .find(|(t, s, up)| *t >= secs(20) && s == MASTER && !up)
            .expect("taken out");
        assert!(*t <= bound, "{host}: {t} > {bound}");
    }
    let (ok, sent) = w.ok_ratio(bound + SimDuration::from_secs(1), secs(60));
    assert_eq!(ok, sent, "the other apiservers answer");
    assert!(sent > 100);
}

/// With two of three members stopped etcd has no quorum: every apiserver's `/readyz` fails,
/// haproxy has no server left and the API is down through the VIP; it comes back once a
/// member returns and a leader is elected.
#[test]
fn without_an_etcd_quorum_no_apiserver_is_ready_and_the_api_is_down() {
    let mut w = world(3);
    for host in ["cloudserver1", "cloudserver2"] {
        w.sim
            .schedule_fault(secs(20), etcd_fault(host))
            .expect("fault");
    }
    let back = Fault::ProcessStart {
        host: "cloudserver1".to_owned(),
        process: "etcd".to_owned(),
    };
    w.sim.schedule_fault(secs(60), back).expect("fault");
    w.sim.run_until(secs(100), &mut NullSink);
    w.sim.finish(&mut NullSink);
    let (ok, sent) = w.ok_ratio(secs(40), secs(60));
    assert_eq!(ok, 0, "{ok} of {sent} probes answered without quorum");
    assert!(sent > 100);
    let (ok, sent) = w.ok_ratio(secs(85), secs(100));
    assert_eq!(ok, sent, "back after the member returned");
}

/// A client that calls the Lease API through the VIP: at 10 s it creates a Lease, then it
/// updates it every second with the version it last got, and once with a stale version.
#[derive(Debug)]
struct LeaseClient {
    vip: Address,
    next: u64,
    version: Option<i64>,
    results: Vec<(SimTime, Result<i64, ApiError>)>,
    stale_sent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Call;

impl Model for LeaseClient {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => {
                ctx.set_timer(SimDuration::from_secs(10), Call);
            }
            Event::Timer { .. } => {
                ctx.set_timer(SimDuration::from_secs(1), Call);
                self.next += 1;
                // The fifth call replays the first version: a stale update.
                let stale = self.next == 5 && !self.stale_sent;
                self.stale_sent |= stale;
                let resource_version = if stale { Some(1) } else { self.version };
                let record = LeaseRecord {
                    holder: "probe".into(),
                    duration: SimDuration::from_secs(15),
                    acquired: SimTime::ZERO,
                    renewed: ctx.now(),
                    transitions: 0,
                };
                let op = ApiOp::put("default", "probe", &record, resource_version);
                let request = ApiRequest { id: self.next, op };
                ctx.send_to_service(self.vip.clone(), HAPROXY_MODEL, request);
            }
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiResponse>() {
                    let result = r.result.clone().map(|o| o.resource_version);
                    if let Ok(v) = &result {
                        self.version = Some(*v);
                    }
                    self.results.push((ctx.now(), result));
                }
            }
            _ => {}
        }
    }

    fn on_crash(&mut self) {}
}

#[test]
fn lease_calls_through_the_vip_create_update_and_refuse_a_stale_version() {
    let mut w = world(4);
    let h = w.sim.host_id("cloudserver3").expect("host");
    let client = LeaseClient {
        vip: Address::new(w.cluster.spec.api_endpoint.vip.to_string()),
        next: 0,
        version: None,
        results: Vec::new(),
        stale_sent: false,
    };
    let client = w
        .sim
        .add_actor(h, "lease-client", Box::new(client))
        .expect("client");
    w.sim.run_until(secs(30), &mut NullSink);
    let c = w.sim.model::<LeaseClient>(client).expect("client");
    let results: Vec<&Result<i64, ApiError>> = c.results.iter().map(|(_, r)| r).collect();
    assert!(results.len() >= 15, "{results:?}");
    assert!(results[0].is_ok(), "created: {results:?}");
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(ApiError::Conflict)))
        .count();
    assert_eq!(conflicts, 1, "only the stale update conflicts: {results:?}");
    let mut versions: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let n = versions.len();
    versions.dedup();
    assert_eq!(versions.len(), n, "every update got a new version");
    assert!(versions.windows(2).all(|v| v[0] < v[1]));
}
