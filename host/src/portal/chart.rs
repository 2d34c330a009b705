//! Sparklines: an hour per bar, successes and failures stacked, as inline SVG (no script, no
//! request), styled by the portal's stylesheet.

use super::i18n::{Locale, Text};
use maud::{Markup, html};

/// One bar: an hour's calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bar {
    /// Calls that succeeded.
    pub successes: i64,
    /// Calls that failed.
    pub failures: i64,
}

/// A sparkline of `bars` (oldest first), `width` × `height` pixels, with a text alternative
/// that says what it shows.
pub fn sparkline(bars: &[Bar], width: u32, height: u32, locale: Locale) -> Markup {
    let highest = bars
        .iter()
        .map(|b| b.successes + b.failures)
        .max()
        .unwrap_or(0)
        .max(1);
    let (calls, failures) = bars.iter().fold((0, 0), |(c, f), b| {
        (c + b.successes + b.failures, f + b.failures)
    });
    let label = format!(
        "{}: {} {}, {} {}",
        locale.t(Text::Last24h),
        locale.number(calls),
        locale.t(Text::Calls),
        locale.number(failures),
        locale.t(Text::Failures)
    );
    let slot = f64::from(width) / bars.len().max(1) as f64;
    let scale = f64::from(height) / highest as f64;
    html! {
        svg.spark role="img" aria-label=(label) width=(width) height=(height)
            viewBox=(format!("0 0 {width} {height}")) {
            title { (label) }
            line.base x1="0" y1=(height) x2=(width) y2=(height) {}
            @for (i, bar) in bars.iter().enumerate() {
                @let x = i as f64 * slot + 0.5;
                @let w = (slot - 1.0).max(1.0);
                @let ok = bar.successes as f64 * scale;
                @let failed = bar.failures as f64 * scale;
                @if bar.successes > 0 {
                    rect.ok x=(fmt(x)) y=(fmt(f64::from(height) - ok)) width=(fmt(w)) height=(fmt(ok)) {}
                }
                @if bar.failures > 0 {
                    rect.fail x=(fmt(x)) y=(fmt(f64::from(height) - ok - failed)) width=(fmt(w)) height=(fmt(failed)) {}
                }
            }
        }
    }
}

fn fmt(n: f64) -> String {
    format!("{n:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_failures_on_successes_and_the_label_counts_them() {
        let bars = [
            Bar {
                successes: 2,
                failures: 0,
            },
            Bar {
                successes: 1,
                failures: 1,
            },
            Bar::default(),
        ];
        let svg = sparkline(&bars, 30, 10, Locale::En).into_string();
        assert!(
            svg.contains(r#"aria-label="Last 24 hours: 4 Calls, 1 Failures""#),
            "{svg}"
        );
        assert_eq!(svg.matches("<rect class=\"ok\"").count(), 2);
        assert_eq!(svg.matches("<rect class=\"fail\"").count(), 1);
        // The failure sits on the success of its hour: 5 px of success, 5 of failure.
        assert!(svg.contains(r#"y="0.0" width="9.0" height="5.0""#), "{svg}");
    }
}
