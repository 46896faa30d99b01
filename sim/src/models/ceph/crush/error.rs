//! Errors from loading or building a CRUSH map.

/// Why a CRUSH map could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CrushError {
    /// The text declares nothing at all.
    #[error("the map is empty: it declares no devices, buckets or rules")]
    Empty,
    /// The text could not be parsed.
    #[error("line {line}: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What was wrong and how to fix it.
        message: String,
    },
    /// A bucket uses an algorithm other than straw2.
    #[error(
        "line {line}: bucket '{bucket}' uses alg {alg}; only straw2 buckets are supported \
         (convert with `ceph osd crush set-all-straw-buckets-to-straw2`)"
    )]
    UnsupportedAlg {
        /// 1-based line number.
        line: usize,
        /// Bucket name.
        bucket: String,
        /// The algorithm named in the map.
        alg: String,
    },
    /// The map uses a feature this implementation does not model.
    #[error("line {line}: {feature} is not supported")]
    Unsupported {
        /// 1-based line number.
        line: usize,
        /// The feature.
        feature: String,
    },
}
