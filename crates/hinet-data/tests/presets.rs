//! Each preset loads from the shared data folder with the counts its SOURCE.md states.

use std::path::PathBuf;

use hinet_data::{ReadOptions, SplitSpec, presets};

fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"))
}

#[test]
fn ali_ccp_sample() {
    let p = presets::ali_ccp_sample(&data_dir());
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.len(), 200);
    assert_eq!(d.spec.scenarios, vec!["1", "2", "3"]);
    assert_eq!(d.spec.tasks, vec!["ctr", "ctcvr"]);
    assert_eq!((d.spec.sparse.len(), d.spec.dense.len()), (22, 8));
    let s = d.split(&p.split).unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (100, 50, 50));
    // SOURCE.md: rows per 301 = 1/2/3, clicks and purchases per split.
    assert_eq!(s.train.scenario_counts(), vec![69, 19, 12]);
    assert_eq!(s.valid.scenario_counts(), vec![38, 7, 5]);
    assert_eq!(s.test.scenario_counts(), vec![39, 6, 5]);
    let pos = |ds: &hinet_data::Dataset, t: usize| ds.labels.iter().skip(t).step_by(2).filter(|y| **y > 0.5).count();
    assert_eq!((pos(&s.train, 0), pos(&s.train, 1)), (7, 1));
    assert_eq!((pos(&s.valid, 0), pos(&s.valid, 1)), (3, 1));
    assert_eq!((pos(&s.test, 0), pos(&s.test, 1)), (6, 1));
    d.validate().unwrap();
}

#[test]
fn aliexpress_sample() {
    let p = presets::aliexpress_sample(&data_dir());
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.len(), 320);
    assert_eq!((d.spec.sparse.len(), d.spec.dense.len()), (16, 63));
    assert_eq!(d.scenario_counts(), vec![120, 200]); // us: 100 + 20, fuxictr: 100 + 100
    let s = d.split(&SplitSpec::File).unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (200, 0, 120));
    // SOURCE.md rates: US train click 0.6, FuxiCTR train click 0.03.
    assert!((s.train.label_rate(0, Some(0)).unwrap() - 0.6).abs() < 1e-9);
    assert!((s.train.label_rate(0, Some(1)).unwrap() - 0.03).abs() < 1e-9);
    // conversion implies click in every row.
    assert!(d.labels.chunks_exact(2).all(|y| y[1] <= y[0]));
    d.validate().unwrap();
}

#[test]
fn movielens_100k() {
    let p = presets::movielens_100k(&data_dir());
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.len(), 100_000);
    assert_eq!(d.scenario_counts(), vec![26_551, 35_444, 38_005]);
    assert!((d.label_rate(0, None).unwrap() - 0.5538).abs() < 5e-5);
    assert!((d.label_rate(1, None).unwrap() - 0.2120).abs() < 5e-5);
    assert!((d.label_rate(0, Some(0)).unwrap() - 0.5362).abs() < 5e-5);
    // The small string fields hash without collisions (gender, occupation, genre, release year).
    for (field, distinct) in [(2, 2), (3, 21), (5, 19), (6, 73)] {
        let ids: std::collections::HashSet<u32> = d.sparse.chunks_exact(7).map(|r| r[field]).collect();
        assert_eq!(ids.len(), distinct, "field {}", d.spec.sparse[field].name);
    }
    let s = d.split(&p.split).unwrap();
    let frac = s.train.len() as f64 / 100_000.0;
    assert!((frac - 0.8).abs() < 0.01, "{frac}");
    d.validate().unwrap();
}

#[test]
fn presets_by_name() {
    for name in presets::PRESET_NAMES {
        assert_eq!(hinet_data::preset(name, &data_dir()).unwrap().name, *name);
    }
    assert!(hinet_data::preset("nope", &data_dir()).is_err());
}
