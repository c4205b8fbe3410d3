//! The pages and short answers approval-callback sends: HTML for people following a link,
//! plain text for Slack.

use greenlight_core::approval::{ApprovalRecord, Decided, decision_time};
use greenlight_core::pipeline::Applied;

use crate::routes::CallbackResponse;

/// One small stylesheet for every page (they work without it, and without JavaScript).
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.4}\
table{border-collapse:collapse}th,td{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top}\
pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}textarea{width:100%;box-sizing:border-box}\
button{font-size:1rem;padding:.5rem 1rem;margin-top:.6rem}";

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

pub(crate) fn page(status: u16, title: &str, body_html: &str) -> CallbackResponse {
    CallbackResponse {
        status,
        content_type: "text/html; charset=utf-8",
        body: format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\"><meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1>{body_html}</body></html>",
            t = escape(title)
        ),
    }
}

pub(crate) fn text(status: u16, body: impl Into<String>) -> CallbackResponse {
    CallbackResponse { status, content_type: "text/plain; charset=utf-8", body: body.into() }
}

pub(crate) fn applied_page(applied: Applied) -> CallbackResponse {
    match applied {
        Applied::Done(r, d) => page(
            200,
            if d.approved { "Approved" } else { "Rejected" },
            &format!(
                "<p>{} {} {}. Thank you, {}.</p>",
                escape(&r.service),
                escape(&r.tag),
                if d.approved { "goes to production now" } else { "is being rolled back" },
                escape(&d.by)
            ),
        ),
        Applied::AlreadyDecided(r, d) => decided_page(409, &r, &d),
        Applied::Expired(r) => expired_page(&r),
        Applied::Counted { record, count, .. } => page(
            202,
            "Approval counted",
            &format!(
                "<p>Your approval of {} {} is counted ({count} of {}). Production traffic moves once {} distinct approvers approved.</p>",
                escape(&record.service),
                escape(&record.tag),
                record.required_approvals,
                record.required_approvals
            ),
        ),
        Applied::AlreadyCounted(r, a) => page(
            409,
            "Already counted",
            &format!(
                "<p>Your approval of {} {} was counted at {}. Nothing changed.</p>",
                escape(&r.service),
                escape(&r.tag),
                escape(&a.at)
            ),
        ),
        Applied::Refused(_, refused) => page(
            403,
            "Not an approver",
            &format!("<p>This decision is refused: {}. Nothing changed.</p>", escape(&refused.reason)),
        ),
        Applied::Unknown => page(404, "Unknown approval", "<p>There is no such approval request. Nothing changed.</p>"),
    }
}

/// Who decided, when, through what, and what they said; nothing more to decide.
pub(crate) fn decided_page(status: u16, record: &ApprovalRecord, d: &Decided) -> CallbackResponse {
    let said = d.comment.as_deref().map(|c| format!("<blockquote>{}</blockquote>", escape(c))).unwrap_or_default();
    page(
        status,
        "Already decided",
        &format!(
            "<p>{} {} was already {} by <strong>{}</strong> at {} (via {}). Nothing more to decide.</p>{said}",
            escape(&record.service),
            escape(&record.tag),
            if d.approved { "approved" } else { "rejected" },
            escape(&d.by),
            escape(&d.at),
            escape(d.channel.as_str())
        ),
    )
}

/// The approval expired before anyone decided.
pub(crate) fn expired_page(record: &ApprovalRecord) -> CallbackResponse {
    page(
        410,
        "Approval expired",
        &format!(
            "<p>The approval for {} {} expired at {}; the deployment followed its timeout policy. Nothing changed.</p>",
            escape(&record.service),
            escape(&record.tag),
            decision_time(record.expires_at)
        ),
    )
}
