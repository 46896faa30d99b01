//! One module per subcommand, each with its own arguments and `run`.

pub mod check;
pub mod schema;
