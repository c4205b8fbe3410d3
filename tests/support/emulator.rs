//! Test support: one local AWS emulation per [`Emulator`], torn down when it is dropped (also
//! when a test fails or panics), and the emulator itself exits when the test process dies.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The Python interpreter of the emulation's venv (`cargo xtask emulator setup` creates it).
pub fn python() -> PathBuf {
    root().join(".venv/emulator/bin/python")
}

/// The emulation's function timeout when none is given.
pub const DEFAULT_FUNCTION_TIMEOUT_S: f64 = 60.0;

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Multiplies every CodeDeploy wait (ready wait, termination wait, install).
    pub time_scale: f64,
    /// Seconds a lifecycle hook may take to report; `None` is AWS's hour, scaled.
    pub hook_timeout_s: Option<f64>,
    /// Keep running after the starting process exits (`cargo xtask emulator up`).
    pub detached: bool,
    /// Multiplies the state machine's Retry waits (1: AWS's seconds).
    pub retry_time_scale: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self { time_scale: 0.01, hook_timeout_s: None, detached: false, retry_time_scale: 1.0 }
    }
}

/// A running emulation: moto with greenlight's extensions, and the load balancer's ports.
#[derive(Debug)]
pub struct Emulator {
    child: Option<Child>,
    pub endpoint: String,
    pub production_url: String,
    pub test_url: String,
    pub dir: PathBuf,
    http: reqwest::Client,
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

impl Emulator {
    pub fn start() -> Self {
        Self::start_with(Options::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the emulation and waits until it answers.
    pub fn start_with(options: Options) -> Result<Self, String> {
        let python = python();
        if !python.is_file() {
            return Err(format!(
                "the emulation's Python venv is missing ({}): run `cargo xtask emulator setup` (or `cargo xtask test`, which runs it)",
                python.display()
            ));
        }
        let n = STARTED.fetch_add(1, Ordering::SeqCst);
        let dir = root().join("target/emulator").join(format!("{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ready = dir.join("ready.json");
        let log = std::fs::File::create(dir.join("emulator.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "greenlight_emulator", "--ready-file"])
            .arg(&ready)
            .args(["--time-scale", &options.time_scale.to_string()])
            .args(["--retry-time-scale", &options.retry_time_scale.to_string()])
            .env("PYTHONPATH", root().join("tests/emulator"))
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            // Its own process group: dropping the emulator stops it and every function process.
            .process_group(0);
        if let Some(t) = options.hook_timeout_s {
            cmd.args(["--hook-timeout", &t.to_string()]);
        }
        if options.detached {
            cmd.arg("--detached");
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let started = Instant::now();
        let info: Value = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str(&text)
            {
                break v;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("emulator.log")).unwrap_or_default();
                return Err(format!("the emulator exited ({status}) before it was ready:\n{log}"));
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                return Err(format!(
                    "the emulator was not ready within 60 s; see {}",
                    dir.join("emulator.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let field = |k: &str| info[k].as_str().unwrap_or_default().to_string();
        Ok(Self {
            endpoint: field("endpoint"),
            production_url: field("production_url"),
            test_url: field("test_url"),
            child: Some(child),
            dir,
            http: greenlight_http::client().expect("an HTTP client"),
        })
    }

    /// An emulation some other process started and left running (`cargo xtask emulator up`):
    /// dropping this value leaves it running.
    pub fn attach(endpoint: &str, production_url: &str, test_url: &str, dir: PathBuf) -> Self {
        Self {
            endpoint: endpoint.into(),
            production_url: production_url.into(),
            test_url: test_url.into(),
            child: None,
            dir,
            http: greenlight_http::client().expect("an HTTP client"),
        }
    }

    /// Process id of the emulator (its process group id too).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Leaves the emulator running when this value is dropped (`cargo xtask emulator up`).
    pub fn detach(mut self) -> u32 {
        self.child.take().map(|c| c.id()).unwrap_or_default()
    }

    /// An SDK config whose clients all talk to this emulator.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let http = greenlight_http::client().expect("an HTTP client");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(greenlight_http::sdk_http_client(http))
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_codedeploy::config::Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .load()
            .await
    }

    /// A control route's status and JSON answer, whatever they are.
    pub async fn control_raw(&self, route: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/greenlight-emulator/{route}", self.endpoint))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("emulator control {route}: {e}"));
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    async fn control(&self, route: &str, body: &Value) -> Value {
        let (status, v) = self.control_raw(route, body).await;
        assert!((200..300).contains(&status), "emulator control {route}: {status} {v}");
        v
    }

    /// GET a control route (`state`, `notifications`, `calls`, …) as JSON.
    pub async fn control_get(&self, route: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}/greenlight-emulator/{route}", self.endpoint))
            .send()
            .await
            .unwrap_or_else(|e| panic!("emulator control {route}: {e}"));
        resp.json().await.unwrap_or_else(|e| panic!("emulator control {route}: {e}"))
    }

    /// DELETE a control route.
    pub async fn control_delete(&self, route: &str) {
        let resp = self
            .http
            .delete(format!("{}/greenlight-emulator/{route}", self.endpoint))
            .send()
            .await
            .unwrap_or_else(|e| panic!("emulator control DELETE {route}: {e}"));
        assert!(resp.status().is_success(), "emulator control DELETE {route}: {}", resp.status());
    }

    /// Every message published to an SNS topic: `{topic_arn, subject, message}`.
    pub async fn notifications(&self) -> Vec<Value> {
        self.control_get("notifications").await.as_array().cloned().unwrap_or_default()
    }

    /// What SES sent, oldest first: `{from, to, subject, body}`.
    pub async fn emails(&self) -> Vec<Value> {
        self.control_get("emails").await.as_array().cloned().unwrap_or_default()
    }

    /// Seeds a service environment from a short description; returns what was created
    /// (digests by tag, ARNs, the load balancer's URLs).
    pub async fn seed(&self, description: Value) -> Value {
        self.control("seed", &description).await
    }

    /// Runs a function binary behind the Lambda Runtime API under this name (its timeout the
    /// emulation's default, 60 s).
    pub async fn register_function(&self, name: &str, command: &[&str], env: &[(&str, &str)]) {
        self.register_function_timed(name, command, env, DEFAULT_FUNCTION_TIMEOUT_S).await;
    }

    /// [`Self::register_function`] with the function's timeout: an invocation past it is
    /// answered `Sandbox.Timedout` and its process killed.
    pub async fn register_function_timed(&self, name: &str, command: &[&str], env: &[(&str, &str)], timeout_s: f64) {
        let mut vars: serde_json::Map<String, Value> =
            env.iter().map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string()))).collect();
        vars.entry("AWS_ENDPOINT_URL").or_insert_with(|| Value::String(self.endpoint.clone()));
        self.control("functions", &json!({"name": name, "command": command, "env": vars, "timeout_s": timeout_s}))
            .await;
    }

    /// While `Some(status)`, the fake Slack answers every post with that HTTP status.
    pub async fn slack_outage(&self, status: Option<u16>) {
        self.control("slack-outage", &json!({ "status": status })).await;
    }

    /// The fake Slack answers the next `times` posts with `status`, then takes posts again.
    /// The fake Slack's user groups (`{"S…": ["U…"]}`), readable with `bot_token`, and the
    /// channels its bot may post to.
    pub async fn slack_groups(&self, bot_token: &str, groups: &Value, channels: &[&str]) {
        self.control("slack-groups", &json!({ "bot_token": bot_token, "groups": groups, "channels": channels })).await;
    }

    pub async fn slack_outage_for(&self, status: u16, times: u32) {
        self.control("slack-outage", &json!({ "status": status, "times": times })).await;
    }

    /// How the service behaves when it runs the image with this digest.
    pub async fn set_behaviour(&self, digest: &str, behaviour: Value) {
        self.control("behaviours", &json!({ digest: behaviour })).await;
    }

    /// GET a URL; `(status, body)`, or status 0 when nothing answered.
    pub async fn get(&self, url: &str) -> (u16, Value) {
        match self.http.get(url).timeout(Duration::from_secs(10)).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// The digest the production (or test) port serves now, from `/version`.
    pub async fn serving(&self, which: Port) -> Option<String> {
        let base = match which {
            Port::Production => &self.production_url,
            Port::Test => &self.test_url,
        };
        let (status, body) = self.get(&format!("{base}/version")).await;
        (status == 200).then(|| body["digest"].as_str().unwrap_or_default().to_string())
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args([sig, "--", &format!("-{pid}")]).stderr(Stdio::null()).status();
        }
    }
}

/// The load balancer's two ports.
#[derive(Debug, Clone, Copy)]
pub enum Port {
    Production,
    Test,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        if let Some(child) = self.child.as_mut() {
            while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Whatever is left of the group (a function process that ignored SIGTERM).
        self.signal("-KILL");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}
