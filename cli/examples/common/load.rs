//! External load generators for the benchmarks: `wrk` (closed loop) and `oha` (open loop at a
//! fixed rate), found on PATH or installed when missing (`wrk` from Debian's packages, `oha`
//! from crates.io under `target/bench-tools`), the `hookhost` binary built in release, and
//! readers of what a process spends (its threads' CPU and writes, a `perf` profile).

#![allow(dead_code)] // each benchmark uses its own part

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// What a load generator sends to a server under test.
pub struct Target {
    /// Printed name.
    pub name: &'static str,
    /// The URL posted to.
    pub url: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The JSON body posted.
    pub body: String,
}

/// One closed-loop run.
pub struct Closed {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One open-loop run.
pub struct Open {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub failed: u64,
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// CPU time (ns, from `schedstat`) and bytes written (`wchar`) of the threads of process
/// `pid` (`self` for this one), summed per thread name: where a process's time and I/O go
/// during a phase. Empty where `/proc` is not.
pub fn threads(pid: &str) -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut sums = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return sums;
    };
    for task in tasks.flatten() {
        let read = |name: &str| std::fs::read_to_string(task.path().join(name)).unwrap_or_default();
        let comm = read("comm").trim().to_owned();
        let cpu_ns = read("schedstat")
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let written = read("io")
            .lines()
            .find_map(|line| line.strip_prefix("wchar: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let sum: &mut (u64, u64) = sums.entry(comm).or_default();
        sum.0 += cpu_ns;
        sum.1 += written;
    }
    sums
}

/// `target/` of this build (`target/release/examples/<bench>`).
fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.ancestors()
        .nth(3)
        .map(Path::to_owned)
        .context("cannot locate the target directory")
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn run_checked(command: &mut std::process::Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed: {status}");
    }
    Ok(())
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `wrk`, installed from Debian's packages when missing.
pub fn wrk() -> anyhow::Result<PathBuf> {
    if let Some(wrk) = on_path("wrk") {
        return Ok(wrk);
    }
    eprintln!("installing wrk from Debian's packages");
    run_checked(
        std::process::Command::new("apt-get").args(["install", "-y", "-q", "wrk"]),
        "apt-get install wrk (install it as root)",
    )?;
    on_path("wrk").context("wrk is not on PATH after installing it")
}

/// `oha`, installed from crates.io under `target/bench-tools` when missing.
pub fn oha() -> anyhow::Result<PathBuf> {
    if let Some(oha) = on_path("oha") {
        return Ok(oha);
    }
    let tools = target_dir()?.join("bench-tools");
    let oha = tools.join("bin").join("oha");
    if !oha.is_file() {
        eprintln!("installing oha from crates.io under {}", tools.display());
        run_checked(
            std::process::Command::new(cargo())
                .args(["install", "oha", "--locked", "--root"])
                .arg(&tools),
            "cargo install oha",
        )?;
    }
    Ok(oha)
}

/// Builds `hookhost` in release (a no-op when it is up to date) and returns its path.
///
/// With `--examples`, as the benchmark itself was built: the examples' dev-dependencies unify
/// the dependencies' features, and a build without them would recompile most of the graph
/// with another feature set.
pub fn hookhost() -> anyhow::Result<PathBuf> {
    run_checked(
        std::process::Command::new(cargo())
            .args(["build", "--release", "--quiet", "-p", "hookhost-cli"])
            .args(["--bin", "hookhost", "--examples"]),
        "cargo build --release -p hookhost-cli --bin hookhost --examples",
    )?;
    Ok(target_dir()?.join("release").join("hookhost"))
}

fn lua_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `wrk -t1 -c<connections> -d<seconds>s --latency` posting `target.body`; `script` is where
/// its Lua script is written. Fails when any answer is not 2xx.
pub async fn wrk_run(
    wrk: &Path,
    script: &Path,
    target: &Target,
    seconds: u64,
    connections: u64,
) -> anyhow::Result<Closed> {
    let mut lua = format!(
        "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
        lua_string(&target.body)
    );
    if let Some(auth) = &target.authorization {
        lua.push_str(&format!(
            "wrk.headers[\"Authorization\"] = {}\n",
            lua_string(auth)
        ));
    }
    std::fs::write(script, lua)?;
    let output = tokio::process::Command::new(wrk)
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .args(["--latency", "-s"])
        .arg(script)
        .arg(&target.url)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        bail!("{} answered with errors:\n{text}", target.name);
    }
    let field = |prefix: &str| -> anyhow::Result<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
            .with_context(|| format!("no `{prefix}` in wrk's output:\n{text}"))
    };
    Ok(Closed {
        rps: field("Requests/sec:")?.parse()?,
        p50_ms: wrk_duration_ms(field("50%")?)?,
        p99_ms: wrk_duration_ms(field("99%")?)?,
    })
}

/// `270.00us`, `1.25ms`, `2.01s`, `1.00m` in milliseconds.
fn wrk_duration_ms(text: &str) -> anyhow::Result<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60e3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e3)
    } else {
        bail!("unknown duration `{text}`")
    };
    Ok(number.parse::<f64>()? * scale)
}

/// `oha` at a fixed `rate` for `seconds` with latency correction (each latency counted from
/// when its request was due), posting `target.body`.
pub async fn oha_run(
    oha: &Path,
    target: &Target,
    rate: u64,
    seconds: u64,
    connections: u64,
) -> anyhow::Result<Open> {
    let mut command = tokio::process::Command::new(oha);
    command
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "--latency-correction",
        ])
        .args(["-m", "POST", "-T", "application/json", "-d", &target.body])
        .args(["-q", &rate.to_string(), "-c", &connections.to_string()])
        .args(["-z", &format!("{seconds}s")]);
    if let Some(auth) = &target.authorization {
        command.args(["-H", &format!("Authorization: {auth}")]);
    }
    let output = command.arg(&target.url).output().await?;
    if !output.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("oha's output: {}", String::from_utf8_lossy(&output.stdout)))?;
    let ms_at = |key: &str| -> anyhow::Result<f64> {
        report["latencyPercentiles"][key]
            .as_f64()
            .map(|s| s * 1e3)
            .with_context(|| format!("no latencyPercentiles.{key} in oha's report"))
    };
    let count = |value: &serde_json::Value, keep: &dyn Fn(&str) -> bool| -> u64 {
        value.as_object().map_or(0, |map| {
            map.iter()
                .filter(|(key, _)| keep(key))
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum()
        })
    };
    let failed = count(&report["statusCodeDistribution"], &|code| {
        !code.starts_with('2')
    }) + count(&report["errorDistribution"], &|_| true);
    Ok(Open {
        rps: report["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: ms_at("p50")?,
        p99_ms: ms_at("p99")?,
        p999_ms: ms_at("p99.9")?,
        failed,
    })
}

/// A `perf record` (Debian's linux-perf) of a process with call stacks, from
/// [`Profile::start`] to [`Profile::stop`]; `perf report -i <file>` reads it.
pub struct Profile(std::process::Child);

impl Profile {
    /// Starts recording process `pid` into `file`.
    pub fn start(pid: u32, file: &Path) -> anyhow::Result<Profile> {
        eprintln!("recording a perf profile of {pid} into {}", file.display());
        let child = std::process::Command::new("perf")
            .args(["record", "-F", "999", "--call-graph", "dwarf,16384", "-o"])
            .arg(file)
            .args(["-p", &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting perf (Debian's linux-perf)")?;
        // perf needs a moment to attach.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(Profile(child))
    }

    /// Stops recording and waits until the file is written.
    pub fn stop(mut self) -> anyhow::Result<()> {
        std::process::Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()?;
        self.0.wait()?;
        Ok(())
    }
}
