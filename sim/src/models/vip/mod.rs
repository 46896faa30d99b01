//! The API's virtual IP: keepalived (VRRP) and haproxy on every control-plane host, as
//! `spofless render` configures them, in front of the kube-apiservers.
//!
//! - [`keepalived`]: one VRRPv2 instance per control-plane host. The master claims the VIP
//!   (an engine [`Address`](crate::engine::Address), like a gratuitous ARP) and advertises;
//!   a backup takes over after the master-down interval, or one skew time after a priority-0
//!   advert from a master that stops gracefully. Its `vrrp_script` asks the local haproxy for
//!   the health-check path and lowers the priority while it fails.
//! - [`haproxy`]: health-checks every apiserver (interval, fall, rise) and passes each request
//!   to the next healthy one, round robin.
//!
//! Clients reach the API with [`Ctx::send_to_service`](crate::engine::Ctx::send_to_service)
//! to the VIP and the `haproxy` service: the request lands on whichever host holds the VIP.

pub mod drill;
pub mod facts;
pub mod haproxy;
pub mod keepalived;
pub mod msg;
pub mod probe;
pub mod setup;
pub mod standin;

/// Model (process) name of keepalived, as the fault vocabulary names it.
pub const KEEPALIVED_MODEL: &str = "keepalived";
/// Model (process) name of haproxy.
pub const HAPROXY_MODEL: &str = "haproxy";
/// Model (process) name of the apiserver haproxy balances to.
pub const APISERVER_MODEL: &str = "kube-apiserver";
