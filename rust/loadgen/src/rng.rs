//! A seeded pseudo-random generator and Poisson arrivals.
//!
//! The generator is xoshiro256\*\* (Blackman and Vigna, "Scrambled linear
//! pseudorandom number generators", ACM TOMS 2021), its state filled from
//! the seed by SplitMix64 as the authors recommend. It is written here
//! rather than taken from a crate so that a seed names the same request
//! schedule in every version of the tool.
//!
//! Poisson arrivals at rate λ have independent exponential inter-arrival
//! times; they are drawn by inversion, `-ln(1 - U) / λ` with `U` uniform
//! on `[0, 1)` (Knuth, TAOCP vol. 2, §3.4.1). A Poisson process of rate λ
//! split over `n` connections is the superposition of `n` independent
//! processes of rate λ/n, so each connection draws its own schedule.

/// xoshiro256\*\*, seeded through SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let s = [
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
        ];
        Rng { s }
    }

    /// The generator of stream `index` under `seed` (one per connection):
    /// distinct streams for distinct indexes.
    pub fn stream(seed: u64, index: u64) -> Rng {
        let mut x = seed ^ index.wrapping_mul(0xd134_2543_de82_ef95);
        Rng::new(splitmix64(&mut x))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform on `[0, 1)`, 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on `0..n` (`n` > 0), by Lemire's multiply-shift (the bias
    /// is below 2⁻³² for the key spaces used here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// An exponential variate of rate `rate` (> 0), in the rate's time unit.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -(1.0 - self.next_f64()).ln() / rate
    }
}

/// The send times of a Poisson process, in seconds after the start.
#[derive(Debug, Clone)]
pub struct PoissonSchedule {
    rng: Rng,
    rate: f64,
    t: f64,
}

impl PoissonSchedule {
    /// Arrivals at `rate` per second drawn from `rng`.
    pub fn new(rng: Rng, rate: f64) -> PoissonSchedule {
        PoissonSchedule { rng, rate, t: 0.0 }
    }

    /// The next arrival's time, seconds after the start.
    pub fn next_arrival(&mut self) -> f64 {
        self.t += self.rng.exponential(self.rate);
        self.t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative tolerance on moments estimated from 200 000 samples
    /// (their standard error is about 0.2 %).
    const MOMENT_TOLERANCE: f64 = 0.02;

    #[test]
    fn a_seed_fixes_the_sequence_and_streams_differ() {
        let a: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..8)
            .scan(Rng::new(8), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let s0 = Rng::stream(7, 0).next_u64();
        let s1 = Rng::stream(7, 1).next_u64();
        assert_ne!(s0, s1);
        assert_eq!(s1, Rng::stream(7, 1).next_u64());
    }

    #[test]
    fn uniform_draws_stay_in_range_with_the_right_mean() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let u = r.next_f64();
            assert!((0.0..1.0).contains(&u), "{u}");
            sum += u;
        }
        assert!((sum / n as f64 - 0.5).abs() < 0.5 * MOMENT_TOLERANCE);
        let mut counts = [0u32; 10];
        for _ in 0..n {
            counts[r.below(10) as usize] += 1;
        }
        for c in counts {
            let share = f64::from(c) / n as f64;
            assert!(
                (share - 0.1).abs() < 0.1 * MOMENT_TOLERANCE * 2.0,
                "{share}"
            );
        }
    }

    #[test]
    fn poisson_inter_arrivals_are_exponential_with_mean_one_over_rate() {
        let rate = 3000.0;
        let mut s = PoissonSchedule::new(Rng::new(42), rate);
        let n = 200_000;
        let mut prev = 0.0;
        let (mut sum, mut sum2) = (0.0, 0.0);
        let mut below_median = 0;
        for _ in 0..n {
            let t = s.next_arrival();
            let gap = t - prev;
            assert!(gap >= 0.0);
            prev = t;
            sum += gap;
            sum2 += gap * gap;
            if gap < std::f64::consts::LN_2 / rate {
                below_median += 1;
            }
        }
        let mean = sum / n as f64;
        let var = sum2 / n as f64 - mean * mean;
        // Exponential: mean 1/λ, coefficient of variation 1, median ln 2/λ.
        assert!((mean * rate - 1.0).abs() < MOMENT_TOLERANCE, "mean {mean}");
        assert!((var.sqrt() / mean - 1.0).abs() < MOMENT_TOLERANCE, "cv");
        assert!((f64::from(below_median) / n as f64 - 0.5).abs() < MOMENT_TOLERANCE);
        // The whole run lasts n/λ seconds.
        assert!((prev * rate / n as f64 - 1.0).abs() < MOMENT_TOLERANCE);
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let mut a = PoissonSchedule::new(Rng::stream(3, 2), 100.0);
        let mut b = PoissonSchedule::new(Rng::stream(3, 2), 100.0);
        for _ in 0..1000 {
            assert_eq!(a.next_arrival().to_bits(), b.next_arrival().to_bits());
        }
    }
}
