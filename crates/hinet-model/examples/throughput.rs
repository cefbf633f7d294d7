//! Quick throughput of bench-default: `cargo run --release -p hinet-model --example throughput -- [batch] [threads] [steps]`.
use hinet_model::{ModelConfig, throughput};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let batch = args.first().copied().unwrap_or(1024);
    let threads = args.get(1).copied().unwrap_or(2);
    let steps = args.get(2).copied().unwrap_or(20);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let config = ModelConfig::bench_default();
    let shares = [0.35, 0.25, 0.15, 0.12, 0.08, 0.05];
    let r = pool.install(|| throughput::measure::<f32>(&config, batch, 5, steps, &shares, 1))?;
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}
