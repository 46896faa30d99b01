//! Turns a topology into artifacts, applies them, and drills the real cluster.
