//! The lab's libvirt calls, through the `virt` crate (cargo feature `libvirt`).
//!
//! A thin layer with one rule: every call on an existing object first checks that the object
//! is the one the lab recorded (same name *and* UUID). An object that is missing is treated as
//! already gone, which is what makes `lab down` safe to run twice; an object with a recorded
//! name but another UUID belongs to someone else and is refused with [`LabError::NotOurs`].

use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::error::ErrorNumber;
use virt::network::Network;

use super::LabError;
use super::state::Created;

/// `VIR_DOMAIN_AFFECT_LIVE`: change the running guest only (libvirt-domain.h, value 1).
pub const AFFECT_LIVE: u32 = 1;

/// A guest's run state, as the lab reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Running (or blocked on I/O).
    Running,
    /// Paused by `lab fault pause`.
    Paused,
    /// Powered off (`lab fault crash`, or not started).
    Off,
    /// Any other libvirt state.
    Other,
    /// No such domain.
    Missing,
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Off => "off",
            RunState::Other => "other",
            RunState::Missing => "missing",
        })
    }
}

fn lv(action: impl Into<String>) -> impl FnOnce(virt::error::Error) -> LabError {
    let action = action.into();
    move |e| LabError::Libvirt {
        action,
        message: e.message().to_owned(),
    }
}

fn is_missing(e: &virt::error::Error) -> bool {
    e.code().is(ErrorNumber::NoDomain) || e.code().is(ErrorNumber::NoNetwork)
}

/// An open libvirt connection.
#[derive(Debug)]
pub struct Libvirt {
    conn: Connect,
    uri: String,
}

impl Libvirt {
    /// Connects to `uri`.
    pub fn open(uri: &str) -> Result<Self, LabError> {
        // libvirt's default handler prints every error to stderr, including the expected
        // "not found" of a lookup; errors still come back as values.
        virt::error::clear_error_callback();
        let conn = Connect::open(Some(uri)).map_err(lv(format!("connecting to {uri}")))?;
        Ok(Libvirt {
            conn,
            uri: uri.to_owned(),
        })
    }

    /// The URI this connection was opened with.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Defines and starts a network; refuses if one of that name exists already.
    pub fn create_network(&self, name: &str, xml: &str) -> Result<Created, LabError> {
        if let Ok(existing) = self.conn.lookup_network_by_name(name) {
            return Err(LabError::NotOurs {
                kind: "network",
                name: name.to_owned(),
                reason: format!(
                    "it already exists (uuid {})",
                    existing.uuid_string().unwrap_or_default()
                ),
            });
        }
        let net = self
            .conn
            .define_network_xml(xml)
            .map_err(lv(format!("defining network {name}")))?;
        let uuid = net.uuid_string().map_err(lv("reading network uuid"))?;
        Ok(Created {
            name: name.to_owned(),
            uuid,
        })
    }

    /// Starts a recorded network.
    pub fn start_network(&self, c: &Created) -> Result<(), LabError> {
        if let Some(net) = self.network(c)?
            && !net.is_active().map_err(lv("network state"))?
        {
            net.create()
                .map_err(lv(format!("starting network {}", c.name)))?;
        }
        Ok(())
    }

    /// Defines a domain; refuses if one of that name exists already.
    pub fn define_domain(&self, name: &str, xml: &str) -> Result<Created, LabError> {
        if let Ok(existing) = self.conn.lookup_domain_by_name(name) {
            return Err(LabError::NotOurs {
                kind: "domain",
                name: name.to_owned(),
                reason: format!(
                    "it already exists (uuid {})",
                    existing.uuid_string().unwrap_or_default()
                ),
            });
        }
        let dom = self
            .conn
            .define_domain_xml(xml)
            .map_err(lv(format!("defining domain {name}")))?;
        let uuid = dom.uuid_string().map_err(lv("reading domain uuid"))?;
        Ok(Created {
            name: name.to_owned(),
            uuid,
        })
    }

    /// The recorded network, `None` if gone, [`LabError::NotOurs`] if replaced.
    fn network(&self, c: &Created) -> Result<Option<Network>, LabError> {
        match self.conn.lookup_network_by_name(&c.name) {
            Ok(n) => {
                let uuid = n.uuid_string().map_err(lv("reading network uuid"))?;
                if uuid == c.uuid {
                    Ok(Some(n))
                } else {
                    Err(LabError::NotOurs {
                        kind: "network",
                        name: c.name.clone(),
                        reason: format!("uuid {uuid}, the lab recorded {}", c.uuid),
                    })
                }
            }
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(lv(format!("looking up network {}", c.name))(e)),
        }
    }

    /// The recorded domain, `None` if gone, [`LabError::NotOurs`] if replaced.
    fn domain(&self, c: &Created) -> Result<Option<Domain>, LabError> {
        match self.conn.lookup_domain_by_name(&c.name) {
            Ok(d) => {
                let uuid = d.uuid_string().map_err(lv("reading domain uuid"))?;
                if uuid == c.uuid {
                    Ok(Some(d))
                } else {
                    Err(LabError::NotOurs {
                        kind: "domain",
                        name: c.name.clone(),
                        reason: format!("uuid {uuid}, the lab recorded {}", c.uuid),
                    })
                }
            }
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(lv(format!("looking up domain {}", c.name))(e)),
        }
    }

    /// The domain's run state.
    pub fn state(&self, c: &Created) -> Result<RunState, LabError> {
        let Some(d) = self.domain(c)? else {
            return Ok(RunState::Missing);
        };
        let (state, _) = d.state().map_err(lv(format!("state of {}", c.name)))?;
        Ok(match state.known() {
            Some(DomainState::Running | DomainState::Blocked) => RunState::Running,
            Some(DomainState::Paused) => RunState::Paused,
            Some(DomainState::Shutoff | DomainState::Crashed) => RunState::Off,
            _ => RunState::Other,
        })
    }

    fn with_domain(&self, c: &Created) -> Result<Domain, LabError> {
        self.domain(c)?.ok_or_else(|| LabError::Libvirt {
            action: format!("finding domain {}", c.name),
            message: "it no longer exists".to_owned(),
        })
    }

    /// Boots a powered-off domain (no-op if it runs).
    pub fn start(&self, c: &Created) -> Result<(), LabError> {
        let d = self.with_domain(c)?;
        if !d.is_active().map_err(lv("domain state"))? {
            d.create().map_err(lv(format!("starting {}", c.name)))?;
        }
        Ok(())
    }

    /// Powers the domain off at once, like pulling the plug (no-op if off).
    pub fn crash(&self, c: &Created) -> Result<(), LabError> {
        let d = self.with_domain(c)?;
        if d.is_active().map_err(lv("domain state"))? {
            d.destroy().map_err(lv(format!("destroying {}", c.name)))?;
        }
        Ok(())
    }

    /// Freezes the domain's vCPUs.
    pub fn pause(&self, c: &Created) -> Result<(), LabError> {
        self.with_domain(c)?
            .suspend()
            .map_err(lv(format!("pausing {}", c.name)))
    }

    /// Unfreezes a paused domain.
    pub fn resume(&self, c: &Created) -> Result<(), LabError> {
        self.with_domain(c)?
            .resume()
            .map_err(lv(format!("resuming {}", c.name)))
    }

    /// Replaces the live `<interface>` (used to set its link state).
    pub fn update_interface(&self, c: &Created, xml: &str) -> Result<(), LabError> {
        self.with_domain(c)?
            .update_device_flags(xml, AFFECT_LIVE)
            .map_err(lv(format!("updating the NIC of {}", c.name)))
    }

    /// Whether the running domain's NIC has its link set down (by `lab fault isolate`).
    pub fn link_is_down(&self, c: &Created) -> Result<bool, LabError> {
        let xml = self
            .with_domain(c)?
            .xml_desc(0)
            .map_err(lv(format!("reading the XML of {}", c.name)))?;
        Ok(xml.contains("<link state='down'/>"))
    }

    /// Destroys (if running) and undefines a recorded domain; gone already is fine.
    pub fn remove_domain(&self, c: &Created) -> Result<(), LabError> {
        let Some(d) = self.domain(c)? else {
            return Ok(());
        };
        if d.is_active().map_err(lv("domain state"))? {
            d.destroy().map_err(lv(format!("destroying {}", c.name)))?;
        }
        d.undefine().map_err(lv(format!("undefining {}", c.name)))
    }

    /// Stops and undefines a recorded network; gone already is fine.
    pub fn remove_network(&self, c: &Created) -> Result<(), LabError> {
        let Some(n) = self.network(c)? else {
            return Ok(());
        };
        if n.is_active().map_err(lv("network state"))? {
            n.destroy()
                .map_err(lv(format!("stopping network {}", c.name)))?;
        }
        n.undefine()
            .map_err(lv(format!("undefining network {}", c.name)))
    }
}
