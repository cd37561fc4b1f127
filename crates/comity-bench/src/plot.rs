//! The propagation CDF as SVG (plotters' SVG backend: no system font libraries).

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use std::path::Path;

/// One curve: a label and its latencies in milliseconds, sorted ascending.
pub struct Curve {
    pub label: String,
    pub sorted_ms: Vec<f64>,
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

pub fn cdf(path: &Path, title: &str, curves: &[Curve]) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("plot {}: {e}", path.display());
    let max = curves
        .iter()
        .filter_map(|c| c.sorted_ms.last().copied())
        .fold(1.0_f64, f64::max)
        * 1.05;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..max, 0.0..1.0)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("latency from publish returning to durably stored at every follower (ms)")
        .y_desc("fraction of entries")
        .draw()
        .map_err(|e| err(&e))?;
    for (i, curve) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let n = curve.sorted_ms.len().max(1) as f64;
        let points = curve
            .sorted_ms
            .iter()
            .enumerate()
            .map(|(k, &ms)| (ms, (k + 1) as f64 / n));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(curve.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
