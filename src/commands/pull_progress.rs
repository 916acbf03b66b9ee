//! Showing an image pull: one progress bar per layer on a terminal, plain lines (one per
//! change of a layer's state) anywhere else, from the engine's progress messages.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use bollard::models::CreateImageInfo;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The display of one pull.
pub struct PullProgress {
    mode: Mode,
}

enum Mode {
    Bars {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
    },
    Lines {
        out: Box<dyn Write>,
        last: HashMap<String, String>,
    },
    Silent,
}

/// States after which a layer needs no more updates.
const DONE: &[&str] = &["Pull complete", "Already exists"];

impl PullProgress {
    /// Bars on a terminal, lines otherwise, nothing under `-q`.
    pub fn for_stderr() -> PullProgress {
        if crate::ui::quiet() {
            PullProgress { mode: Mode::Silent }
        } else if std::io::stderr().is_terminal() {
            PullProgress::bars(ProgressDrawTarget::stderr())
        } else {
            PullProgress::lines(Box::new(std::io::stderr()))
        }
    }

    pub fn bars(target: ProgressDrawTarget) -> PullProgress {
        let multi = MultiProgress::with_draw_target(target);
        PullProgress {
            mode: Mode::Bars {
                multi,
                bars: HashMap::new(),
            },
        }
    }

    pub fn lines(out: Box<dyn Write>) -> PullProgress {
        PullProgress {
            mode: Mode::Lines {
                out,
                last: HashMap::new(),
            },
        }
    }

    /// Shows one progress message.
    pub fn update(&mut self, info: &CreateImageInfo) {
        let status = info.status.as_deref().unwrap_or_default();
        let layer = info.id.as_deref().filter(|_| is_layer_message(info));
        match &mut self.mode {
            Mode::Silent => {}
            Mode::Lines { out, last } => {
                let Some(layer) = layer else {
                    let _ = writeln!(out, "{}", with_id(info));
                    return;
                };
                if last.get(layer).map(String::as_str) != Some(status) {
                    last.insert(layer.to_string(), status.to_string());
                    let size = bytes_total(info).map(|t| format!(" ({})", size(t)));
                    let _ = writeln!(out, "{layer}: {status}{}", size.unwrap_or_default());
                }
            }
            Mode::Bars { multi, bars } => {
                let Some(layer) = layer else {
                    let _ = multi.println(with_id(info));
                    return;
                };
                let bar = bars
                    .entry(layer.to_string())
                    .or_insert_with(|| multi.add(new_bar(layer)));
                update_bar(bar, info, status);
            }
        }
    }

    /// Ends the display; bars still drawn are cleared.
    pub fn finish(&mut self) {
        if let Mode::Bars { multi, .. } = &self.mode {
            let _ = multi.clear();
        }
    }

    /// The bar of each layer, for tests.
    #[cfg(test)]
    pub fn bar(&self, layer: &str) -> Option<&ProgressBar> {
        match &self.mode {
            Mode::Bars { bars, .. } => bars.get(layer),
            _ => None,
        }
    }

    #[cfg(test)]
    pub fn bar_count(&self) -> usize {
        match &self.mode {
            Mode::Bars { bars, .. } => bars.len(),
            _ => 0,
        }
    }
}

/// Layer messages carry progress details (possibly empty); the first line names the tag
/// in `id` and has none.
fn is_layer_message(info: &CreateImageInfo) -> bool {
    info.progress_detail.is_some()
}

fn with_id(info: &CreateImageInfo) -> String {
    let status = info.status.as_deref().unwrap_or_default();
    match &info.id {
        Some(id) => format!("{id}: {status}"),
        None => status.to_string(),
    }
}

/// Byte counts only when the engine gives a total; "Extracting" on containerd reports
/// seconds with no total.
fn bytes_total(info: &CreateImageInfo) -> Option<u64> {
    let detail = info.progress_detail.as_ref()?;
    let total = u64::try_from(detail.total?).ok()?;
    (total > 0).then_some(total)
}

fn new_bar(layer: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    let style =
        ProgressStyle::with_template("{prefix} {msg:<18} [{bar:30}] {bytes:>10}/{total_bytes:<10}")
            .expect("valid template")
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(layer.to_string());
    bar
}

fn update_bar(bar: &ProgressBar, info: &CreateImageInfo, status: &str) {
    if bar.is_finished() {
        return;
    }
    if let Some(total) = bytes_total(info) {
        let current = info
            .progress_detail
            .as_ref()
            .and_then(|d| d.current)
            .and_then(|c| u64::try_from(c).ok())
            .unwrap_or(0);
        bar.set_length(total);
        bar.set_position(current.min(total));
    }
    if DONE.contains(&status) {
        bar.finish_with_message(status.to_string());
    } else {
        bar.set_message(status.to_string());
    }
}

fn size(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn recorded() -> Vec<CreateImageInfo> {
        include_str!("../../tests/fixtures/pull-progress.jsonl")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a recorded message"))
            .collect()
    }

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_show_each_change_of_state_once() {
        let sink = Sink::default();
        let mut progress = PullProgress::lines(Box::new(sink.clone()));
        for info in recorded() {
            progress.update(&info);
        }
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "1.8: Pulling from openhands/openhands");
        assert_eq!(
            lines.iter().filter(|l| l.contains("Downloading")).count(),
            2
        );
        assert!(lines.contains(&"a2318d6c47ec: Downloading (29.2 MB)"));
        assert!(lines.contains(&"f4f3b1c6e0aa: Already exists"));
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.ends_with("Pull complete"))
                .count(),
            2
        );
        assert!(
            lines
                .last()
                .unwrap()
                .starts_with("Status: Downloaded newer image")
        );
    }

    #[test]
    fn bars_one_per_layer_with_byte_counts() {
        let mut progress = PullProgress::bars(ProgressDrawTarget::hidden());
        let messages = recorded();
        for info in &messages[..8] {
            progress.update(info);
        }
        let busy = progress.bar("a2318d6c47ec").unwrap();
        assert_eq!(busy.length(), Some(29_153_420));
        assert_eq!(busy.position(), 29_153_420);
        assert!(!busy.is_finished());
        for info in &messages[8..] {
            progress.update(info);
        }
        assert_eq!(
            progress.bar_count(),
            3,
            "one bar per layer, none for the tag line"
        );
        for layer in ["a2318d6c47ec", "7e1a8d2b5b19", "f4f3b1c6e0aa"] {
            assert!(progress.bar(layer).unwrap().is_finished(), "{layer}");
        }
        // The seconds-only "Extracting" message left the byte count alone.
        let done = progress.bar("7e1a8d2b5b19").unwrap();
        assert_eq!(done.length(), Some(3_145_728));
        progress.finish();
    }
}
