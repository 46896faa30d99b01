//! One module per subcommand, each with its own arguments and `run`.

pub mod apply;
pub mod ceph;
pub mod check;
pub mod completions;
pub mod drill;
pub mod lab;
pub mod man;
pub mod render;
pub mod rolling;
pub mod schema;
pub mod sim;
