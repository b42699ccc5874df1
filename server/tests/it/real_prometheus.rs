//! A real Prometheus (the Debian package `make test` installs) over data backfilled with
//! `promtool`, on a port of its own, for the tests of what Rampart asks it.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use chrono::Utc;

use crate::helpers::free_port;

/// Seconds between backfilled samples, as a scrape would take them.
pub const SCRAPE: i64 = 15;

/// A label value as OpenMetrics writes it.
pub fn escaped(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn binary(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} must name the binary; `make test` installs Prometheus and sets it")
    })
}

/// A Prometheus over backfilled data, stopped when dropped.
pub struct RealPrometheus {
    child: Option<Child>,
    pub url: String,
    dir: PathBuf,
}

impl RealPrometheus {
    /// Backfills what `series` writes from three hours ago until now (OpenMetrics text, given
    /// the first and last sample's time) and starts Prometheus over it.
    pub async fn start(series: impl FnOnce(i64, i64) -> String) -> RealPrometheus {
        let port = free_port();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prometheus-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let until = Utc::now().timestamp() / SCRAPE * SCRAPE;
        let input = dir.join("series.om");
        std::fs::write(&input, series(until - 3 * 3600, until)).unwrap();
        let backfill = Command::new(binary("RAMPART_TEST_PROMTOOL"))
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(dir.join("data"))
            .output()
            .expect("promtool runs");
        assert!(
            backfill.status.success(),
            "promtool: {}",
            String::from_utf8_lossy(&backfill.stderr)
        );
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
        let child = Command::new(binary("RAMPART_TEST_PROMETHEUS"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        // Owned at once, so that a failure below still stops it.
        let prometheus = RealPrometheus {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let ready = format!("{}/-/ready", prometheus.url);
        for _ in 0..100 {
            if reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return prometheus;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Prometheus did not become ready on port {port}");
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RealPrometheus {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
