//! `emulator up` starts the local AWS emulation in the background and prints its endpoints;
//! `emulator down` stops it and everything it started. `cargo xtask emulator up|down` runs this.

// A command-line tool's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::{Command, ExitCode};

use greenlight_tests::emulator::{Emulator, Options, root};

fn state_file() -> std::path::PathBuf {
    root().join("target/emulator/up.json")
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("up") => up(),
        Some("down") => down(),
        _ => {
            eprintln!("usage: emulator up|down");
            ExitCode::from(2)
        }
    }
}

fn up() -> ExitCode {
    if let Ok(text) = std::fs::read_to_string(state_file()) {
        eprintln!("an emulator is already up ({}); `cargo xtask emulator down` stops it", text.trim());
        return ExitCode::from(1);
    }
    let emulator = match Emulator::start_with(Options { detached: true, ..Options::default() }) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    // A service to look at: blue runs v1; v2 and v3 are pushed and ready to deploy.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let seeded = runtime.ok().map(|rt| {
        rt.block_on(emulator.seed(serde_json::json!({"service": "web", "tags": ["v1", "v2", "v3"], "live": "v1"})))
    });
    let (endpoint, production, test, dir) =
        (emulator.endpoint.clone(), emulator.production_url.clone(), emulator.test_url.clone(), emulator.dir.clone());
    let pid = emulator.detach();
    let state = serde_json::json!({"pid": pid, "endpoint": endpoint, "production_url": production, "test_url": test});
    if let Err(e) = std::fs::write(state_file(), state.to_string()) {
        eprintln!("{}: {e}", state_file().display());
    }
    println!("AWS_ENDPOINT_URL={endpoint}");
    println!("GREENLIGHT_PRODUCTION_URL={production}");
    println!("GREENLIGHT_TEST_URL={test}");
    if let Some(seeded) = seeded {
        println!("# seeded ECS service `web` (cluster `web`, CodeDeploy application and group `web`), blue serving v1");
        for tag in ["v1", "v2", "v3"] {
            println!("#   {tag}: {}", seeded["images"][tag].as_str().unwrap_or_default());
        }
    }
    println!("# logs in {}; stop with `cargo xtask emulator down`", dir.display());
    ExitCode::SUCCESS
}

fn down() -> ExitCode {
    let Ok(text) = std::fs::read_to_string(state_file()) else {
        println!("no emulator is up");
        return ExitCode::SUCCESS;
    };
    let pid = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["pid"].as_u64()).unwrap_or(0);
    if pid > 0 {
        let group = format!("-{pid}");
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        for _ in 0..100 {
            let alive = Command::new("kill").args(["-0", "--", &group]).stderr(std::process::Stdio::null()).status();
            if !alive.is_ok_and(|s| s.success()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(std::process::Stdio::null()).status();
    }
    let _ = std::fs::remove_file(state_file());
    println!("emulator {pid} stopped");
    ExitCode::SUCCESS
}
