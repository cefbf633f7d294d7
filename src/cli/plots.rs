//! PNG plots of a training run (plotters, bitmap backend): loss and AUC curves per epoch and
//! the heat map of SAN's scenario-to-scenario attention weights.
//!
//! Text needs a TrueType font: plotters' `ab_glyph` backend is given the first font found in
//! the usual system folders (DejaVu, Liberation, Noto, ...; or `HINET_PLOT_FONT`). Without one
//! the plots are drawn without any text (axes, curves and cells only) and a warning says so.

use super::files;
use super::train::EpochRecord;
use anyhow::{Result, anyhow};
use image::ImageEncoder as _;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The files [`training_plots`] writes into its folder (the heat map only when SAN is on).
pub const TRAINING_PLOTS: [&str; 3] = ["loss.png", "auc.png", "san_attention.png"];

/// Checks, before training, that `dir` can take the training plots: a folder (created when
/// missing), writable, none of its plot files one of `inputs`. `hinet train --plots`.
pub fn check_training_plots(dir: &Path, inputs: &[&Path]) -> Result<()> {
    files::check_output_dir(dir, "--plots")?;
    for name in TRAINING_PLOTS {
        files::check_output(&dir.join(name), "--plots", inputs)?;
    }
    Ok(())
}

/// Draws a `width` x `height` picture in memory with `draw`, then writes it to `path` as PNG
/// through a temporary file (see [`files::AtomicFile`]): a failure or a full disk leaves the
/// previous file or none, never a truncated one.
pub fn write_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    let e = plot_err(path);
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(&e)?;
    }
    files::remove_stale_temps(path);
    let mut file = files::AtomicFile::create(path)?;
    image::codecs::png::PngEncoder::new(&mut file)
        .write_image(&pixels, width, height, image::ColorType::Rgb8)
        .map_err(|err| match err {
            // The file's own error already names it.
            image::ImageError::IoError(io) => anyhow!(io),
            other => anyhow!("plot {}: {other}", path.display()),
        })?;
    file.commit()
}

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a font for plotters once; `true` if text can be drawn.
pub fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var_os("HINET_PLOT_FONT").map(PathBuf::from);
        let candidates = env.into_iter().chain(FONT_CANDIDATES.iter().map(PathBuf::from));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps the font for the whole process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    tracing::debug!("plot font: {}", path.display());
                    return true;
                }
            }
        }
        tracing::warn!("no TrueType font found (set HINET_PLOT_FONT=FILE.ttf): plots are drawn without text");
        false
    })
}

pub fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow!("plot {}: {e:?}", path.display())
}

/// Curves per epoch: (name, colour, points).
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn line_plot(path: &Path, title: &str, y_label: &str, series: &[Series<'_>]) -> Result<()> {
    let text = font_available();
    let e = plot_err(path);
    let points = series.iter().flat_map(|s| s.2.iter()).filter(|p| p.1.is_finite());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.1).max(1e-3);
    write_png(path, (800, 500), |root| {
        root.fill(&WHITE).map_err(&e)?;
        let mut builder = ChartBuilder::on(root);
        builder.margin(15);
        if text {
            builder
                .caption(title, ("sans-serif", 24))
                .x_label_area_size(40)
                .y_label_area_size(60);
        }
        let mut chart = builder
            .build_cartesian_2d(0.8f64..x_max + 0.2, (y_min - pad)..(y_max + pad))
            .map_err(&e)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc("epoch").y_desc(y_label);
        if !text {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(&e)?;
        for (name, color, pts) in series {
            let pts: Vec<(f64, f64)> = pts.iter().copied().filter(|p| p.1.is_finite()).collect();
            if pts.is_empty() {
                continue;
            }
            let style = ShapeStyle::from(color).stroke_width(2);
            let drawn = chart.draw_series(LineSeries::new(pts.clone(), style)).map_err(&e)?;
            if text {
                let c = *color;
                drawn
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
            }
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(&e)?;
        }
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(&e)?;
        }
        Ok(())
    })
}

/// Heat map of SAN's attention: row i = current scenario, column m = weight on scenario m.
pub fn heatmap(path: &Path, title: &str, weights: &[Vec<f64>], scenarios: &[String]) -> Result<()> {
    let text = font_available();
    let e = plot_err(path);
    let m = weights.len();
    write_png(path, (700, 640), |root| {
        root.fill(&WHITE).map_err(&e)?;
        let mut builder = ChartBuilder::on(root);
        builder.margin(20);
        if text {
            builder
                .caption(title, ("sans-serif", 18))
                .x_label_area_size(50)
                .y_label_area_size(90);
        }
        let mut chart = builder.build_cartesian_2d(0..m as i32, 0..m as i32).map_err(&e)?;
        let name = |i: &i32| scenarios.get(*i as usize).cloned().unwrap_or_default();
        if text {
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(m)
                .y_labels(m)
                .x_label_formatter(&|v| name(v))
                .y_label_formatter(&|v| name(&(m as i32 - 1 - v)))
                .x_label_offset(30)
                .y_label_offset(-20)
                .draw()
                .map_err(&e)?;
        }
        // Colour spans the off-diagonal range (white = smallest, red = largest): SAN's weights are
        // often near uniform, and a scale from 0 would paint them all one red. The diagonal (a
        // scenario's weight on itself, 0 by construction) is grey.
        let off: Vec<f64> = weights
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.iter().enumerate().filter(move |(j, _)| *j != i).map(|(_, &w)| w))
            .collect();
        let lo = off.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = off.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let span = if hi > lo { hi - lo } else { 1.0 };
        chart
            .draw_series(weights.iter().enumerate().flat_map(|(i, row)| {
                row.iter().enumerate().map(move |(j, &w)| {
                    let y = (m - 1 - i) as i32;
                    let color = if i == j {
                        RGBColor(220, 220, 220)
                    } else {
                        let v = ((w - lo) / span).clamp(0.0, 1.0);
                        RGBColor(255, (255.0 * (1.0 - 0.85 * v)) as u8, (255.0 * (1.0 - 0.85 * v)) as u8)
                    };
                    Rectangle::new([(j as i32, y), (j as i32 + 1, y + 1)], color.filled())
                })
            }))
            .map_err(&e)?;
        if text {
            let cell = chart.plotting_area().get_pixel_range();
            let px = (
                (cell.0.end - cell.0.start) / m.max(1) as i32,
                (cell.1.end - cell.1.start) / m.max(1) as i32,
            );
            chart
                .draw_series(weights.iter().enumerate().flat_map(|(i, row)| {
                    row.iter().enumerate().map(move |(j, &w)| {
                        let y = (m - 1 - i) as i32;
                        // Anchored at the cell's top-left corner, shifted to its middle in pixels.
                        EmptyElement::at((j as i32, y + 1))
                            + Text::new(
                                format!("{w:.3}"),
                                (px.0 / 2 - 20, px.1 / 2 - 8),
                                ("sans-serif", 16).into_font(),
                            )
                    })
                }))
                .map_err(&e)?;
        }
        Ok(())
    })
}

/// Writes loss.png, auc.png and (when SAN is on) san_attention.png into `dir`.
pub fn training_plots(
    dir: &Path,
    history: &[EpochRecord],
    attention: Option<&[Vec<f64>]>,
    scenarios: &[String],
) -> Result<()> {
    // Checked before training by the caller; again here (the folder, stale temporaries).
    check_training_plots(dir, &[])?;
    let pts = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
            .collect()
    };
    line_plot(
        &dir.join("loss.png"),
        "loss per epoch",
        "loss (sum over tasks)",
        &[
            ("train (mean of steps)", BLUE, pts(&|r| Some(r.train_loss))),
            ("train sample", CYAN, pts(&|r| Some(r.train_logloss))),
            ("validation", RED, pts(&|r| r.valid_loss)),
        ],
    )?;
    line_plot(
        &dir.join("auc.png"),
        "mean AUC over scenarios and tasks",
        "AUC",
        &[
            ("train sample", BLUE, pts(&|r| r.train_auc)),
            ("validation", RED, pts(&|r| r.valid_auc)),
        ],
    )?;
    if let Some(w) = attention {
        heatmap(
            &dir.join("san_attention.png"),
            "SAN attention: scenario i (row) attends to scenario m (column)",
            w,
            scenarios,
        )?;
    }
    tracing::info!("plots written to {}", dir.display());
    Ok(())
}
