//! Workspace-level integration tests live in `tests/` beside this file.
