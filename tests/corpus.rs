//! The bad-input corpus (`tests/corpus/*.json`, see `greenlight_tests::corpus`): every case gets
//! its expected error class at its entry point, and nothing is registered, deployed, started or
//! panicked.

use greenlight_tests::corpus;
use greenlight_tests::pipeline::{Pipeline, Setup};

#[tokio::test]
async fn every_bad_input_gets_its_error_class_and_changes_nothing() {
    let p = Pipeline::start(Setup { approval_timeout: Some(3600), ..Setup::default() }).await;
    let report = corpus::run(&p).await;
    assert!(report.cases.len() >= 60, "the corpus has {} cases", report.cases.len());
    let failures: Vec<String> = report
        .failures()
        .iter()
        .map(|c| {
            format!(
                "{} / {}: expected {}, got {} ({})",
                c.entry,
                c.name,
                c.expected,
                c.got,
                c.detail.chars().take(300).collect::<String>()
            )
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), report.cases.len(), failures.join("\n"));
    assert!(report.side_effects.is_empty(), "{:?}", report.side_effects);
    assert_eq!(report.panics, 0);
}
