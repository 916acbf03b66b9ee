//! QR codes of the page's URL: as Unicode half blocks for a terminal, as a PNG and as an
//! SVG. All three are drawn from the same module matrix.

use anyhow::{Context, Result};
use qrcode::{Color, EcLevel, QrCode};

/// The blank border a scanner needs around the code, in modules (the QR standard asks
/// for four).
const QUIET_ZONE: usize = 4;
/// Pixels per module in the PNG: large enough to print or show on a screen.
const PNG_MODULE: usize = 8;

/// A QR code's modules, `true` for dark, with the quiet zone already around them.
pub struct Qr {
    size: usize,
    dark: Vec<bool>,
}

impl Qr {
    /// Encodes `text` with medium error correction (a phone camera at an angle still reads
    /// it, and a URL stays a small code).
    pub fn new(text: &str) -> Result<Qr> {
        let code = QrCode::with_error_correction_level(text, EcLevel::M)
            .with_context(|| format!("encoding {text} as a QR code"))?;
        let width = code.width();
        let size = width + 2 * QUIET_ZONE;
        let mut dark = vec![false; size * size];
        for (i, color) in code.to_colors().into_iter().enumerate() {
            let (x, y) = (i % width + QUIET_ZONE, i / width + QUIET_ZONE);
            dark[y * size + x] = color == Color::Dark;
        }
        Ok(Qr { size, dark })
    }

    /// Modules per side, quiet zone included.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the module at column `x`, row `y` is dark; outside the code is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.dark[y * self.size + x]
    }

    /// The code as text, two rows of modules per line. Light modules are drawn and dark
    /// ones left blank, which reads right on the usual light-on-dark terminal; the quiet
    /// zone is drawn too, so the code also stands out on a light background.
    pub fn to_terminal(&self) -> String {
        let mut text = String::new();
        for y in (0..self.size).step_by(2) {
            for x in 0..self.size {
                let top = !self.is_dark(x, y);
                // An odd last row has nothing below it; a light half keeps the border even.
                let bottom = y + 1 >= self.size || !self.is_dark(x, y + 1);
                text.push(match (top, bottom) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            text.push('\n');
        }
        text
    }

    /// The code as an 8-bit greyscale PNG, black on white.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let side = self.size * PNG_MODULE;
        let mut pixels = Vec::with_capacity(side * side);
        for py in 0..side {
            for px in 0..side {
                let dark = self.is_dark(px / PNG_MODULE, py / PNG_MODULE);
                pixels.push(if dark { 0 } else { 255 });
            }
        }
        let side = u32::try_from(side).context("the QR code is too large for a PNG")?;
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .context("encoding the QR code as PNG")?;
        writer
            .write_image_data(&pixels)
            .context("encoding the QR code as PNG")?;
        writer.finish().context("encoding the QR code as PNG")?;
        Ok(png)
    }

    /// The code as an SVG: one black square per dark module on a white background,
    /// scalable without blur.
    pub fn to_svg(&self) -> String {
        let n = self.size;
        let mut path = String::new();
        for y in 0..n {
            for x in 0..n {
                if self.is_dark(x, y) {
                    path.push_str(&format!("M{x},{y}h1v1h-1z"));
                }
            }
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {n} {n}\" \
             width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\">\n\
             <rect width=\"{n}\" height=\"{n}\" fill=\"#fff\"/>\n\
             <path fill=\"#000\" d=\"{path}\"/>\n</svg>\n",
            px = n * PNG_MODULE
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://openhands.home.arpa:8080/ca/";

    #[test]
    fn has_a_light_quiet_zone_and_dark_finder_corners() {
        let qr = Qr::new(URL).unwrap();
        let n = qr.size();
        for i in 0..n {
            for j in 0..QUIET_ZONE {
                assert!(!qr.is_dark(i, j) && !qr.is_dark(j, i));
                assert!(!qr.is_dark(i, n - 1 - j) && !qr.is_dark(n - 1 - j, i));
            }
        }
        // The top-left corner of each finder pattern is dark.
        let corner = QUIET_ZONE;
        let far = n - QUIET_ZONE - 7;
        assert!(qr.is_dark(corner, corner));
        assert!(qr.is_dark(far, corner));
        assert!(qr.is_dark(corner, far));
    }

    #[test]
    fn terminal_text_holds_two_rows_per_line() {
        let qr = Qr::new(URL).unwrap();
        let text = qr.to_terminal();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), qr.size().div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == qr.size()));
        // The first line is quiet zone only: all light, drawn as full blocks.
        assert!(lines[0].chars().all(|c| c == '█'));
    }

    #[test]
    fn svg_draws_every_dark_module() {
        let qr = Qr::new(URL).unwrap();
        let svg = qr.to_svg();
        let dark = (0..qr.size())
            .flat_map(|y| (0..qr.size()).map(move |x| (x, y)))
            .filter(|&(x, y)| qr.is_dark(x, y))
            .count();
        assert_eq!(svg.matches("h1v1h-1z").count(), dark);
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
    }
}
