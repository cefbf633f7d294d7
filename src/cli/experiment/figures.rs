//! The experiment's PNG figures: grouped bars of AUC per (scenario, task) with seed error bars,
//! and AUC against the number of sub-experts (SAN's heat-map is `plots::heatmap`, shared with
//! `hinet train`).

use super::stats::Summary;
use crate::cli::plots::{font_available, plot_err, write_png};
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

/// Tableau-like colours, one per model.
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One model's values: a name and a summary per x position.
pub type Series = (String, Vec<Option<Summary>>);

/// The y range covering every mean ± sd, padded.
fn y_range(series: &[Series]) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for s in series.iter().flat_map(|s| s.1.iter().flatten()) {
        lo = lo.min(s.mean - s.sd);
        hi = hi.max(s.mean + s.sd);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(0.002);
    (lo - pad, hi + pad)
}

/// Grouped bars: one group per label in `groups`, one bar per series, error bars of one sd.
pub fn bars(path: &Path, title: &str, groups: &[String], series: &[Series]) -> Result<()> {
    let text = font_available();
    let e = plot_err(path);
    let width = (160 + groups.len() * (30 + 14 * series.len())).clamp(700, 1400) as u32;
    write_png(path, (width, 440), |root| {
        root.fill(&WHITE).map_err(&e)?;
        let (lo, hi) = y_range(series);
        // Head room for the legend in the upper right corner.
        let hi = hi + (hi - lo) * 0.07 * (series.len() as f64 + 1.0);
        let mut builder = ChartBuilder::on(root);
        builder.margin(12);
        if text {
            builder
                .caption(title, ("sans-serif", 20))
                .x_label_area_size(40)
                .y_label_area_size(60);
        }
        let n = groups.len().max(1);
        let mut chart = builder.build_cartesian_2d(0f64..n as f64, lo..hi).map_err(&e)?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .light_line_style(WHITE)
            .y_desc("test AUC (mean ± sd over seeds)");
        let label = |x: &f64| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 1e-6 {
                groups.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        mesh.x_labels(2 * n + 1).x_label_formatter(&label);
        if !text {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(&e)?;
        let k = series.len().max(1) as f64;
        let bar = 0.8 / k;
        for (si, (name, values)) in series.iter().enumerate() {
            let color = COLORS[si % COLORS.len()];
            let x0 = |g: usize| g as f64 + 0.1 + si as f64 * bar;
            let drawn = chart
                .draw_series(values.iter().enumerate().filter_map(|(g, v)| {
                    let v = v.as_ref()?;
                    Some(Rectangle::new(
                        [(x0(g), lo), (x0(g) + bar * 0.9, v.mean)],
                        color.filled(),
                    ))
                }))
                .map_err(&e)?;
            if text {
                drawn
                    .label(name.as_str())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
            }
            chart
                .draw_series(values.iter().enumerate().filter_map(|(g, v)| {
                    let v = v.as_ref()?;
                    let x = x0(g) + bar * 0.45;
                    Some(ErrorBar::new_vertical(
                        x,
                        v.mean - v.sd,
                        v.mean,
                        v.mean + v.sd,
                        BLACK,
                        4,
                    ))
                }))
                .map_err(&e)?;
        }
        if text {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(&e)?;
        }
        Ok(())
    })
}

/// Lines of mean ± sd against `xs` (plotted on a log2 axis).
pub fn curves(path: &Path, title: &str, x_desc: &str, xs: &[usize], series: &[Series]) -> Result<()> {
    let text = font_available();
    let e = plot_err(path);
    write_png(path, (760, 440), |root| {
        root.fill(&WHITE).map_err(&e)?;
        let (lo, hi) = y_range(series);
        // Head room for the legend, so that it never covers a curve.
        let hi = hi + (hi - lo) * 0.12 * (series.len() as f64 + 1.0);
        let lx: Vec<f64> = xs.iter().map(|&x| (x.max(1) as f64).log2()).collect();
        let x_max = lx.iter().cloned().fold(1.0, f64::max);
        let mut builder = ChartBuilder::on(root);
        builder.margin(12);
        if text {
            builder
                .caption(title, ("sans-serif", 20))
                .x_label_area_size(40)
                .y_label_area_size(60);
        }
        let mut chart = builder.build_cartesian_2d(-0.3f64..x_max + 0.3, lo..hi).map_err(&e)?;
        let mut mesh = chart.configure_mesh();
        let fmt = |v: &f64| {
            let r = v.round();
            if (v - r).abs() < 1e-6 && r >= 0.0 {
                format!("{}", 2usize.pow(r as u32))
            } else {
                String::new()
            }
        };
        mesh.x_desc(x_desc)
            .light_line_style(WHITE)
            .y_desc("test AUC (mean ± sd over seeds)")
            .x_label_formatter(&fmt)
            .x_labels(((x_max + 0.6) * 4.0) as usize + 1);
        if !text {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(&e)?;
        for (si, (name, values)) in series.iter().enumerate() {
            let color = COLORS[si % COLORS.len()];
            let pts: Vec<(f64, Summary)> = lx.iter().zip(values).filter_map(|(&x, v)| Some((x, (*v)?))).collect();
            let drawn = chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|(x, v)| (*x, v.mean)),
                    ShapeStyle::from(color).stroke_width(2),
                ))
                .map_err(&e)?;
            if text {
                drawn
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
            chart
                .draw_series(
                    pts.iter()
                        .map(|(x, v)| ErrorBar::new_vertical(*x, v.mean - v.sd, v.mean, v.mean + v.sd, color, 8)),
                )
                .map_err(&e)?;
        }
        if text {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(&e)?;
        }
        Ok(())
    })
}
