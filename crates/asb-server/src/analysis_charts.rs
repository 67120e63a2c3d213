//! The analysis pages' pictures, drawn here as SVG so no script or tile server is needed: the
//! monthly trend (bars with their numbers written beside them), the categories by month (each
//! category its own fill pattern, named in a legend), and a borough map (the imported boundary
//! and the hotspot hexagons, shaded by count with the counts in the legend and each hexagon
//! titled). Every chart reads without colour: values are text, fills are patterns or steps of
//! lightness, and emerging cells have a dashed outline as well as a label.

use crate::supervision::escape;

const INK: &str = "#0b0c0c";

/// One month's bar: its label, total and the words for its change on a year before.
pub struct TrendBar {
    pub label: String,
    pub total: i64,
    pub change: String,
}

/// Horizontal bars, one a month: month, bar (hatched), then the count and its year-on-year
/// change in words.
pub fn trend_chart(id: &str, title: &str, bars: &[TrendBar]) -> String {
    let max = bars.iter().map(|b| b.total).max().unwrap_or(0).max(1) as f64;
    let (row, left, width) = (22, 70.0, 330.0);
    let height = row * bars.len() + 10;
    let mut svg = format!(
        "<svg class=\"asb-chart\" role=\"img\" aria-labelledby=\"{id}-title\" viewBox=\"0 0 760 {height}\" width=\"760\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title>\
         <defs><pattern id=\"{id}-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"6\" height=\"6\" fill=\"#ffffff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#1d70b8\" stroke-width=\"3\"/></pattern></defs>",
        escape(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 5 + i * row;
        let w = b.total as f64 / max * width;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{ty}\" font-size=\"13\" fill=\"{INK}\">{label}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" fill=\"url(#{id}-hatch)\" stroke=\"{INK}\" stroke-width=\"1\"/>\
             <text x=\"{tx:.1}\" y=\"{ty}\" font-size=\"13\" fill=\"{INK}\">{total} · {change}</text>",
            ty = y + 13,
            label = escape(&b.label),
            tx = left + w + 6.0,
            total = b.total,
            change = escape(&b.change),
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The four categories' fills: a pattern each, distinct in shape, not only in colour.
fn category_patterns(id: &str) -> String {
    format!(
        "<pattern id=\"{id}-p0\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" fill=\"#003078\"/></pattern>\
         <pattern id=\"{id}-p1\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ffffff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#1d70b8\" stroke-width=\"3\"/></pattern>\
         <pattern id=\"{id}-p2\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" fill=\"#ffffff\"/><circle cx=\"3\" cy=\"3\" r=\"1.6\" fill=\"#00703c\"/></pattern>\
         <pattern id=\"{id}-p3\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\"><rect width=\"8\" height=\"8\" fill=\"#ffffff\"/><path d=\"M0 0L8 8M8 0L0 8\" stroke=\"#505a5f\" stroke-width=\"1\"/></pattern>"
    )
}

/// One month's counts by category, in the order of the legend.
pub struct StackedBar {
    pub label: String,
    pub counts: Vec<i64>,
}

/// Each month a bar split by category (patterns named in the legend), with the counts written
/// after it.
pub fn category_chart(id: &str, title: &str, legend: &[&str], bars: &[StackedBar]) -> String {
    let max = bars.iter().map(|b| b.counts.iter().sum::<i64>()).max().unwrap_or(0).max(1) as f64;
    let (row, left, width, top) = (22, 70.0, 330.0, 30);
    let height = top + row * bars.len() + 10;
    let mut svg = format!(
        "<svg class=\"asb-chart\" role=\"img\" aria-labelledby=\"{id}-title\" viewBox=\"0 0 900 {height}\" width=\"900\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><defs>{}</defs>",
        escape(title),
        category_patterns(id)
    );
    let mut x = 0.0;
    for (i, name) in legend.iter().enumerate() {
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"4\" width=\"16\" height=\"16\" fill=\"url(#{id}-p{i})\" stroke=\"{INK}\" stroke-width=\"1\"/>\
             <text x=\"{tx:.1}\" y=\"17\" font-size=\"13\" fill=\"{INK}\">{}</text>",
            escape(name),
            tx = x + 22.0,
        ));
        x += 40.0 + 8.0 * name.len() as f64;
    }
    for (i, b) in bars.iter().enumerate() {
        let y = top + i * row;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{ty}\" font-size=\"13\" fill=\"{INK}\">{}</text>",
            escape(&b.label),
            ty = y + 13
        ));
        let mut at = left;
        for (k, n) in b.counts.iter().enumerate() {
            let w = *n as f64 / max * width;
            if w > 0.0 {
                svg.push_str(&format!(
                    "<rect x=\"{at:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" fill=\"url(#{id}-p{k})\" stroke=\"{INK}\" stroke-width=\"1\"/>"
                ));
            }
            at += w;
        }
        // Each category's count in words after the bar (the categories with none left out).
        let words: Vec<String> =
            legend.iter().zip(&b.counts).filter(|(_, n)| **n > 0).map(|(l, n)| format!("{l} {n}")).collect();
        svg.push_str(&format!(
            "<text x=\"{tx:.1}\" y=\"{ty}\" font-size=\"13\" fill=\"{INK}\">{}</text>",
            escape(&words.join(" · ")),
            tx = at + 6.0,
            ty = y + 13
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A hotspot cell as the map draws it.
pub struct MapCell {
    pub rank: Option<usize>,
    pub name: String,
    /// Vertices as (lat, lon).
    pub outline: Vec<(f64, f64)>,
    pub count: i64,
    pub emerging: bool,
}

/// Shades from light to dark: distinct in lightness, so they read in greyscale too.
const SHADES: [&str; 5] = ["#deebf7", "#9ecae1", "#6baed6", "#2171b5", "#08306b"];

/// The classes the counts are shaded in: up to five ranges of counts, from the counts' own
/// spread (quantiles of the distinct counts), as (low, high) inclusive.
pub fn classes(counts: &[i64]) -> Vec<(i64, i64)> {
    let mut distinct: Vec<i64> = counts.iter().copied().filter(|c| *c > 0).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.is_empty() {
        return vec![];
    }
    let n = distinct.len().min(SHADES.len());
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut low = distinct[0];
    for k in 1..=n {
        let high = distinct[(k * distinct.len()).div_ceil(n) - 1];
        if high >= low {
            out.push((low, high));
            low = high + 1;
        }
    }
    out
}

fn class_of(classes: &[(i64, i64)], count: i64) -> usize {
    classes.iter().position(|(lo, hi)| count >= *lo && count <= *hi).unwrap_or(0)
}

fn range_words((lo, hi): (i64, i64)) -> String {
    let unit = if hi == 1 { "report" } else { "reports" };
    if lo == hi {
        format!("{lo} {unit}")
    } else {
        format!("{lo}–{hi} {unit}")
    }
}

/// The borough map: the boundary's rings ((lon, lat), as GeoJSON holds them) when imported, and
/// the cells shaded by count, projected equirectangularly (longitude scaled by the cosine of
/// the middle latitude) into the view box. `None` when there is nothing to draw.
pub fn borough_map(id: &str, title: &str, rings: &[Vec<(f64, f64)>], cells: &[MapCell]) -> Option<String> {
    let points = rings
        .iter()
        .flatten()
        .map(|(lon, lat)| (*lat, *lon))
        .chain(cells.iter().flat_map(|c| c.outline.iter().copied()));
    let (mut s, mut w, mut n, mut e) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (lat, lon) in points {
        s = s.min(lat);
        n = n.max(lat);
        w = w.min(lon);
        e = e.max(lon);
    }
    if !(s.is_finite() && n > s && e > w) {
        return None;
    }
    let kx = ((s + n) / 2.0).to_radians().cos();
    let (pad, max_w, max_h) = (10.0, 640.0, 640.0);
    let scale = ((max_w - 2.0 * pad) / ((e - w) * kx)).min((max_h - 2.0 * pad) / (n - s));
    let (vw, vh) = ((e - w) * kx * scale + 2.0 * pad, (n - s) * scale + 2.0 * pad);
    let xy = |lat: f64, lon: f64| ((lon - w) * kx * scale + pad, (n - lat) * scale + pad);
    let legend_h = 26.0 * (SHADES.len() as f64 + 2.0) + 10.0;
    let total_h = vh + legend_h;
    let mut svg = format!(
        "<svg class=\"asb-map\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" viewBox=\"0 0 {vw:.0} {total_h:.0}\" width=\"{vw:.0}\" height=\"{total_h:.0}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">Each hexagon is an H3 cell, shaded darker for more reports, numbered by its rank; the legend gives the counts each shade stands for. Emerging hotspots have a dashed outline. The same figures are in the table.</desc>\
         <rect x=\"0\" y=\"0\" width=\"{vw:.0}\" height=\"{vh:.0}\" fill=\"#ffffff\" stroke=\"#b1b4b6\"/>",
        escape(title)
    );
    if !rings.is_empty() {
        let mut d = String::new();
        for ring in rings {
            for (i, (lon, lat)) in ring.iter().enumerate() {
                let (x, y) = xy(*lat, *lon);
                d.push_str(&format!("{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" }));
            }
            d.push('Z');
        }
        svg.push_str(&format!(
            "<path d=\"{d}\" fill=\"#f3f2f1\" fill-rule=\"evenodd\" stroke=\"{INK}\" stroke-width=\"2\"><title>Boundary</title></path>"
        ));
    }
    let counts: Vec<i64> = cells.iter().map(|c| c.count).collect();
    let classes = classes(&counts);
    // Quietest first, so the busiest are drawn on top.
    let mut order: Vec<&MapCell> = cells.iter().collect();
    order.sort_by_key(|c| c.count);
    for c in &order {
        let mut d = String::new();
        for (i, (lat, lon)) in c.outline.iter().enumerate() {
            let (x, y) = xy(*lat, *lon);
            d.push_str(&format!("{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" }));
        }
        d.push('Z');
        let class = class_of(&classes, c.count);
        let dash = if c.emerging { " stroke-dasharray=\"4 2\" stroke-width=\"2.5\"" } else { " stroke-width=\"0.8\"" };
        let what = format!(
            "{}{}: {} report{}{}",
            c.rank.map(|r| format!("Rank {r}, ")).unwrap_or_default(),
            c.name,
            c.count,
            if c.count == 1 { "" } else { "s" },
            if c.emerging { ", emerging hotspot" } else { "" }
        );
        svg.push_str(&format!(
            "<path d=\"{d}\" fill=\"{}\" stroke=\"{INK}\"{dash}><title>{}</title></path>",
            SHADES[class.min(SHADES.len() - 1)],
            escape(&what)
        ));
    }
    // The ten busiest numbered, in text with a halo so it reads on any shade.
    for c in cells.iter().filter(|c| c.rank.is_some_and(|r| r <= 10)) {
        let k = c.outline.len().max(1) as f64;
        let (lat, lon) = c.outline.iter().fold((0.0, 0.0), |(a, b), (lat, lon)| (a + lat / k, b + lon / k));
        let (x, y) = xy(lat, lon);
        svg.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"12\" font-weight=\"700\" text-anchor=\"middle\" dominant-baseline=\"middle\" fill=\"{INK}\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
            c.rank.unwrap_or_default()
        ));
    }
    // The legend, under the map: each shade with the counts it stands for, in words.
    let mut y = vh + 14.0;
    svg.push_str(&format!(
        "<text x=\"{pad}\" y=\"{:.1}\" font-size=\"13\" font-weight=\"700\" fill=\"{INK}\">Reports in each cell</text>",
        y + 4.0
    ));
    for (i, range) in classes.iter().enumerate() {
        y += 26.0;
        svg.push_str(&format!(
            "<rect x=\"{pad}\" y=\"{:.1}\" width=\"24\" height=\"18\" fill=\"{}\" stroke=\"{INK}\" stroke-width=\"0.8\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" fill=\"{INK}\">{}</text>",
            y - 9.0,
            SHADES[i.min(SHADES.len() - 1)],
            pad + 32.0,
            y + 4.0,
            range_words(*range)
        ));
    }
    y += 26.0;
    svg.push_str(&format!(
        "<rect x=\"{pad}\" y=\"{:.1}\" width=\"24\" height=\"18\" fill=\"#ffffff\" stroke=\"{INK}\" stroke-width=\"2.5\" stroke-dasharray=\"4 2\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" fill=\"{INK}\">Dashed outline: emerging hotspot · numbers: rank by reports</text>",
        y - 9.0,
        pad + 32.0,
        y + 4.0
    ));
    svg.push_str("</svg>");
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_every_count_in_order() {
        assert!(classes(&[]).is_empty());
        assert_eq!(classes(&[3, 3, 3]), vec![(3, 3)]);
        assert_eq!(classes(&[1, 2]), vec![(1, 1), (2, 2)]);
        let c = classes(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 40]);
        assert_eq!(c.len(), 5);
        assert_eq!(c.first().unwrap().0, 1);
        assert_eq!(c.last().unwrap().1, 40);
        for pair in c.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0, "{c:?}");
        }
        for n in [1, 5, 9, 40] {
            let k = class_of(&c, n);
            assert!(n >= c[k].0 && n <= c[k].1);
        }
    }

    #[test]
    fn the_map_draws_the_boundary_the_cells_and_a_legend_in_words() {
        let square = vec![vec![(-0.2, 51.5), (-0.1, 51.5), (-0.1, 51.6), (-0.2, 51.6), (-0.2, 51.5)]];
        let hex = |lat: f64, lon: f64| vec![(lat, lon), (lat + 0.01, lon), (lat + 0.01, lon + 0.01), (lat, lon + 0.01)];
        let cells = vec![
            MapCell { rank: Some(1), name: "a".into(), outline: hex(51.55, -0.15), count: 9, emerging: true },
            MapCell { rank: Some(2), name: "b".into(), outline: hex(51.52, -0.18), count: 2, emerging: false },
        ];
        let svg = borough_map("m", "Camden <test>", &square, &cells).unwrap();
        assert!(svg.contains("Camden &lt;test&gt;"));
        assert!(svg.contains("fill-rule=\"evenodd\""), "the boundary");
        assert!(svg.contains("Rank 1, a: 9 reports, emerging hotspot"));
        assert!(svg.contains(">2 reports<") && svg.contains(">3–9 reports<"), "ranges meet: {svg}");
        assert!(svg.contains("stroke-dasharray"));
        assert!(!svg.contains("style="), "presentation attributes only (the CSP refuses inline styles)");
        assert!(borough_map("m", "empty", &[], &[]).is_none());
    }
}
