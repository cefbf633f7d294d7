//! Measures the synthetic generator's throughput and prints the data's shape.
//!
//! `cargo run --release -p hinet-data --example gen_speed -- [rows]`

use std::time::Instant;

use hinet_data::synthetic::{SyntheticConfig, generate};

fn main() -> Result<(), hinet_data::DataError> {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    for (name, cfg) in [
        (
            "default",
            SyntheticConfig {
                rows,
                ..Default::default()
            },
        ),
        ("bench-default", SyntheticConfig::bench_default(rows)),
    ] {
        // Warm-up (page faults, rayon pool start) so the timing measures generation.
        generate(&SyntheticConfig {
            rows: 100_000,
            ..cfg.clone()
        })?;
        let t = Instant::now();
        let data = generate(&cfg)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{name}: {rows} rows in {secs:.3} s = {:.2} M rows/s ({} threads)",
            rows as f64 / secs / 1e6,
            rayon::current_num_threads()
        );
        let counts = data.scenario_counts();
        for (m, c) in counts.iter().enumerate() {
            println!(
                "  scenario {m}: share {:.4}  ctr {:.4}  ctcvr {:.4}",
                *c as f64 / rows as f64,
                data.label_rate(0, Some(m)).unwrap_or(f64::NAN),
                data.label_rate(1, Some(m)).unwrap_or(f64::NAN),
            );
        }
        println!(
            "  all: ctr {:.4} ctcvr {:.4} (cvr|click {:.4})",
            data.label_rate(0, None).unwrap_or(f64::NAN),
            data.label_rate(1, None).unwrap_or(f64::NAN),
            data.label_rate(1, None).unwrap_or(f64::NAN) / data.label_rate(0, None).unwrap_or(f64::NAN),
        );
    }
    Ok(())
}
