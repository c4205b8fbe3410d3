//! The benchmark's arithmetic and parsing (`cargo xtask bench`), apart from its processes and
//! servers so tests can check them: medians, peak RSS from `/proc`, state transitions from an
//! execution history, the dollars of a deploy at list prices, and the table.

use std::time::Duration;

/// AWS list prices (us-east-1) the cost column uses.
pub mod prices {
    /// Step Functions Standard workflows, per state transition.
    pub const STATE_TRANSITION: f64 = 0.025 / 1000.0;
    /// Lambda on x86_64, per GB-second of billed duration.
    pub const LAMBDA_GB_SECOND_X86: f64 = 0.000_016_666_7;
    /// Lambda, per request.
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1_000_000.0;
}

/// The median of the samples (the mean of the two middle ones for an even count); `None` when
/// there are none.
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) { f64::midpoint(v[mid - 1], v[mid]) } else { v[mid] })
}

/// Milliseconds of a duration, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Peak resident set size (`VmHWM`, in KiB) from the text of `/proc/<pid>/status`.
pub fn peak_rss_kib(proc_status: &str) -> Option<u64> {
    proc_status.lines().find_map(|line| {
        let rest = line.strip_prefix("VmHWM:")?;
        let mut parts = rest.split_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") | None => Some(value),
            _ => None,
        }
    })
}

/// Step Functions bills one transition per state entered (a retried state counts again):
/// the number of `…StateEntered` events of an execution's history.
pub fn state_transitions<'a>(event_types: impl IntoIterator<Item = &'a str>) -> u64 {
    event_types.into_iter().filter(|t| t.ends_with("StateEntered")).count() as u64
}

/// Lambda's billed duration: rounded up to the next millisecond.
pub fn billed_ms(duration_ms: f64) -> u64 {
    duration_ms.max(0.0).ceil() as u64
}

/// One function's invocations during a deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocations {
    pub function: String,
    pub memory_mb: u32,
    /// Billed milliseconds of each invocation.
    pub billed_ms: Vec<u64>,
}

impl Invocations {
    pub fn gb_seconds(&self) -> f64 {
        self.billed_ms.iter().map(|ms| *ms as f64 / 1000.0).sum::<f64>() * f64::from(self.memory_mb) / 1024.0
    }
}

/// What one deploy costs at list prices.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployCost {
    pub transitions: u64,
    pub invocations: u64,
    pub gb_seconds: f64,
    pub dollars: f64,
}

pub fn deploy_cost(transitions: u64, functions: &[Invocations]) -> DeployCost {
    let invocations: u64 = functions.iter().map(|f| f.billed_ms.len() as u64).sum();
    let gb_seconds: f64 = functions.iter().map(Invocations::gb_seconds).sum();
    let dollars = transitions as f64 * prices::STATE_TRANSITION
        + gb_seconds * prices::LAMBDA_GB_SECOND_X86
        + invocations as f64 * prices::LAMBDA_REQUEST;
    DeployCost { transitions, invocations, gb_seconds, dollars }
}

/// The boto3 client names of the services in a function's `aws-calls` (`states` is boto3's
/// `stepfunctions`; `ses`, which greenlight calls through SES API v2, boto3's `sesv2`), sorted
/// and without repeats.
pub fn boto3_clients(aws_calls: &[String]) -> Vec<String> {
    let mut clients: Vec<String> = aws_calls
        .iter()
        .filter_map(|c| c.split_once(':').map(|(service, _)| service))
        .map(|s| match s {
            "states" => "stepfunctions".to_string(),
            "ses" => "sesv2".to_string(),
            s => s.to_string(),
        })
        .collect();
    clients.sort();
    clients.dedup();
    clients
}

/// Whether a figure meets its target: `ok`, or `missed (target …)`.
pub fn verdict(value: f64, target: f64, unit: &str) -> String {
    if value <= target { "ok".to_string() } else { format!("missed (target ≤ {target} {unit})") }
}

/// A plain-text table: a header row, a rule, and rows; columns as wide as their widest cell,
/// numbers right-aligned.
#[derive(Debug, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|h| (*h).to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.header.len();
        let width = |i: usize| {
            std::iter::once(&self.header)
                .chain(&self.rows)
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let numeric = |cell: &str| cell.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '-');
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = w.saturating_sub(cell.chars().count());
                if i > 0 {
                    out.push_str("  ");
                }
                if numeric(cell) && i > 0 {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                } else {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                }
            }
            out.trim_end().to_string()
        };
        let mut out = line(&self.header);
        out.push('\n');
        out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts_ignore_order_and_non_numbers() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0, 4.0, 3.0]), Some(3.0));
    }

    #[test]
    fn peak_rss_is_read_from_proc_status() {
        let status = "Name:\tbootstrap\nVmPeak:\t  30000 kB\nVmHWM:\t   11240 kB\nVmRSS:\t   11000 kB\n";
        assert_eq!(peak_rss_kib(status), Some(11240));
        assert_eq!(peak_rss_kib("Name:\tx\nVmRSS:\t 1 kB\n"), None);
        assert_eq!(peak_rss_kib("VmHWM:\t  12 MB\n"), None, "only kB is a unit /proc uses");
    }

    #[test]
    fn transitions_count_every_state_entered_retries_included() {
        let history = [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "TaskStateEntered",
            "SucceedStateEntered",
            "ExecutionSucceeded",
        ];
        assert_eq!(state_transitions(history), 4);
    }

    #[test]
    fn billed_time_rounds_up_to_the_millisecond_and_cost_adds_up() {
        assert_eq!(billed_ms(0.2), 1);
        assert_eq!(billed_ms(12.0), 12);
        assert_eq!(billed_ms(12.01), 13);
        let watch = Invocations { function: "deployment-status".into(), memory_mb: 128, billed_ms: vec![900_000] };
        assert!((watch.gb_seconds() - 112.5).abs() < 1e-9);
        let steps = Invocations { function: "prepare".into(), memory_mb: 1024, billed_ms: vec![500, 500] };
        assert!((steps.gb_seconds() - 1.0).abs() < 1e-9);
        let cost = deploy_cost(20, &[watch, steps]);
        assert_eq!(cost.transitions, 20);
        assert_eq!(cost.invocations, 3);
        let expected = 20.0 * 0.000_025 + 113.5 * 0.000_016_666_7 + 3.0 * 0.000_000_2;
        assert!((cost.dollars - expected).abs() < 1e-12, "{}", cost.dollars);
    }

    #[test]
    fn boto3_clients_come_from_the_declared_calls() {
        let calls: Vec<String> = ["dynamodb:GetItem", "states:StartExecution", "dynamodb:PutItem", "ssm:GetParameter"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        assert_eq!(boto3_clients(&calls), ["dynamodb", "ssm", "stepfunctions"]);
    }

    #[test]
    fn verdicts_name_the_target_they_miss() {
        assert_eq!(verdict(8.0, 10.0, "ms"), "ok");
        assert_eq!(verdict(10.0, 10.0, "ms"), "ok");
        assert_eq!(verdict(12.5, 10.0, "ms"), "missed (target ≤ 10 ms)");
    }

    #[test]
    fn tables_align_columns_and_right_align_numbers() {
        let mut t = Table::new(&["function", "ms", "note"]);
        t.row(vec!["prepare".into(), "8.1".into(), "ok".into()]);
        t.row(vec!["on-image-push".into(), "12.25".into(), "missed".into()]);
        assert_eq!(
            t.render(),
            "function       ms     note\n\
             -------------  -----  ------\n\
             prepare          8.1  ok\n\
             on-image-push  12.25  missed\n"
        );
    }
}
