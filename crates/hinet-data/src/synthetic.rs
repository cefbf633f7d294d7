//! The synthetic multi-scenario, multi-task generator: HiNet-rs's built-in default dataset.
//!
//! The generative model (all draws from one seed):
//! - Users and items have *shared* latent factors (the same in every scenario) and
//!   *scenario-specific* ones. A scenario's specific factor is `sqrt(c) * cluster factor +
//!   sqrt(1 - c) * own factor`, where scenarios are grouped into clusters
//!   (`scenario_clusters`): scenarios of one cluster are alike, others are not. This is the
//!   structure HiNet's scenario-aware attention is meant to discover.
//! - Side features carry signal: a user's shared factor is partly its segment's factor and an
//!   item's partly its category's, so `user_segment`/`item_category` help rare users and items.
//!   `noise_*` fields are uniform and carry none.
//! - `logit(p_ctr) = b + b_m + b_u + b_i + w_s <p_u, h_i> + w_x <v_u^m, w_i^m> + 0.4 activity_u`,
//!   `logit(p_cvr) = c + c_m + w_s <p_u, k_i> + 0.5 w_x <v_u^m, w_i^m> - 0.5 (ln price_i - 3)`,
//!   with the intercepts b, c calibrated so the mean CTR is `base_ctr` and the click-weighted
//!   mean CVR is `base_cvr`.
//! - click ~ Bernoulli(p_ctr); order ~ Bernoulli(p_cvr) only after a click; labels
//!   `[click, click and order]`, oracle `[p_ctr, p_ctr * p_cvr]` (ESMM's CTCVR decomposition).
//!
//! Rows are generated in chunks of [`CHUNK_ROWS`], chunk k from ChaCha8 stream k + 1 of the seed,
//! in parallel with rayon: the output depends on the seed and the configuration only, never on
//! the number of threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::normalize::Normalize;
use crate::spec::{FeatureSpec, SparseField};

/// Rows per generation chunk. Part of the output's definition: changing it changes the data.
pub const CHUNK_ROWS: usize = 8192;

/// Configuration of the synthetic generator. `Default` is the built-in default dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Rows to generate.
    pub rows: usize,
    /// Seed; the same seed and configuration give the same data.
    pub seed: u64,
    /// Share of rows per scenario (normalised to sum 1); also sets the number of scenarios M.
    pub scenario_shares: Vec<f64>,
    /// Cluster of each scenario: scenarios of one cluster share most of their specific factors.
    pub scenario_clusters: Vec<usize>,
    /// Fraction of a scenario-specific factor's variance that comes from its cluster, in [0, 1].
    pub cluster_weight: f64,
    /// Number of users (vocabulary of `user_id`).
    pub users: usize,
    /// Number of items (vocabulary of `item_id`).
    pub items: usize,
    /// Number of user segments (vocabulary of `user_segment`).
    pub user_segments: usize,
    /// Number of item categories (vocabulary of `item_category`).
    pub item_categories: usize,
    /// Number of pure-noise sparse fields `noise_0`, `noise_1`, ...
    pub noise_fields: usize,
    /// Vocabulary of each noise field.
    pub noise_vocab: usize,
    /// Dense columns: the first three are `user_activity` (signal for CTR), `item_price` (signal
    /// for CVR, heavy-tailed: use log1p) and `dense_noise_0`; more are further noise columns.
    pub dense: usize,
    /// Dimension of every latent factor.
    pub latent_dim: usize,
    /// Fraction of a user's (item's) shared factor variance explained by its segment (category).
    pub side_signal: f64,
    /// Weight of the shared-factor interaction in the logits.
    pub shared_weight: f64,
    /// Weight of the scenario-specific interaction in the logits.
    pub specific_weight: f64,
    /// Popularity skew of users: index = floor(users * u^(1 + skew)), u uniform; 0 = uniform.
    pub user_skew: f64,
    /// Popularity skew of items, as for users.
    pub item_skew: f64,
    /// Mean click-through rate.
    pub base_ctr: f64,
    /// Mean conversion rate given a click.
    pub base_cvr: f64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            rows: 200_000,
            seed: 42,
            scenario_shares: vec![0.35, 0.25, 0.15, 0.12, 0.08, 0.05],
            // Scenarios 0, 2 and the long-tail 5 are alike; 1 and 4 are alike; 3 stands alone.
            scenario_clusters: vec![0, 1, 0, 2, 1, 0],
            cluster_weight: 0.7,
            users: 20_000,
            items: 5_000,
            user_segments: 50,
            item_categories: 200,
            noise_fields: 2,
            noise_vocab: 1_000,
            dense: 3,
            latent_dim: 8,
            side_signal: 0.5,
            shared_weight: 1.0,
            specific_weight: 0.8,
            user_skew: 0.3,
            item_skew: 1.0,
            base_ctr: 0.08,
            base_cvr: 0.2,
        }
    }
}

impl SyntheticConfig {
    /// The shape of the `bench-default` benchmark: 6 scenarios with its shares, 20 sparse fields
    /// of vocabulary 10,000 each (user, item, segment, category, 16 noise fields), ids uniform,
    /// no dense features, 2 tasks.
    pub fn bench_default(rows: usize) -> Self {
        SyntheticConfig {
            rows,
            users: 10_000,
            items: 10_000,
            user_segments: 10_000,
            item_categories: 10_000,
            noise_fields: 16,
            noise_vocab: 10_000,
            dense: 0,
            user_skew: 0.0,
            item_skew: 0.0,
            ..Default::default()
        }
    }

    fn check(&self) -> Result<(), DataError> {
        let bad = |m: &str| Err(DataError::config(format!("synthetic config: {m}")));
        let m = self.scenario_shares.len();
        if m == 0 || self.scenario_shares.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
            return bad("scenario_shares must be non-empty, finite and non-negative");
        }
        if self.scenario_shares.iter().sum::<f64>() <= 0.0 {
            return bad("scenario_shares sum to 0");
        }
        if self.scenario_clusters.len() != m {
            return bad("scenario_clusters needs one cluster per scenario");
        }
        let sizes = [
            self.users,
            self.items,
            self.user_segments,
            self.item_categories,
            self.latent_dim,
        ];
        if sizes.iter().any(|&s| s == 0 || s > u32::MAX as usize) || (self.noise_fields > 0 && self.noise_vocab == 0) {
            return bad("users, items, segments, categories, latent_dim and noise_vocab must be positive");
        }
        if self.noise_vocab > u32::MAX as usize {
            return bad("noise_vocab too large");
        }
        for (name, v) in [
            ("cluster_weight", self.cluster_weight),
            ("side_signal", self.side_signal),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(&format!("{name} must be in [0, 1]"));
            }
        }
        for (name, v) in [("base_ctr", self.base_ctr), ("base_cvr", self.base_cvr)] {
            if !(v > 0.0 && v < 1.0) {
                return bad(&format!("{name} must be in (0, 1)"));
            }
        }
        if [self.user_skew, self.item_skew]
            .iter()
            .any(|s| !s.is_finite() || *s < 0.0)
        {
            return bad("user_skew and item_skew must be finite and >= 0");
        }
        if !(self.shared_weight.is_finite() && self.specific_weight.is_finite()) {
            return bad("shared_weight and specific_weight must be finite");
        }
        Ok(())
    }

    /// The feature spec of the generated data.
    pub fn feature_spec(&self) -> FeatureSpec {
        let mut sparse = vec![
            SparseField {
                name: "user_id".into(),
                vocab: self.users,
            },
            SparseField {
                name: "item_id".into(),
                vocab: self.items,
            },
            SparseField {
                name: "user_segment".into(),
                vocab: self.user_segments,
            },
            SparseField {
                name: "item_category".into(),
                vocab: self.item_categories,
            },
        ];
        sparse.extend((0..self.noise_fields).map(|k| SparseField {
            name: format!("noise_{k}"),
            vocab: self.noise_vocab,
        }));
        FeatureSpec {
            scenarios: (0..self.scenario_shares.len()).map(|m| format!("s{m}")).collect(),
            tasks: vec!["ctr".into(), "ctcvr".into()],
            sparse,
            dense: (0..self.dense).map(dense_name).collect(),
        }
    }

    fn dense_normalize(&self) -> Vec<Normalize> {
        (0..self.dense)
            .map(|c| {
                if c == 1 {
                    Normalize::Log1p
                } else {
                    Normalize::Standardize
                }
            })
            .collect()
    }
}

fn dense_name(c: usize) -> String {
    match c {
        0 => "user_activity".into(),
        1 => "item_price".into(),
        _ => format!("dense_noise_{}", c - 2),
    }
}

/// Standard normal by Box-Muller (rand 0.9's core crate has no normal distribution).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn skewed_index(rng: &mut ChaCha8Rng, n: usize, skew: f64) -> usize {
    let u: f64 = rng.random();
    let x = if skew == 0.0 { u } else { u.powf(1.0 + skew) };
    ((x * n as f64) as usize).min(n - 1)
}

/// The fixed world: every user's and item's factors, biases and side features.
struct World {
    d: usize,
    m: usize,
    c: usize,
    cluster_of: Vec<usize>,
    a: f32, // sqrt(cluster_weight)
    b: f32, // sqrt(1 - cluster_weight)
    share_cdf: Vec<f64>,
    users: Users,
    cat_of_item: Vec<u32>,
    item_shared: Vec<f32>,  // [I][d]
    item_conv: Vec<f32>,    // [I][d]
    item_cluster: Vec<f32>, // [I][C][d]
    item_scen: Vec<f32>,    // [I][M][d]
    item_bias: Vec<f32>,
    item_log_price: Vec<f32>,
    scen_ctr: Vec<f64>,
    scen_cvr: Vec<f64>,
    shared_weight: f64,
    specific_weight: f64,
    ctr0: f64,
    cvr0: f64,
}

/// Largest world of users kept in memory: 256 MiB (about 800,000 users at the defaults). A
/// larger world draws each user's values from the user's own random stream whenever a row needs
/// them, so generating rows for 20 million users takes no more memory than for 2,000.
pub const MAX_STORED_USER_BYTES: u64 = 256 << 20;

/// The users' latent values.
enum Users {
    /// Drawn once from the world's stream and kept (the data of worlds up to
    /// [`MAX_STORED_USER_BYTES`]).
    Stored {
        seg: Vec<u32>,
        shared: Vec<f32>,  // [U][d]
        cluster: Vec<f32>, // [U][C][d]
        scen: Vec<f32>,    // [U][M][d]
        bias: Vec<f32>,
        activity: Vec<f32>,
    },
    /// Drawn from user u's own stream (seeded by the world's seed and u) each time it is needed.
    Drawn {
        seed: u64,
        segments: usize,
        seg_vec: Vec<f32>,
        /// `sqrt(side_signal)`, `sqrt(1 - side_signal)` and the factors' entry std.
        ss: f32,
        sn: f32,
        s: f64,
    },
}

/// One user's latent values (see [`World::user_into`]).
#[derive(Default)]
struct User {
    seg: u32,
    shared: Vec<f32>,
    cluster: Vec<f32>,
    scen: Vec<f32>,
    bias: f32,
    activity: f32,
}

impl SyntheticConfig {
    /// Bytes the users' latent values would take stored: per user the shared, per-cluster and
    /// per-scenario factors, a bias, an activity and a segment.
    pub fn user_world_bytes(&self) -> u64 {
        let c = self.scenario_clusters.iter().max().map_or(1, |x| x + 1) as u64;
        let per = (self.latent_dim as u64)
            .saturating_mul(1 + c + self.scenario_shares.len() as u64)
            .saturating_add(3)
            .saturating_mul(4);
        (self.users as u64).saturating_mul(per)
    }

    /// Whether generating keeps every user's values in memory (worlds up to
    /// [`MAX_STORED_USER_BYTES`]) rather than drawing them per row.
    pub fn stores_users(&self) -> bool {
        self.user_world_bytes() <= MAX_STORED_USER_BYTES
    }
}

impl World {
    /// User `u`'s values, into `out` (its vectors reused).
    fn user_into(&self, u: usize, out: &mut User) {
        let (d, c, m) = (self.d, self.c, self.m);
        match &self.users {
            Users::Stored {
                seg,
                shared,
                cluster,
                scen,
                bias,
                activity,
            } => {
                out.seg = seg[u];
                out.shared.clear();
                out.shared.extend_from_slice(&shared[u * d..(u + 1) * d]);
                out.cluster.clear();
                out.cluster.extend_from_slice(&cluster[u * c * d..(u + 1) * c * d]);
                out.scen.clear();
                out.scen.extend_from_slice(&scen[u * m * d..(u + 1) * m * d]);
                out.bias = bias[u];
                out.activity = activity[u];
            }
            Users::Drawn {
                seed,
                segments,
                seg_vec,
                ss,
                sn,
                s,
            } => {
                let mut rng = ChaCha8Rng::seed_from_u64(*seed);
                // Stream 0 is the world's, 1.. the chunks'; users count down from the top.
                rng.set_stream(u64::MAX - u as u64);
                out.seg = rng.random_range(0..*segments) as u32;
                let g = out.seg as usize;
                out.shared.clear();
                for k in 0..d {
                    out.shared
                        .push(ss * seg_vec[g * d + k] + sn * (s * normal(&mut rng)) as f32);
                }
                out.cluster.clear();
                out.cluster.extend((0..c * d).map(|_| (s * normal(&mut rng)) as f32));
                out.scen.clear();
                out.scen.extend((0..m * d).map(|_| (s * normal(&mut rng)) as f32));
                out.bias = (0.4 * normal(&mut rng)) as f32;
                out.activity = normal(&mut rng) as f32;
            }
        }
    }

    fn new(cfg: &SyntheticConfig) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(0);
        let d = cfg.latent_dim;
        let m = cfg.scenario_shares.len();
        let c = cfg.scenario_clusters.iter().max().map_or(1, |x| x + 1);
        // Entry std d^(-1/4) gives every dot product of two factors unit variance.
        let s = (d as f64).powf(-0.25);
        let vecs = |n: usize, rng: &mut ChaCha8Rng| -> Vec<f32> { (0..n).map(|_| (s * normal(rng)) as f32).collect() };
        let seg_vec = vecs(cfg.user_segments * d, &mut rng);
        let cat_vec = vecs(cfg.item_categories * d, &mut rng);
        let stored = cfg.stores_users();
        let seg_of_user: Vec<u32> = if stored {
            (0..cfg.users)
                .map(|_| rng.random_range(0..cfg.user_segments) as u32)
                .collect()
        } else {
            Vec::new()
        };
        let cat_of_item: Vec<u32> = (0..cfg.items)
            .map(|_| rng.random_range(0..cfg.item_categories) as u32)
            .collect();
        let (ss, sn) = (cfg.side_signal.sqrt() as f32, (1.0 - cfg.side_signal).sqrt() as f32);
        let mixed = |groups: &[u32], group_vec: &[f32], rng: &mut ChaCha8Rng| -> Vec<f32> {
            let mut v = Vec::with_capacity(groups.len() * d);
            for &g in groups {
                for k in 0..d {
                    v.push(ss * group_vec[g as usize * d + k] + sn * (s * normal(rng)) as f32);
                }
            }
            v
        };
        // A stored world draws everything from stream 0 in this order (the order fixes the data).
        let users_n = if stored { cfg.users } else { 0 };
        let user_shared = mixed(&seg_of_user, &seg_vec, &mut rng);
        let item_shared = mixed(&cat_of_item, &cat_vec, &mut rng);
        let item_conv = mixed(&cat_of_item, &cat_vec, &mut rng);
        let vecs = |n: usize, rng: &mut ChaCha8Rng| -> Vec<f32> { (0..n).map(|_| (s * normal(rng)) as f32).collect() };
        let user_cluster = vecs(users_n * c * d, &mut rng);
        let item_cluster = vecs(cfg.items * c * d, &mut rng);
        let user_scen = vecs(users_n * m * d, &mut rng);
        let item_scen = vecs(cfg.items * m * d, &mut rng);
        let user_bias = (0..users_n).map(|_| (0.4 * normal(&mut rng)) as f32).collect();
        let item_bias = (0..cfg.items).map(|_| (0.4 * normal(&mut rng)) as f32).collect();
        let user_activity = (0..users_n).map(|_| normal(&mut rng) as f32).collect();
        let item_log_price = (0..cfg.items).map(|_| (3.0 + 0.8 * normal(&mut rng)) as f32).collect();
        let users = if stored {
            Users::Stored {
                seg: seg_of_user,
                shared: user_shared,
                cluster: user_cluster,
                scen: user_scen,
                bias: user_bias,
                activity: user_activity,
            }
        } else {
            Users::Drawn {
                seed: cfg.seed,
                segments: cfg.user_segments,
                seg_vec,
                ss,
                sn,
                s,
            }
        };
        let scen_ctr = (0..m).map(|_| 0.3 * normal(&mut rng)).collect();
        let scen_cvr = (0..m).map(|_| 0.3 * normal(&mut rng)).collect();
        let total: f64 = cfg.scenario_shares.iter().sum();
        let mut acc = 0.0;
        let share_cdf = cfg
            .scenario_shares
            .iter()
            .map(|x| {
                acc += x / total;
                acc
            })
            .collect();
        let mut w = World {
            d,
            m,
            c,
            cluster_of: cfg.scenario_clusters.clone(),
            a: cfg.cluster_weight.sqrt() as f32,
            b: (1.0 - cfg.cluster_weight).sqrt() as f32,
            share_cdf,
            users,
            cat_of_item,
            item_shared,
            item_conv,
            item_cluster,
            item_scen,
            item_bias,
            item_log_price,
            scen_ctr,
            scen_cvr,
            shared_weight: cfg.shared_weight,
            specific_weight: cfg.specific_weight,
            ctr0: 0.0,
            cvr0: 0.0,
        };
        w.calibrate(cfg, &mut rng);
        w
    }

    /// Logits without the global intercepts.
    fn logits(&self, m: usize, user: &User, i: usize) -> (f64, f64) {
        let d = self.d;
        let dot = |x: &[f32], y: &[f32]| -> f32 { x.iter().zip(y).map(|(a, b)| a * b).sum() };
        let pu = &user.shared[..];
        let shared = dot(pu, &self.item_shared[i * d..(i + 1) * d]);
        let conv = dot(pu, &self.item_conv[i * d..(i + 1) * d]);
        let cl = self.cluster_of[m];
        let uc = &user.cluster[cl * d..][..d];
        let us = &user.scen[m * d..][..d];
        let ic = &self.item_cluster[(i * self.c + cl) * d..][..d];
        let is = &self.item_scen[(i * self.m + m) * d..][..d];
        let (a, b) = (self.a, self.b);
        let mut specific = 0.0f32;
        for k in 0..d {
            specific += (a * uc[k] + b * us[k]) * (a * ic[k] + b * is[k]);
        }
        let (ws, wx) = (self.shared_weight, self.specific_weight);
        let ctr = self.scen_ctr[m]
            + f64::from(user.bias + self.item_bias[i])
            + ws * f64::from(shared)
            + wx * f64::from(specific)
            + 0.4 * f64::from(user.activity);
        let cvr = self.scen_cvr[m] + ws * f64::from(conv) + 0.5 * wx * f64::from(specific)
            - 0.5 * (f64::from(self.item_log_price[i]) - 3.0);
        (ctr, cvr)
    }

    fn draw_scenario(&self, rng: &mut ChaCha8Rng) -> usize {
        let u: f64 = rng.random();
        self.share_cdf.iter().position(|&c| u < c).unwrap_or(self.m - 1)
    }

    /// Sets the intercepts by bisection on a calibration sample so that the mean CTR and the
    /// click-weighted mean CVR hit the configured base rates.
    fn calibrate(&mut self, cfg: &SyntheticConfig, rng: &mut ChaCha8Rng) {
        let mut user = User::default();
        let sample: Vec<(f64, f64)> = (0..20_000)
            .map(|_| {
                let m = self.draw_scenario(rng);
                let u = skewed_index(rng, cfg.users, cfg.user_skew);
                let i = skewed_index(rng, cfg.items, cfg.item_skew);
                self.user_into(u, &mut user);
                self.logits(m, &user, i)
            })
            .collect();
        let bisect = |f: &dyn Fn(f64) -> f64, target: f64| -> f64 {
            let (mut lo, mut hi) = (-30.0, 30.0);
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if f(mid) < target { lo = mid } else { hi = mid }
            }
            0.5 * (lo + hi)
        };
        let n = sample.len() as f64;
        let ctr0 = bisect(
            &|b| sample.iter().map(|(z, _)| sigmoid(b + z)).sum::<f64>() / n,
            cfg.base_ctr,
        );
        let weights: Vec<f64> = sample.iter().map(|(z, _)| sigmoid(ctr0 + z)).collect();
        let wsum: f64 = weights.iter().sum();
        let cvr0 = bisect(
            &|c| {
                sample
                    .iter()
                    .zip(&weights)
                    .map(|((_, z), w)| w * sigmoid(c + z))
                    .sum::<f64>()
                    / wsum
            },
            cfg.base_cvr,
        );
        self.ctr0 = ctr0;
        self.cvr0 = cvr0;
    }
}

/// Generates the dataset described by `cfg`.
pub fn generate(cfg: &SyntheticConfig) -> Result<Dataset, DataError> {
    cfg.check()?;
    let world = World::new(cfg);
    let spec = cfg.feature_spec();
    let (f, nd) = (spec.sparse.len(), cfg.dense);
    let chunks = cfg.rows.div_ceil(CHUNK_ROWS);
    let parts: Vec<Chunk> = (0..chunks)
        .into_par_iter()
        .map(|k| {
            let rows = CHUNK_ROWS.min(cfg.rows - k * CHUNK_ROWS);
            gen_chunk(cfg, &world, k, rows, f, nd)
        })
        .collect();
    let mut data = Dataset::empty(spec);
    let n = cfg.rows;
    data.scenario.reserve(n);
    data.sparse.reserve(n * f);
    data.dense.reserve(n * nd);
    data.labels.reserve(n * 2);
    let mut oracle = Vec::with_capacity(n * 2);
    for p in parts {
        data.scenario.extend_from_slice(&p.scenario);
        data.sparse.extend_from_slice(&p.sparse);
        data.dense.extend_from_slice(&p.dense);
        data.labels.extend_from_slice(&p.labels);
        oracle.extend_from_slice(&p.oracle);
    }
    data.oracle = Some(oracle);
    data.row_key = (0..n as u64).collect();
    data.file_part = vec![None; n];
    data.dense_normalize = cfg.dense_normalize();
    Ok(data)
}

struct Chunk {
    scenario: Vec<u32>,
    sparse: Vec<u32>,
    dense: Vec<f32>,
    labels: Vec<f32>,
    oracle: Vec<f32>,
}

fn gen_chunk(cfg: &SyntheticConfig, w: &World, k: usize, rows: usize, f: usize, nd: usize) -> Chunk {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(k as u64 + 1);
    let mut ch = Chunk {
        scenario: Vec::with_capacity(rows),
        sparse: Vec::with_capacity(rows * f),
        dense: Vec::with_capacity(rows * nd),
        labels: Vec::with_capacity(rows * 2),
        oracle: Vec::with_capacity(rows * 2),
    };
    let mut user = User::default();
    for _ in 0..rows {
        let m = w.draw_scenario(&mut rng);
        let u = skewed_index(&mut rng, cfg.users, cfg.user_skew);
        let i = skewed_index(&mut rng, cfg.items, cfg.item_skew);
        w.user_into(u, &mut user);
        ch.scenario.push(m as u32);
        ch.sparse
            .extend_from_slice(&[u as u32, i as u32, user.seg, w.cat_of_item[i]]);
        for _ in 0..cfg.noise_fields {
            ch.sparse.push(rng.random_range(0..cfg.noise_vocab) as u32);
        }
        for c in 0..nd {
            let x = match c {
                // Observed activity is the true one plus noise: informative but not exact.
                0 => user.activity + 0.5 * normal(&mut rng) as f32,
                1 => w.item_log_price[i].exp(),
                _ => normal(&mut rng) as f32,
            };
            ch.dense.push(x);
        }
        let (zc, zv) = w.logits(m, &user, i);
        let (p_ctr, p_cvr) = (sigmoid(w.ctr0 + zc), sigmoid(w.cvr0 + zv));
        let click = rng.random::<f64>() < p_ctr;
        // Draw the order for every row (used only after a click) so the random stream does not
        // depend on the click outcome's branch.
        let order = rng.random::<f64>() < p_cvr;
        ch.labels
            .extend_from_slice(&[f32::from(u8::from(click)), f32::from(u8::from(click && order))]);
        ch.oracle.extend_from_slice(&[p_ctr as f32, (p_ctr * p_cvr) as f32]);
    }
    ch
}
