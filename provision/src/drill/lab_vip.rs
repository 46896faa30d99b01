//! The VIP holder's crash as a drill on the applied lab: which control-plane guest holds the
//! VIP (read over SSH, as the apply gate reads it), a TCP connect probe to the VIP's port from
//! this machine (inside the isolated lab's namespace), the holder powered off through the one
//! injector, the time until the VIP accepts connections again and who holds it, then the
//! holder booted and the drill waiting until it holds the VIP alone again (keepalived
//! preempts: the rendered instances do not set `nopreempt`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;
use topology::fault::Fault;

use super::tcp_probe::{Sample, TcpProbe, first_ok_after, seconds, seconds_opt};
use crate::apply::desired::VipCheck;
use crate::apply::gate::vip_holders;
use crate::host::{Host, SshHost};
use crate::inject::lab::LabFaults;
use crate::inject::{FaultTarget, InjectError};
use crate::lab::LabError;
use crate::lab::guest::{Guests, runtime};
use crate::lab::ops::Lab;

/// How the drill runs.
#[derive(Debug, Clone, Copy)]
pub struct VipDrillConfig {
    /// Probing before the fault.
    pub settle: Duration,
    /// How long the holder stays off.
    pub hold: Duration,
    /// One probe attempt every this long.
    pub probe_every: Duration,
    /// Bound on one attempt.
    pub probe_timeout: Duration,
    /// Bound on every wait (the takeover, the holder's boot, one holder again).
    pub recovery_timeout: Duration,
}

/// What the drill saw (spans in seconds in JSON).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VipDrillRun {
    /// Who held the VIP before.
    pub holder_before: String,
    /// When the fault was applied, since the probe's clock started.
    #[serde(serialize_with = "seconds")]
    pub fault_at: Duration,
    /// How long powering it off took (the fault landed within it).
    #[serde(serialize_with = "seconds")]
    pub injection: Duration,
    /// From the fault to the first accepted connection that began after it.
    #[serde(serialize_with = "seconds_opt")]
    pub answered_again_after: Option<Duration>,
    /// Who held the VIP while the old holder was off.
    pub holder_during: Vec<String>,
    /// When the old holder was booted again, since the probe's clock started.
    #[serde(serialize_with = "seconds")]
    pub restarted_at: Duration,
    /// From the boot until the old holder held the VIP alone again.
    #[serde(serialize_with = "seconds_opt")]
    pub settled_after: Option<Duration>,
    /// Who held it at the end.
    pub holder_after: Vec<String>,
    /// Every probe attempt.
    pub samples: Vec<Sample>,
}

/// Why the drill stopped.
#[derive(Debug, thiserror::Error)]
pub enum VipDrillError {
    /// The lab failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// The fault could not be applied.
    #[error(transparent)]
    Inject(#[from] InjectError),
    /// The VIP's holders could not be read, or not one host held it.
    #[error("the VIP before the drill: {0}")]
    Holders(String),
}

async fn connect(guests: &Guests, names: &[String]) -> Vec<SshHost> {
    let mut out = Vec::new();
    for n in names {
        if let Ok(h) = guests.host(n).await {
            out.push(h);
        }
    }
    out
}

async fn holders(
    guests: &Guests,
    names: &[String],
    check: &VipCheck,
) -> Result<Vec<String>, String> {
    let hosts = connect(guests, names).await;
    let refs: Vec<&dyn Host> = hosts.iter().map(|h| h as &dyn Host).collect();
    let seen = vip_holders(&refs, check).await;
    for h in hosts {
        let _ = h.close().await;
    }
    seen
}

/// Polls `probe` until an attempt that began after `after` was accepted, at most `bound`.
fn await_answer(probe: &TcpProbe, after: Duration, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < bound {
        if let Some(t) = first_ok_after(&probe.samples(), after) {
            return Some(t);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Crashes the VIP holder among `control_plane` on `lab` and boots it again; see the module.
pub fn run_vip_holder_crash(
    lab: &Lab,
    control_plane: &[String],
    check: &VipCheck,
    cfg: &VipDrillConfig,
) -> Result<VipDrillRun, VipDrillError> {
    let rt = runtime()?;
    let guests = lab.guests()?;
    let before = rt
        .block_on(holders(&guests, control_plane, check))
        .map_err(VipDrillError::Holders)?;
    let [holder] = before.as_slice() else {
        return Err(VipDrillError::Holders(format!(
            "{} held by [{}], not by exactly one host",
            check.vip,
            before.join(", ")
        )));
    };
    let holder = holder.clone();
    let t0 = Instant::now();
    let probe = TcpProbe::start(
        lab.reach_netns()?,
        SocketAddr::new(check.vip, check.port),
        cfg.probe_every,
        cfg.probe_timeout,
        t0,
    );
    std::thread::sleep(cfg.settle);
    let mut faults = LabFaults::new(lab);
    let fault_at = t0.elapsed();
    let crashed = faults.apply(&Fault::HostCrash {
        host: holder.clone(),
    });
    let injection = t0.elapsed() - fault_at;
    if let Err(e) = crashed {
        let _ = probe.finish();
        return Err(e.into());
    }
    let answered = await_answer(&probe, fault_at, cfg.recovery_timeout);
    std::thread::sleep(cfg.hold.saturating_sub(t0.elapsed() - fault_at));
    let survivors: Vec<String> = control_plane
        .iter()
        .filter(|h| **h != holder)
        .cloned()
        .collect();
    let during = rt
        .block_on(holders(&guests, &survivors, check))
        .unwrap_or_default();
    // Heal: always boot the holder again, whatever was seen.
    let restarted_at = t0.elapsed();
    faults.apply(&Fault::HostRestart {
        host: holder.clone(),
    })?;
    let deadline = Instant::now() + cfg.recovery_timeout;
    let mut settled = None;
    let mut after = Vec::new();
    while Instant::now() < deadline {
        // keepalived preempts (the rendered instances do not set `nopreempt`), so healed
        // means the old holder holds the VIP alone again.
        if let Ok(h) = rt.block_on(holders(&guests, control_plane, check))
            && h == [holder.clone()]
        {
            after = h;
            settled = Some(t0.elapsed() - restarted_at);
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let samples = probe.finish();
    Ok(VipDrillRun {
        holder_before: holder,
        fault_at,
        injection,
        answered_again_after: answered.map(|t| t - fault_at),
        holder_during: during,
        restarted_at,
        settled_after: settled,
        holder_after: after,
        samples,
    })
}
