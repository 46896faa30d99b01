//! Link behaviour: how long a packet takes and how often it is lost. Latency distributions are
//! sampled from the network's own seeded stream with integer arithmetic only (the normal-ish
//! shape is an Irwin-Hall sum of twelve uniforms), so the same seed gives the same delays on
//! every machine, whatever its libm does with `ln` and `cos`.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::engine::{SimDuration, SimRng};

/// Loss probabilities are kept in parts per billion so sampling is an integer comparison.
pub const LOSS_SCALE: u32 = 1_000_000_000;

/// How long a packet takes on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Latency {
    /// Always the same.
    Fixed {
        /// The delay.
        delay: SimDuration,
    },
    /// Uniform in `[min, max]`.
    Uniform {
        /// Shortest delay.
        min: SimDuration,
        /// Longest delay.
        max: SimDuration,
    },
    /// Approximately normal around `mean`, never below zero.
    Normal {
        /// Centre.
        mean: SimDuration,
        /// Spread (one standard deviation).
        stddev: SimDuration,
    },
}

impl Latency {
    /// Draws one delay.
    pub fn sample(&self, rng: &mut SimRng) -> SimDuration {
        match *self {
            Latency::Fixed { delay } => delay,
            Latency::Uniform { min, max } => {
                if max <= min {
                    min
                } else {
                    SimDuration::from_nanos(rng.random_range(min.as_nanos()..=max.as_nanos()))
                }
            }
            Latency::Normal { mean, stddev } => {
                // Irwin-Hall: the sum of 12 U(0,1) has mean 6 and variance 1.
                let sum: i128 = (0..12).map(|_| i128::from(rng.random::<u32>())).sum();
                let z_scaled = sum - 6 * (1i128 << 32);
                let offset = i128::from(stddev.as_nanos()) * z_scaled / (1i128 << 32);
                let nanos = (i128::from(mean.as_nanos()) + offset).clamp(0, i128::from(u64::MAX));
                SimDuration::from_nanos(nanos as u64)
            }
        }
    }

    /// The largest delay this distribution gives in practice (normal: mean + 6 stddev).
    pub fn upper_bound(&self) -> SimDuration {
        match *self {
            Latency::Fixed { delay } => delay,
            Latency::Uniform { min, max } => min.max(max),
            Latency::Normal { mean, stddev } => SimDuration::from_nanos(
                mean.as_nanos()
                    .saturating_add(stddev.as_nanos().saturating_mul(6)),
            ),
        }
    }
}

/// Everything that decides how a link treats a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkConfig {
    /// Delay distribution.
    pub latency: Latency,
    /// Probability of losing a packet, in parts per [`LOSS_SCALE`].
    pub loss_ppb: u32,
    /// Deliver packets on one direction of the link in the order sent, as a TCP stream does.
    pub fifo: bool,
}

/// Round-trip on a switched LAN between the lab's hosts is a fraction of a millisecond; this is
/// the default one-way delay (a design choice, not an upstream value).
pub const DEFAULT_LAN_LATENCY: SimDuration = SimDuration::from_micros(200);
/// Jitter around [`DEFAULT_LAN_LATENCY`].
pub const DEFAULT_LAN_JITTER: SimDuration = SimDuration::from_micros(50);

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Latency::Normal {
                mean: DEFAULT_LAN_LATENCY,
                stddev: DEFAULT_LAN_JITTER,
            },
            loss_ppb: 0,
            fifo: true,
        }
    }
}

impl LinkConfig {
    /// A lossless link with a fixed delay.
    pub fn fixed(delay: SimDuration) -> Self {
        LinkConfig {
            latency: Latency::Fixed { delay },
            loss_ppb: 0,
            fifo: true,
        }
    }
}

/// Converts a probability (0 to 1) to parts per billion, clamping out-of-range values.
pub fn loss_to_ppb(loss: f64) -> u32 {
    if loss.is_nan() || loss <= 0.0 {
        0
    } else if loss >= 1.0 {
        LOSS_SCALE
    } else {
        (loss * f64::from(LOSS_SCALE)).round() as u32
    }
}

/// True with probability `ppb / LOSS_SCALE`.
pub fn draw_loss(ppb: u32, rng: &mut SimRng) -> bool {
    ppb > 0 && (ppb >= LOSS_SCALE || rng.random_range(0..LOSS_SCALE) < ppb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RngStreams;

    #[test]
    fn normal_is_centred_and_spread() {
        let mut rng = RngStreams::new(7).stream("t");
        let lat = Latency::Normal {
            mean: SimDuration::from_millis(10),
            stddev: SimDuration::from_millis(1),
        };
        let samples: Vec<u64> = (0..20_000)
            .map(|_| lat.sample(&mut rng).as_nanos())
            .collect();
        let mean = samples.iter().sum::<u64>() / samples.len() as u64;
        assert!((9_950_000..10_050_000).contains(&mean), "mean {mean}");
        let within = samples
            .iter()
            .filter(|s| (9_000_000..=11_000_000).contains(*s))
            .count();
        let share = within as f64 / samples.len() as f64;
        assert!(
            (0.64..0.72).contains(&share),
            "share within one stddev {share}"
        );
    }

    #[test]
    fn uniform_stays_in_range_and_loss_matches_rate() {
        let mut rng = RngStreams::new(8).stream("t");
        let lat = Latency::Uniform {
            min: SimDuration::from_millis(1),
            max: SimDuration::from_millis(3),
        };
        for _ in 0..1000 {
            let d = lat.sample(&mut rng);
            assert!(d >= SimDuration::from_millis(1) && d <= SimDuration::from_millis(3));
        }
        let ppb = loss_to_ppb(0.25);
        let lost = (0..40_000).filter(|_| draw_loss(ppb, &mut rng)).count();
        assert!((9_400..10_600).contains(&lost), "lost {lost}");
        assert!(!draw_loss(loss_to_ppb(0.0), &mut rng));
        assert!(draw_loss(loss_to_ppb(1.0), &mut rng));
    }
}
