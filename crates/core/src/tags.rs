//! Tag rules: which pushed tags deploy a service.
//!
//! `include` and `exclude` are glob patterns (`*`, `?`, `[a-z]`, `{a,b}`). A tag deploys when
//! some include pattern matches and no exclude pattern does. `latest` is a moving label, not a
//! release: it never deploys unless `include` lists the literal `latest`.

use globset::{Glob, GlobSet, GlobSetBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::Issue;

pub const LATEST: &str = "latest";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRules {
    /// Glob patterns a tag must match (any of them).
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Glob patterns that stop a tag even when included.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Default for TagRules {
    fn default() -> Self {
        Self { include: default_include(), exclude: Vec::new() }
    }
}

fn default_include() -> Vec<String> {
    vec!["*".into()]
}

/// Why a tag does or does not deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum TagVerdict {
    Accepted { pattern: String },
    NotIncluded,
    Excluded { pattern: String },
    LatestNotExplicit,
}

impl TagVerdict {
    pub fn accepted(&self) -> bool {
        matches!(self, Self::Accepted { .. })
    }

    /// A sentence saying why, for logs and `greenlight plan`.
    pub fn explain(&self, tag: &str) -> String {
        match self {
            Self::Accepted { pattern } => format!("tag `{tag}` matches include pattern `{pattern}`"),
            Self::NotIncluded => format!("tag `{tag}` matches no pattern in tags.include"),
            Self::Excluded { pattern } => format!("tag `{tag}` matches exclude pattern `{pattern}`"),
            Self::LatestNotExplicit => {
                format!("tag `{tag}` is never deployed unless tags.include lists \"{LATEST}\" explicitly")
            }
        }
    }
}

/// Compiled form of [`TagRules`].
#[derive(Debug, Clone)]
pub struct TagMatcher {
    include: Vec<String>,
    include_set: GlobSet,
    exclude: Vec<String>,
    exclude_set: GlobSet,
}

impl TagRules {
    /// The first of `tags` these rules accept (a tag an image already has, to name it by);
    /// `None` when none is, or when the rules do not compile (a validated manifest's always do).
    pub fn first_accepted(&self, tags: &[String]) -> Option<String> {
        let matcher = self.compile().ok()?;
        tags.iter().find(|t| matcher.verdict(t).accepted()).cloned()
    }

    /// Compiles the patterns; a manifest that passed validation always compiles.
    pub fn compile(&self) -> Result<TagMatcher, Vec<Issue>> {
        let mut issues = Vec::new();
        let include_set = build(&self.include, "tags.include", &mut issues);
        let exclude_set = build(&self.exclude, "tags.exclude", &mut issues);
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(TagMatcher { include: self.include.clone(), include_set, exclude: self.exclude.clone(), exclude_set })
    }

    pub(crate) fn validate(&self, at: &str, v: &mut crate::error::IssueSink) {
        if self.include.is_empty() {
            v.push(
                format!("{at}.include"),
                "is empty, so no tag would ever deploy",
                "use [\"*\"] to deploy every tag, or list the patterns that should",
            );
        }
        if let Err(issues) = self.compile() {
            for mut i in issues {
                // `compile` names the list relative to the rules; anchor it at the service.
                i.path = format!("{at}{}", i.path.trim_start_matches("tags"));
                v.extend(i);
            }
        }
    }
}

fn build(patterns: &[String], list: &str, issues: &mut Vec<Issue>) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        if p.is_empty() {
            issues.push(Issue {
                path: format!("{list}[{i}]"),
                problem: "is an empty pattern".into(),
                fix: "remove it, or use `*` to match every tag".into(),
            });
            continue;
        }
        match Glob::new(p) {
            Ok(g) => {
                b.add(g);
            }
            Err(e) => issues.push(Issue {
                path: format!("{list}[{i}]"),
                problem: format!("`{p}` is not a valid glob: {}", e.kind()),
                fix: "use `*`, `?`, `[abc]` or `{a,b}` (e.g. `v*`, `release-*`)".into(),
            }),
        }
    }
    // An empty builder and a builder of valid globs always build.
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

impl TagMatcher {
    pub fn verdict(&self, tag: &str) -> TagVerdict {
        if let Some(i) = self.exclude_set.matches(tag).first() {
            return TagVerdict::Excluded { pattern: self.exclude[*i].clone() };
        }
        if tag == LATEST && !self.include.iter().any(|p| p == LATEST) {
            return TagVerdict::LatestNotExplicit;
        }
        match self.include_set.matches(tag).first() {
            Some(i) => TagVerdict::Accepted { pattern: self.include[*i].clone() },
            None => TagVerdict::NotIncluded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(include: &[&str], exclude: &[&str]) -> TagMatcher {
        TagRules {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        }
        .compile()
        .expect("valid patterns")
    }

    fn check(m: &TagMatcher, tag: &str, expected: TagVerdict) {
        assert_eq!(m.verdict(tag), expected, "tag {tag}");
    }

    #[test]
    fn the_first_accepted_tag_names_an_image() {
        let rules = TagRules { include: vec!["v*".into()], exclude: vec!["v*-rc".into()] };
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(rules.first_accepted(&tags(&["latest", "v2-rc", "v2"])), Some("v2".into()));
        assert_eq!(rules.first_accepted(&tags(&["latest", "main"])), None);
    }

    #[test]
    fn latest_needs_an_explicit_include() {
        let star = rules(&["*"], &[]);
        check(&star, "latest", TagVerdict::LatestNotExplicit);
        check(&rules(&["lat*"], &[]), "latest", TagVerdict::LatestNotExplicit);
        check(&rules(&["v*", "latest"], &[]), "latest", TagVerdict::Accepted { pattern: "latest".into() });
        check(&star, "v1.2.3", TagVerdict::Accepted { pattern: "*".into() });
    }

    #[test]
    fn exclude_wins_over_include() {
        let m = rules(&["v*", "latest"], &["*-rc*", "latest"]);
        check(&m, "v2.0.0-rc1", TagVerdict::Excluded { pattern: "*-rc*".into() });
        check(&m, "latest", TagVerdict::Excluded { pattern: "latest".into() });
        check(&m, "v2.0.0", TagVerdict::Accepted { pattern: "v*".into() });
        check(&m, "main-abc123", TagVerdict::NotIncluded);
    }

    #[test]
    fn glob_classes_and_alternatives() {
        let m = rules(&["v[0-9]*", "{release,hotfix}-*"], &[]);
        check(&m, "v1", TagVerdict::Accepted { pattern: "v[0-9]*".into() });
        check(&m, "vx", TagVerdict::NotIncluded);
        check(&m, "hotfix-12", TagVerdict::Accepted { pattern: "{release,hotfix}-*".into() });
    }

    #[test]
    fn bad_patterns_name_their_index() {
        let err = TagRules { include: vec!["v*".into(), "[".into()], exclude: vec![String::new()] }
            .compile()
            .expect_err("invalid");
        assert_eq!(err.len(), 2);
        assert_eq!(err[0].path, "tags.include[1]");
        assert!(err[0].problem.contains("`[` is not a valid glob"), "{}", err[0].problem);
        assert_eq!(err[1].path, "tags.exclude[0]");
        assert!(err[1].problem.contains("empty pattern"));
    }
}
