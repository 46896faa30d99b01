//! Rules that both the static analysis (`spofless check`) and the simulator apply, so the two
//! cannot disagree on arithmetic: today quorum; placement and scheduling follow.

pub mod quorum;
