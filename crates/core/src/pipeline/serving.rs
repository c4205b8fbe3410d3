//! What production serves once a deployment ended, read from the production listener and the
//! task sets behind it, for what rollback says: a deployment stopped in the console without
//! rollback leaves traffic wherever it was, so nothing is assumed.

use crate::manifest::CodeDeployTarget;
use crate::ports::{Served, Traffic};

/// What was read of production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Production {
    Read(Vec<Served>),
    /// The read failed: why.
    Unread(String),
}

impl Production {
    pub(crate) async fn now<T: Traffic>(traffic: &T, group: &CodeDeployTarget) -> Self {
        match traffic.production(group).await {
            Ok(served) => Self::Read(served),
            Err(e) => {
                tracing::warn!(error = %e, "what production serves could not be read");
                Self::Unread(e.to_string())
            }
        }
    }

    /// Whether production serves this digest (behind any of its target groups with weight).
    pub(crate) fn serves(&self, digest: &str) -> bool {
        match self {
            Self::Read(served) => {
                served.iter().any(|s| s.weight > 0 && s.images.iter().any(|i| i.ends_with(&format!("@{digest}"))))
            }
            Self::Unread(_) => false,
        }
    }

    /// One line: each target group with weight, its share and what runs behind it.
    pub(crate) fn describe(&self) -> String {
        let served = match self {
            Self::Read(served) => served,
            Self::Unread(why) => return format!("what production serves could not be read ({why})"),
        };
        let parts: Vec<String> = served
            .iter()
            .filter(|s| s.weight > 0)
            .map(|s| {
                let group = s.target_group.rsplit(':').next().unwrap_or(&s.target_group);
                let group = group.strip_prefix("targetgroup/").unwrap_or(group);
                let group = group.split('/').next().unwrap_or(group);
                match &s.task_definition {
                    Some(td) => {
                        let td = td.rsplit('/').next().unwrap_or(td);
                        format!("{} ({td}) at {}% through {group}", s.images.join(", "), s.weight)
                    }
                    None => format!("no task set at {}% through {group}", s.weight),
                }
            })
            .collect();
        if parts.is_empty() { "nothing (no target group with weight)".into() } else { parts.join("; ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_production_serves_reads_as_one_line() {
        let read = Production::Read(vec![
            Served {
                target_group: "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-blue/abc".into(),
                weight: 100,
                task_definition: Some("arn:aws:ecs:us-east-1:1:task-definition/web:3".into()),
                images: vec!["1.dkr.ecr.us-east-1.amazonaws.com/web@sha256:aa".into()],
            },
            Served { target_group: "tg/web-green/def".into(), weight: 0, task_definition: None, images: Vec::new() },
        ]);
        assert_eq!(read.describe(), "1.dkr.ecr.us-east-1.amazonaws.com/web@sha256:aa (web:3) at 100% through web-blue");
        assert!(read.serves("sha256:aa") && !read.serves("sha256:bb"));
        let unread = Production::Unread("throttled".into());
        assert!(unread.describe().contains("could not be read (throttled)") && !unread.serves("sha256:aa"));
    }
}
