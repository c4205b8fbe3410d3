//! Who may decide an approval: the manifest's `approval.approvers` (Slack user and user-group
//! ids, email addresses, AWS principal ARNs), and the identity a decision arrives with.
//!
//! An empty list keeps the open rule (whoever can click the button or open the link decides).
//! With a list, a decision counts only when its identity matches an entry: a Slack user by id
//! (or through a listed user group's members), a link by the address it was sent to, the CLI by
//! the caller's AWS principal (an assumed-role session matches its role's ARN).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One entry of `approval.approvers`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub enum Approver {
    /// A Slack user id (`U…` or `W…`).
    SlackUser(String),
    /// A Slack user group id (`S…`): its members, read from Slack when someone clicks.
    SlackGroup(String),
    /// An email address (signed links are sent to it).
    Email(String),
    /// An AWS IAM principal ARN (`arn:aws:iam::<account>:user/…` or `…:role/…`), for the CLI.
    Principal(String),
}

impl Approver {
    /// Reads one entry; the error says what forms are accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let slack_id =
            |rest: &str| rest.len() >= 6 && rest.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if s.starts_with("arn:") {
            let parts: Vec<&str> = s.splitn(6, ':').collect();
            let valid = parts.len() == 6
                && matches!(parts[2], "iam" | "sts")
                && parts[4].len() == 12
                && parts[4].chars().all(|c| c.is_ascii_digit())
                && !parts[5].is_empty();
            return if valid {
                Ok(Self::Principal(s.to_string()))
            } else {
                Err(format!(
                    "`{s}` is not an IAM principal ARN (arn:aws:iam::<12-digit account>:role/<name> or :user/<name>)"
                ))
            };
        }
        if let Some((local, domain)) = s.split_once('@') {
            let valid = !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !s.contains(' ');
            return if valid {
                Ok(Self::Email(s.to_ascii_lowercase()))
            } else {
                Err(format!("`{s}` is not an email address"))
            };
        }
        match s.chars().next() {
            Some('U' | 'W') if slack_id(&s[1..]) => Ok(Self::SlackUser(s.to_string())),
            Some('S') if slack_id(&s[1..]) => Ok(Self::SlackGroup(s.to_string())),
            _ => Err(format!(
                "`{s}` is not a Slack user id (U… or W…), a Slack user group id (S…), an email address or an AWS principal ARN"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::SlackUser(s) | Self::SlackGroup(s) | Self::Email(s) | Self::Principal(s) => s,
        }
    }

    /// An entry that names one person (a group names many).
    pub fn is_person(&self) -> bool {
        !matches!(self, Self::SlackGroup(_))
    }
}

impl TryFrom<String> for Approver {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Approver> for String {
    fn from(a: Approver) -> Self {
        a.as_str().to_string()
    }
}

impl fmt::Display for Approver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a decision comes from, as its channel proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A Slack user (the interaction's `user.id`, verified by Slack's signature).
    Slack { user_id: String },
    /// The address a signed link was sent to (bound into its signature).
    Email(String),
    /// The caller's AWS principal (`sts:GetCallerIdentity`).
    Principal(String),
    /// A link sent to the shared topic: it names no person.
    Anyone,
}

impl Identity {
    /// What makes two approvals distinct: the Slack user id, the address, the principal (an
    /// assumed-role session counts as its role).
    pub fn key(&self) -> Option<String> {
        match self {
            Self::Slack { user_id } => Some(format!("slack:{user_id}")),
            Self::Email(address) => Some(format!("email:{}", address.to_ascii_lowercase())),
            Self::Principal(arn) => Some(format!("aws:{}", principal_of(arn))),
            Self::Anyone => None,
        }
    }
}

/// `arn:aws:sts::<account>:assumed-role/<role>/<session>` → `arn:aws:iam::<account>:role/<role>`;
/// any other ARN as it is.
pub fn principal_of(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6
        && parts[2] == "sts"
        && let Some(rest) = parts[5].strip_prefix("assumed-role/")
        && let Some((role, _session)) = rest.split_once('/')
    {
        return format!("{}:{}:iam::{}:role/{role}", parts[0], parts[1], parts[4]);
    }
    arn.to_string()
}

/// Whether `identity` may decide under `approvers`, when no Slack group needs reading: `Some`
/// with the matching entry, `None` when only a listed group's members could still admit it.
pub fn direct_match<'a>(approvers: &'a [Approver], identity: &Identity) -> Option<&'a Approver> {
    approvers.iter().find(|a| match (a, identity) {
        (Approver::SlackUser(id), Identity::Slack { user_id }) => id == user_id,
        (Approver::Email(address), Identity::Email(given)) => address.eq_ignore_ascii_case(given),
        (Approver::Principal(listed), Identity::Principal(caller)) => principal_of(listed) == principal_of(caller),
        _ => false,
    })
}

/// The listed Slack user groups, whose members may decide from Slack.
pub fn slack_groups(approvers: &[Approver]) -> impl Iterator<Item = &str> {
    approvers.iter().filter_map(|a| match a {
        Approver::SlackGroup(g) => Some(g.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_others_are_named() {
        assert_eq!(Approver::parse("U012AB3CD"), Ok(Approver::SlackUser("U012AB3CD".into())));
        assert_eq!(Approver::parse("W0123ABCD"), Ok(Approver::SlackUser("W0123ABCD".into())));
        assert_eq!(Approver::parse("S0614TZR7"), Ok(Approver::SlackGroup("S0614TZR7".into())));
        assert_eq!(Approver::parse("Ops@Example.com"), Ok(Approver::Email("ops@example.com".into())));
        assert_eq!(
            Approver::parse("arn:aws:iam::123456789012:role/Deployer"),
            Ok(Approver::Principal("arn:aws:iam::123456789012:role/Deployer".into()))
        );
        for bad in ["bob", "u012ab3cd", "U12", "arn:aws:iam::1:role/x", "arn:aws:s3:::bucket", "@example.com", "a@b"] {
            assert!(Approver::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn an_assumed_role_session_is_its_role() {
        let listed = [Approver::parse("arn:aws:iam::123456789012:role/Deployer").expect("arn")];
        let session = Identity::Principal("arn:aws:sts::123456789012:assumed-role/Deployer/alice".into());
        assert_eq!(direct_match(&listed, &session), Some(&listed[0]));
        let other = Identity::Principal("arn:aws:sts::123456789012:assumed-role/Reader/alice".into());
        assert_eq!(direct_match(&listed, &other), None);
        assert_eq!(session.key(), Some("aws:arn:aws:iam::123456789012:role/Deployer".into()));
    }

    #[test]
    fn slack_users_match_by_id_and_links_by_address() {
        let listed: Vec<Approver> =
            ["U012AB3CD", "ops@example.com"].iter().map(|s| Approver::parse(s).expect("entry")).collect();
        assert!(direct_match(&listed, &Identity::Slack { user_id: "U012AB3CD".into() }).is_some());
        assert!(direct_match(&listed, &Identity::Slack { user_id: "U999ZZZZZ".into() }).is_none());
        assert!(direct_match(&listed, &Identity::Email("OPS@example.com".into())).is_some());
        assert!(direct_match(&listed, &Identity::Anyone).is_none());
    }
}
