//! The discrete-event core: virtual time, the (time, sequence) queue, named RNG streams, the
//! sans-io model interface and the world that drives it. Everything here is deterministic for a
//! seed: no wall clock, no hash-order iteration, no global RNG.

pub mod address;
mod connection;
mod dispatch;
pub mod fact;
mod faults;
mod lifecycle;
pub mod log;
pub mod model;
pub mod queue;
mod record;
pub mod rng;
pub mod sub;
#[cfg(test)]
mod testkit;
pub mod time;
pub mod trace;
pub mod world;

pub use address::{Address, AddressTable};
pub use fact::{Fact, FactRecord, fact_json};
pub use lifecycle::TERMINATE_KILL_AFTER;
pub use log::{LogEntry, LogKind, Observer};
pub(crate) use model::message_kind;
pub use model::{
    ActorId, Ctx, Directory, Effect, Endpoint, Event, HostId, Message, Model, Port, Record, Status,
    TimerId, TimerTag,
};
pub use queue::EventQueue;
pub use rng::{RngStreams, SimRng, stream_seed};
pub use sub::{Embedded, PortsExhausted, SubMachine, route_to};
pub use time::{SimDuration, SimTime};
pub use trace::{NullSink, TraceEvent, TraceSink};
pub use world::{EngineError, RunStats, SimConfig, Simulation};
