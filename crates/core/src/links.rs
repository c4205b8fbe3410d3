//! The signed links of approval emails: `<base>/links/<id>/<decision>?expires=…&sig=…`, and
//! `&to=<address>` for a link sent to one approver by email, so that its decision names that
//! person. The signature is HMAC-SHA256 over `id|decision|expires` (and `|to`), compared in
//! constant time: a link cannot be turned into another decision, another approval, a later
//! expiry or another person.

use hmac::Mac;

use crate::approval::{Decision, Refusal, mac};

/// What a link decides, until when, and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTarget<'a> {
    pub id: &'a str,
    pub decision: Decision,
    pub expires: i64,
    /// The approver's address, for a link sent to one person; none for the shared topic's.
    pub to: Option<&'a str>,
}

impl LinkTarget<'_> {
    fn signed_text(&self) -> String {
        let base = format!("{}|{}|{}", self.id, self.decision.as_str(), self.expires);
        match self.to {
            Some(to) => format!("{base}|{}", to.to_ascii_lowercase()),
            None => base,
        }
    }
}

/// The signature of a link, hex.
pub fn sign_link(key: &[u8], target: &LinkTarget<'_>) -> String {
    let mut m = mac(key);
    m.update(target.signed_text().as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Checks a link's signature (constant time) and expiry.
pub fn verify_link(key: &[u8], target: &LinkTarget<'_>, signature: &str, now: i64) -> Result<(), Refusal> {
    let given = hex::decode(signature).map_err(|_| Refusal::Malformed("sig"))?;
    let mut m = mac(key);
    m.update(target.signed_text().as_bytes());
    m.verify_slice(&given).map_err(|_| Refusal::BadSignature)?;
    if now > target.expires {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// The link's URL.
pub fn link(base: &str, key: &[u8], target: &LinkTarget<'_>) -> String {
    let to =
        target.to.map(|t| format!("&to={}", url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()));
    format!(
        "{}/links/{}/{}?expires={}{}&sig={}",
        base.trim_end_matches('/'),
        target.id,
        target.decision.as_str(),
        target.expires,
        to.unwrap_or_default(),
        sign_link(key, target)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, decision: Decision, expires: i64) -> LinkTarget<'_> {
        LinkTarget { id, decision, expires, to: None }
    }

    #[test]
    fn links_are_signed_single_purpose_and_expire() {
        let key = b"link-key";
        let sig = sign_link(key, &target("abc", Decision::Approve, 1000));
        assert_eq!(verify_link(key, &target("abc", Decision::Approve, 1000), &sig, 999), Ok(()));
        assert_eq!(
            verify_link(key, &target("abc", Decision::Reject, 1000), &sig, 999),
            Err(Refusal::BadSignature),
            "an approve link does not reject"
        );
        assert_eq!(verify_link(key, &target("abd", Decision::Approve, 1000), &sig, 999), Err(Refusal::BadSignature));
        assert_eq!(
            verify_link(key, &target("abc", Decision::Approve, 2000), &sig, 999),
            Err(Refusal::BadSignature),
            "expiry cannot be extended"
        );
        assert_eq!(
            verify_link(b"other", &target("abc", Decision::Approve, 1000), &sig, 999),
            Err(Refusal::BadSignature)
        );
        assert_eq!(verify_link(key, &target("abc", Decision::Approve, 1000), &sig, 1001), Err(Refusal::Expired));
        let url = link("https://x.lambda-url.us-east-1.on.aws/", key, &target("abc", Decision::Reject, 1000));
        assert!(url.starts_with("https://x.lambda-url.us-east-1.on.aws/links/abc/reject?expires=1000&sig="), "{url}");
    }

    #[test]
    fn a_personal_link_is_bound_to_its_address() {
        let key = b"link-key";
        let alice = LinkTarget { to: Some("alice@example.com"), ..target("abc", Decision::Approve, 1000) };
        let sig = sign_link(key, &alice);
        assert_eq!(verify_link(key, &alice, &sig, 999), Ok(()));
        let bob = LinkTarget { to: Some("bob@example.com"), ..alice };
        assert_eq!(verify_link(key, &bob, &sig, 999), Err(Refusal::BadSignature), "not another person's");
        assert_eq!(verify_link(key, &target("abc", Decision::Approve, 1000), &sig, 999), Err(Refusal::BadSignature));
        let url = link("https://cb.example", key, &LinkTarget { to: Some("a+b@example.com"), ..alice });
        assert!(url.contains("&to=a%2Bb%40example.com&sig="), "{url}");
    }
}
