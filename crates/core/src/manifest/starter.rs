//! The starter manifest `greenlight manifest init` writes: one service, every option at its
//! default.

use std::collections::BTreeMap;

use super::types::*;
use crate::tags::TagRules;

/// What `greenlight manifest init` needs to write a starter manifest.
#[derive(Debug, Clone)]
pub struct Starter {
    pub service: String,
    pub cluster: String,
    pub repository: String,
    pub container: String,
    pub port: Option<u16>,
    pub test_listener_url: Option<String>,
}

impl Manifest {
    /// A valid manifest for one service, every option at its default.
    pub fn starter(s: &Starter) -> Self {
        let validation = Validation {
            enabled: s.test_listener_url.is_some(),
            test_listener_url: s.test_listener_url.clone(),
            checks: vec![Check {
                name: "health".into(),
                method: default_method(),
                path: "/".into(),
                headers: BTreeMap::new(),
                expect: Expect::default(),
                consecutive_successes: default_consecutive(),
                interval_ms: default_interval(),
                timeout_ms: default_timeout(),
            }],
            ..Validation::default()
        };
        Self {
            schema: None,
            version: MANIFEST_VERSION,
            services: vec![Service {
                name: s.service.clone(),
                cluster: s.cluster.clone(),
                service: s.service.clone(),
                repository: s.repository.clone(),
                containers: vec![s.container.clone()],
                tags: TagRules::default(),
                codedeploy: CodeDeployTarget { application: s.service.clone(), deployment_group: s.service.clone() },
                load_balancer: LoadBalancer { container: s.container.clone(), port: s.port },
                platform_version: None,
                network_configuration: None,
                capacity_provider_strategy: Vec::new(),
                validation,
                approval: Approval::default(),
                gates: Gates::default(),
                concurrency: Concurrency::default(),
            }],
        }
    }
}
