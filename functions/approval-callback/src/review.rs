//! The page a signed link opens (its GET): the evidence the approvers were asked with, who has
//! approved so far, and a form whose button POSTs the decision with an optional comment. Plain
//! HTML that works without JavaScript; once decided, the page says who decided instead.

use greenlight_core::approval::{ApprovalRecord, Decision, Evidence, decision_time};

use crate::pages::{decided_page, escape, expired_page, page};
use crate::routes::CallbackResponse;

/// The longest comment a decision takes (the ledger keeps it, Slack shows it).
pub(crate) const MAX_COMMENT: usize = 1000;

/// The GET of a valid link (`to`: the approver it was emailed to): the review page, or who
/// decided, or that it expired.
pub(crate) fn review_page(record: &ApprovalRecord, decision: Decision, to: Option<&str>, now: i64) -> CallbackResponse {
    if let Some(d) = &record.decided {
        return decided_page(200, record, d);
    }
    if now > record.expires_at {
        return expired_page(record);
    }
    let (title, button) = match decision {
        Decision::Approve => {
            (format!("Approve {} {} for production?", record.service, record.tag), "Approve: shift production traffic")
        }
        Decision::Reject => (format!("Reject {} {}?", record.service, record.tag), "Reject: roll back"),
    };
    let evidence = record.evidence.clone().unwrap_or_default();
    let mut body = facts(record, &evidence);
    if let Some(to) = to {
        body.push_str(&format!(
            "<p>You decide as <strong>{}</strong>: this link was sent to that address only.</p>",
            escape(to)
        ));
    }
    body.push_str("<h2>Task definition changes</h2>");
    body.push_str(&if evidence.diff.is_empty() {
        "<p>No change besides the image.</p>".to_string()
    } else {
        format!("<pre>{}</pre>", escape(&evidence.diff.join("\n")))
    });
    body.push_str("<h2>Validation on the test listener</h2>");
    body.push_str(&if evidence.validation.is_empty() {
        "<p>No report.</p>".to_string()
    } else {
        format!("<pre>{}</pre>", escape(&evidence.validation))
    });
    body.push_str(&format!(
        "<form method=\"post\"><label for=\"comment\">Comment (optional, kept with the decision)</label>\
<textarea id=\"comment\" name=\"comment\" rows=\"3\" maxlength=\"{MAX_COMMENT}\"></textarea>\
<button type=\"submit\">{button}</button></form>"
    ));
    page(200, &title, &body)
}

/// The facts table: image, tag, deployment, who asked, expiry, who may decide, who approved.
fn facts(record: &ApprovalRecord, evidence: &Evidence) -> String {
    let mut rows = vec![
        ("Service", escape(&record.service)),
        ("Tag", escape(&record.tag)),
        ("Image", format!("<code>{}</code>", escape(&evidence.image_uri))),
        ("Digest", format!("<code>{}</code>", escape(&record.digest))),
    ];
    let deployment = match evidence.links.iter().find(|(label, _)| label == "deployment") {
        Some((_, url)) => format!("<a href=\"{}\">{}</a>", escape(url), escape(&record.deployment_id)),
        None => escape(&record.deployment_id),
    };
    rows.push(("Deployment", deployment));
    rows.push(("Asked by", escape(evidence.requested_by.as_deref().unwrap_or("an image pushed to ECR"))));
    rows.push(("Decide before", decision_time(record.expires_at)));
    let approvers = if record.approvers.is_empty() {
        "anyone with a link".to_string()
    } else {
        record.approvers.iter().map(|a| escape(&a.to_string())).collect::<Vec<_>>().join(", ")
    };
    rows.push(("Who may decide", approvers));
    let approved = if record.approvals.is_empty() {
        "nobody yet".to_string()
    } else {
        record
            .approvals
            .iter()
            .map(|a| format!("{} at {}", escape(&a.by), escape(&a.at)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    rows.push((
        "Approved so far",
        format!("{approved} ({} of {} needed)", record.approvals.len(), record.required_approvals),
    ));
    let cells: String = rows.iter().map(|(k, v)| format!("<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>")).collect();
    format!("<table>{cells}</table>")
}
