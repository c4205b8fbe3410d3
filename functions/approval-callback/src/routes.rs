//! The function URL's routes: Slack interactivity (`POST /slack`, signature verified) and the
//! email's signed links (`GET` shows a confirmation page and changes nothing; `POST` decides).

use greenlight_core::Error;
use greenlight_core::approval::{DecidedVia, Decision, Refusal, slack_ephemeral, verify_slack};
use greenlight_core::approvers::Identity;
use greenlight_core::links::{LinkTarget, verify_link};
use greenlight_core::pipeline::{Applied, DecidePorts, Decider, decide};
use greenlight_core::ports::{Approvals, Chat, Secrets, SlackApi, SlackDirectory, TaskTokens};
use greenlight_core::slack_outcomes::{SlackAction, slack_decided};
use serde_json::Value;

use crate::Handler;
use crate::pages::{applied_page, escape, page, text};
use crate::review::{MAX_COMMENT, review_page};
use crate::rollbacks::RollBacks;

/// The largest body a Slack interaction request has here: a block_actions payload of one
/// approval message is a few kilobytes; anything near this is not Slack's.
const MAX_SLACK_BODY: usize = 64 * 1024;

/// An HTTP request to the approval-callback function URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl CallbackRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A form POST (`application/x-www-form-urlencoded`, parameters such as a charset aside):
    /// what Slack's interactions and the link page's form send.
    fn is_form(&self) -> bool {
        self.header("content-type").is_some_and(|ct| {
            ct.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        })
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// The keys approval-callback verifies with (from Secrets Manager).
#[derive(Debug, Clone)]
pub struct CallbackKeys {
    pub slack_signing_secret: Option<Vec<u8>>,
    pub link_key: Option<Vec<u8>>,
}

impl<A, T, C, S, D, W, R> Handler<A, T, C, S, D, W, R>
where
    A: Approvals,
    T: TaskTokens,
    C: Chat,
    S: Secrets,
    D: SlackDirectory,
    W: SlackApi,
    R: RollBacks,
{
    /// The approval-callback function URL: Slack interactivity (`POST /slack`) and signed links
    /// (`GET` shows a confirmation page and changes nothing; `POST` decides).
    pub(crate) async fn callback(&self, req: &CallbackRequest, now: i64) -> Result<CallbackResponse, Error> {
        let (approvals, tokens, directory) = (&self.approvals, &self.tokens, &self.directory);
        let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["slack"] if req.method == "POST" => self.slack_interaction(req, now).await,
            ["slack"] => Ok(text(405, "use POST")),
            ["links", id, decision] => {
                let Some(decision) = Decision::parse(decision) else {
                    return Ok(page(404, "Unknown link", "<p>Nothing changed.</p>"));
                };
                let Some(key) = &self.keys.get().await?.link_key else {
                    return Ok(text(403, "signed links are not configured"));
                };
                let expires: i64 = req.query("expires").and_then(|e| e.parse().ok()).unwrap_or(0);
                let sig = req.query("sig").unwrap_or_default();
                // A link emailed to one approver names that person (the signature covers it).
                let to = req.query("to").filter(|t| !t.is_empty());
                match verify_link(key, &LinkTarget { id, decision, expires, to }, sig, now) {
                    Err(Refusal::Expired) => {
                        return Ok(page(410, "Link expired", "<p>This link has expired. Nothing changed.</p>"));
                    }
                    Err(r) => {
                        return Ok(page(
                            403,
                            "Invalid link",
                            &format!("<p>This link is not valid: {}. Nothing changed.</p>", escape(&r.to_string())),
                        ));
                    }
                    Ok(()) => {}
                }
                match req.method.as_str() {
                    // Link scanners and chat unfurlers follow links: a GET only shows the page.
                    "GET" | "HEAD" => Ok(match approvals.approval(id).await? {
                        Some(record) => review_page(&record, decision, to, now),
                        None => page(404, "Unknown approval", "<p>There is no such approval request.</p>"),
                    }),
                    "POST" => {
                        let comment = match form_comment(req) {
                            Ok(comment) => comment,
                            Err(problem) => return Ok(page(400, "Comment not taken", &problem)),
                        };
                        let ports = DecidePorts { approvals, tokens, directory };
                        let mut decider = match to {
                            Some(to) => Decider::new(to, DecidedVia::Link, Identity::Email(to.to_string())),
                            None => Decider::new("signed link", DecidedVia::Link, Identity::Anyone),
                        };
                        decider.comment = comment.as_deref();
                        let applied = decide(id, decision, decider, now, ports).await?;
                        if let Applied::Done(record, decided) = &applied
                            && let Some(post) = &record.slack_post
                            && let Err(e) = self.slack.update_message(post, &slack_decided(record, decided)).await
                        {
                            // The decision stands; only the message still shows its buttons.
                            tracing::warn!(approval_id = id, error = %e, "the Slack message was not edited");
                        }
                        Ok(applied_page(applied))
                    }
                    _ => Ok(text(405, "use GET to see the page, POST to decide")),
                }
            }
            _ => Ok(page(404, "Not found", "<p>Nothing here.</p>")),
        }
    }

    /// A Slack interaction (`POST /slack`): shape, signature, then the decision.
    async fn slack_interaction(&self, req: &CallbackRequest, now: i64) -> Result<CallbackResponse, Error> {
        if req.body.len() > MAX_SLACK_BODY {
            return Ok(text(
                413,
                format!(
                    "refused: the body is too large ({} bytes; a Slack interaction is at most {MAX_SLACK_BODY})",
                    req.body.len()
                ),
            ));
        }
        if !req.is_form() {
            return Ok(text(415, "refused: Slack sends interactions as application/x-www-form-urlencoded"));
        }
        let Some(secret) = &self.keys.get().await?.slack_signing_secret else {
            return Ok(text(401, "Slack is not configured"));
        };
        let timestamp = req.header("x-slack-request-timestamp").unwrap_or_default();
        let signature = req.header("x-slack-signature").unwrap_or_default();
        if let Err(r) = verify_slack(secret, timestamp, &req.body, signature, now) {
            return Ok(text(401, format!("refused: {r}")));
        }
        let payload = url::form_urlencoded::parse(&req.body).find(|(k, _)| k == "payload").map(|(_, v)| v.into_owned());
        let Some(payload) = payload.and_then(|p| serde_json::from_str::<Value>(&p).ok()) else {
            return Ok(text(400, "no interaction payload"));
        };
        let value = payload.pointer("/actions/0/value").and_then(Value::as_str).unwrap_or_default();
        let Some(action) = SlackAction::parse(value) else {
            return Ok(text(400, "not a greenlight action"));
        };
        // Slack signs the payload: its user id is who clicked.
        let Some(user_id) = payload.pointer("/user/id").and_then(Value::as_str) else {
            return Ok(text(400, "the interaction names no user"));
        };
        let name = payload.pointer("/user/username").or_else(|| payload.pointer("/user/name")).and_then(Value::as_str);
        let by = format!("@{}", name.unwrap_or(user_id));
        let (reply, update) = match action {
            SlackAction::Decide(decision, id) => self.slack_decision(&id, decision, &by, user_id, now).await?,
            stop @ (SlackAction::Stop(_) | SlackAction::ConfirmStop(_)) => {
                self.slack_stop(&stop, &by, user_id, now).await?
            }
            roll_back => self.slack_roll_back(&roll_back, &by, user_id, now).await?,
        };
        if let Some(url) = payload.get("response_url").and_then(Value::as_str) {
            let message = update.unwrap_or_else(|| slack_ephemeral(&reply));
            self.chat.post(url, &message).await?;
        }
        Ok(text(200, reply))
    }

    /// Approve or Reject: what only the person who clicked is told, and what replaces the
    /// message for everyone when it is decided.
    async fn slack_decision(
        &self,
        id: &str,
        decision: Decision,
        by: &str,
        user_id: &str,
        now: i64,
    ) -> Result<(String, Option<Value>), Error> {
        let (approvals, tokens, directory) = (&self.approvals, &self.tokens, &self.directory);
        let decider = Decider::new(by, DecidedVia::Slack, Identity::Slack { user_id: user_id.to_string() });
        let applied = decide(id, decision, decider, now, DecidePorts { approvals, tokens, directory }).await?;
        let verb = |approved: bool| if approved { "approved" } else { "rejected" };
        Ok(match &applied {
            Applied::Done(r, d) => (format!("{} by {by}", verb(d.approved)), Some(slack_decided(r, d))),
            Applied::AlreadyDecided(r, d) => {
                (format!("already {} by {} at {}", verb(d.approved), d.by, d.at), Some(slack_decided(r, d)))
            }
            Applied::Counted { record, count, .. } => (
                format!(
                    "your approval is counted ({count} of {}); production traffic moves once {} distinct approvers approved",
                    record.required_approvals, record.required_approvals
                ),
                None,
            ),
            Applied::AlreadyCounted(r, a) => (
                format!("you approved at {} already ({} of {} so far)", a.at, r.approvals.len(), r.required_approvals),
                None,
            ),
            Applied::Refused(_, refused) => (format!("refused: {}; nothing changed", refused.reason), None),
            Applied::Expired(_) => ("this approval has expired; nothing changed".into(), None),
            Applied::Unknown => ("unknown approval; nothing changed".into(), None),
        })
    }
}

/// The review page's `comment` field from a form POST (none when empty or not a form): a
/// comment over `MAX_COMMENT` characters is refused with the page's explanation.
fn form_comment(req: &CallbackRequest) -> Result<Option<String>, String> {
    if !req.is_form() {
        return Ok(None);
    }
    let comment =
        url::form_urlencoded::parse(&req.body).find(|(k, _)| k == "comment").map(|(_, v)| v.trim().to_string());
    match comment {
        Some(c) if c.chars().count() > MAX_COMMENT => Err(format!(
            "<p>The comment has {} characters; a decision takes at most {MAX_COMMENT}. Go back, shorten it and decide again. Nothing changed.</p>",
            c.chars().count()
        )),
        Some(c) if !c.is_empty() => Ok(Some(c)),
        _ => Ok(None),
    }
}
