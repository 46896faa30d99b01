//! Rules that both the static analysis (`spofless check`) and the simulator apply, so the two
//! cannot disagree on arithmetic: quorum and VRRP priorities; placement and scheduling follow.

pub mod quorum;
pub mod scheduler;
pub mod vrrp;
