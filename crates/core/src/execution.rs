//! Execution names: one request of one service always gets the same Step Functions execution
//! name, so a duplicated delivery of it starts nothing, while another request for the same
//! digest (a re-push, a retag, a command) gets a name of its own.

use sha2::{Digest, Sha256};

use crate::event::Push;
use crate::lock::order_key;

/// `<service>-<20 hex digits of the digest>-<12 hex digits of the request>`: one request of one
/// service always gets the same name, so Step Functions refuses a duplicate delivery of it
/// (`ExecutionAlreadyExists`), while another request for the same digest gets another name.
/// The request is its EventBridge event id (or the id an operator's command generated); a push
/// without one is named by its place in the order. Names are 1–80 characters of letters,
/// digits, `-` and `_` (service names are at most 40).
pub fn execution_name(service: &str, push: &Push) -> String {
    let digest: String = push.digest.trim_start_matches("sha256:").chars().take(20).collect();
    let request = push.event_id.clone().unwrap_or_else(|| order_key(push));
    let hash = hex::encode(Sha256::digest(request.as_bytes()));
    format!("{service}-{digest}-{}", &hash[..12])
}

/// The service an execution name names (`execution_name`'s first part).
pub fn service_of_execution(name: &str) -> Option<&str> {
    let mut parts = name.rsplitn(3, '-');
    let (request, digest) = (parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    parts.next().filter(|service| !service.is_empty() && hex(request, 12) && hex(digest, 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(event: Option<&str>) -> Push {
        Push {
            digest: "sha256:cd460f89e8208028ae3a0cf63cb46157c689b5a5d566f2d96f2baadc84ce0b7d".into(),
            event_id: event.map(str::to_string),
            ..Push::default()
        }
    }

    #[test]
    fn one_event_one_name_and_another_event_another() {
        let service = "a-service-name-of-exactly-forty-chars-xx";
        let name = execution_name(service, &push(Some("e-1")));
        assert!(name.len() <= 80, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{name}");
        assert!(name.starts_with("a-service-name-of-exactly-forty-chars-xx-cd460f89e8208028ae3a-"), "{name}");
        assert_eq!(name, execution_name(service, &push(Some("e-1"))), "a duplicate delivery");
        assert_ne!(name, execution_name(service, &push(Some("e-2"))), "a re-push of the same digest");
        assert_ne!(execution_name(service, &push(None)), name);
        assert_eq!(service_of_execution(&name), Some(service));
        assert_eq!(service_of_execution("web-cd460f89e8208028ae3a"), None);
    }
}
