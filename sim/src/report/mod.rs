//! What a run leaves behind for people and tools: the JSON-lines trace, the summary table's
//! rows, and a self-contained HTML report with an SVG timeline.

pub mod html;
pub mod jsonl;
pub mod summary;

pub use jsonl::{JsonlSink, TraceDetail};
pub use summary::{Summary, SummaryRow, human, outcome_summary, summarize, warm_up_line};
