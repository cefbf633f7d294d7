//! Seed statistics: mean and standard deviation over seeds, and whether a difference of two
//! means is larger than the seed-to-seed spread.

use serde::Serialize;

/// Mean and sample standard deviation of one number over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); 0 for one value.
    pub sd: f64,
    /// Number of seeds.
    pub n: usize,
}

impl Summary {
    /// Summary of the finite values (`None` when there are none).
    pub fn of(values: &[f64]) -> Option<Self> {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Self { mean, sd, n })
    }

    /// `0.7123 ± 0.0011`.
    pub fn show(&self) -> String {
        format!("{:.4} ± {:.4}", self.mean, self.sd)
    }
}

/// `a.mean - b.mean` and its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    /// Difference of the means.
    pub delta: f64,
    /// Standard error of the difference, sqrt(sd_a^2 / n_a + sd_b^2 / n_b).
    pub se: f64,
    /// Whether |delta| > 2 se, with at least 2 seeds on each side: the difference is larger than
    /// what the seeds alone move the means by (about a 95 % two-sided test; with 3 seeds a rough
    /// one, and the tables say so).
    pub beyond_spread: bool,
}

impl Difference {
    /// `a - b`.
    pub fn between(a: &Summary, b: &Summary) -> Self {
        let delta = a.mean - b.mean;
        let se = (a.sd.powi(2) / a.n as f64 + b.sd.powi(2) / b.n as f64).sqrt();
        let beyond_spread = a.n >= 2 && b.n >= 2 && delta.abs() > 2.0 * se;
        Self {
            delta,
            se,
            beyond_spread,
        }
    }

    /// `+0.0123*` (the star when beyond the spread).
    pub fn show(&self) -> String {
        format!("{:+.4}{}", self.delta, if self.beyond_spread { "*" } else { "" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn summary_matches_the_textbook_formulas() {
        let s = Summary::of(&[1.0, 2.0, 4.0]).unwrap();
        assert_relative_eq!(s.mean, 7.0 / 3.0, epsilon = 1e-12);
        // Deviations -4/3, -1/3, 5/3: squares sum to 42/9; over n - 1 = 2.
        assert_relative_eq!(s.sd, (42.0f64 / 18.0).sqrt(), epsilon = 1e-12);
        assert_eq!(s.n, 3);
        assert_eq!(Summary::of(&[f64::NAN]), None);
        assert_eq!(Summary::of(&[0.5, f64::NAN]).unwrap().sd, 0.0);
    }

    #[test]
    fn a_difference_is_beyond_the_spread_only_past_two_standard_errors() {
        let a = Summary {
            mean: 0.75,
            sd: 0.01,
            n: 3,
        };
        let near = Summary {
            mean: 0.74,
            sd: 0.01,
            n: 3,
        };
        let far = Summary {
            mean: 0.70,
            sd: 0.01,
            n: 3,
        };
        // se = 0.01 * sqrt(2/3) = 0.00816: 0.01 is within 2 se, 0.05 is not.
        assert!(!Difference::between(&a, &near).beyond_spread);
        let d = Difference::between(&a, &far);
        assert!(d.beyond_spread);
        assert_relative_eq!(d.se, 0.01 * (2.0f64 / 3.0).sqrt(), epsilon = 1e-12);
        assert_eq!(d.show(), "+0.0500*");
        let single = Summary {
            mean: 0.6,
            sd: 0.0,
            n: 1,
        };
        assert!(!Difference::between(&a, &single).beyond_spread, "one seed says nothing");
    }
}
