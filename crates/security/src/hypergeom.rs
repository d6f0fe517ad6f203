//! The hypergeometric distribution: how many adversarial seats a committee drawn without
//! replacement gets.
//!
//! Probabilities are computed from log binomial coefficients summed term by term
//! (`ln C(n, r)` takes `min(r, n - r)` logarithms), so they are exact to f64 rounding for any
//! pool size, with no factorial table and no overflow.

/// `ln C(n, r)`, the log of the binomial coefficient; `None` when `r > n`.
pub fn ln_binomial(n: u64, r: u64) -> Option<f64> {
    if r > n {
        return None;
    }
    let r = r.min(n - r);
    let mut sum = 0.0;
    for i in 0..r {
        // C(n, r) = prod_{i<r} (n - i) / (i + 1)
        sum += libm::log((n - i) as f64) - libm::log((i + 1) as f64);
    }
    Some(sum)
}

/// `Hypergeometric(population, successes, draws)`: the number of marked items among `draws`
/// distinct items taken uniformly at random from `population` items of which `successes` are
/// marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hypergeometric {
    population: u64,
    successes: u64,
    draws: u64,
}

impl Hypergeometric {
    /// The distribution, or `None` when `successes > population` or `draws > population`.
    pub fn new(population: u64, successes: u64, draws: u64) -> Option<Self> {
        (successes <= population && draws <= population).then_some(Self {
            population,
            successes,
            draws,
        })
    }

    /// The distribution with `successes` and `draws` clamped to `population`.
    pub fn clamped(population: u64, successes: u64, draws: u64) -> Self {
        Self {
            population,
            successes: successes.min(population),
            draws: draws.min(population),
        }
    }

    /// The number of items drawn.
    pub fn draws(&self) -> u64 {
        self.draws
    }

    /// `P(X = x)`.
    pub fn pmf(&self, x: u64) -> f64 {
        let (n, a, k) = (self.population, self.successes, self.draws);
        if x > k || x > a || k - x > n - a {
            return 0.0;
        }
        match (
            ln_binomial(a, x),
            ln_binomial(n - a, k - x),
            ln_binomial(n, k),
        ) {
            (Some(marked), Some(unmarked), Some(all)) => libm::exp(marked + unmarked - all),
            _ => 0.0,
        }
    }

    /// `P(X = x)` for every `x` in `0..=draws`.
    pub fn pmfs(&self) -> Vec<f64> {
        (0..=self.draws).map(|x| self.pmf(x)).collect()
    }

    /// `P(X > t)`, the upper tail.
    pub fn upper_tail(&self, t: u64) -> f64 {
        (t.saturating_add(1)..=self.draws)
            .map(|x| self.pmf(x))
            .sum()
    }

    /// `P(X > draws / 2)`: the marked items hold a strict majority of the draw.
    pub fn majority(&self) -> f64 {
        self.upper_tail(self.draws / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn binomial_coefficients() {
        assert_eq!(ln_binomial(5, 6), None);
        assert!(close(libm::exp(ln_binomial(5, 2).unwrap()), 10.0, 1e-12));
        assert!(close(
            libm::exp(ln_binomial(10_000, 3).unwrap()),
            166_616_670_000.0,
            1e-12
        ));
        assert_eq!(ln_binomial(7, 0), Some(0.0));
        assert_eq!(ln_binomial(7, 7), Some(0.0));
    }

    #[test]
    fn hand_computed_committee_of_three() {
        // N = 10,000 nodes, A = 2,000 adversarial (f = 0.2), k = 3; exact values from
        // C(A, x) C(N - A, k - x) / C(N, k) in rational arithmetic.
        let h = Hypergeometric::new(10_000, 2_000, 3).unwrap();
        assert!(close(h.pmf(3), 0.007_990_400_960_480_124, 1e-12));
        assert!(close(h.pmf(2), 0.095_980_792_318_079_57, 1e-12));
        assert!(close(h.pmf(1), 0.384_067_212_482_400_44, 1e-12));
        assert!(close(h.pmf(0), 0.511_961_594_239_039_9, 1e-12));
        assert!(close(h.majority(), 0.103_971_193_278_559_7, 1e-12));
        assert!(close(h.pmfs().iter().sum::<f64>(), 1.0, 1e-12));
        // Without replacement is a little safer than the binomial 0.104 and 0.008.
        assert!(h.majority() < 0.104 && h.pmf(3) < 0.008);
    }

    #[test]
    fn hand_computed_committee_of_five_and_escalation() {
        let h = Hypergeometric::new(10_000, 2_000, 5).unwrap();
        assert!(close(h.majority(), 0.057_873_909_246_272_07, 1e-12));
        // The escalation after one adversarial seat of three: 9,997 nodes left, 1,999 of them
        // adversarial, seven drawn, the adversary needs four.
        let y = Hypergeometric::new(9_997, 1_999, 7).unwrap();
        assert!(close(y.majority(), 0.033_269_445_723_007_8, 1e-12));
    }

    #[test]
    #[allow(clippy::float_cmp)] // exact by construction: exp(0), or no terms
    fn edges() {
        assert_eq!(Hypergeometric::new(3, 4, 1), None);
        assert_eq!(Hypergeometric::new(3, 1, 4), None);
        let none = Hypergeometric::new(100, 0, 5).unwrap();
        assert_eq!(none.pmf(0), 1.0);
        assert_eq!(none.pmf(1), 0.0);
        let all = Hypergeometric::new(100, 100, 5).unwrap();
        assert_eq!(all.pmf(5), 1.0);
        assert_eq!(all.majority(), 1.0);
        // Too few unmarked items for the draw.
        let h = Hypergeometric::new(10, 8, 5).unwrap();
        assert_eq!(h.pmf(2), 0.0);
        assert!(close(h.pmfs().iter().sum::<f64>(), 1.0, 1e-12));
    }
}
