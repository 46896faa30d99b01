//! CRUSH map text fragments as `crushtool -d` writes them.

/// The tunables of Ceph's `jewel` profile (`crushtool --set-... ` defaults since Jewel, and what
/// a Pacific cluster's decompiled map starts with).
pub const JEWEL_TUNABLES: &str = "tunable choose_local_tries 0
tunable choose_local_fallback_tries 0
tunable choose_total_tries 50
tunable chooseleaf_descend_once 1
tunable chooseleaf_vary_r 1
tunable chooseleaf_stable 1
tunable straw_calc_version 1
tunable allowed_bucket_algs 54
";
