//! driftwatch's integration tests, one binary: the sidecar through `app(state)` and as a real
//! process, with a real HTTP receiver on loopback. The tests that also need programs outside Rust
//! (Prometheus, Alertmanager, promtool/amtool, TypeScript from npm, docker-compose,
//! kubernetes-validate) are compiled with `--features system-tests`, which `bash tests/run.sh`
//! turns on after installing them; plain `cargo test` runs everything else.

#[cfg_attr(not(feature = "system-tests"), allow(dead_code))]
mod support;

mod anomaly;
mod api;
mod cli;
mod crash;
mod decode_memory;
mod hostile;
mod layering;
mod multivariate;
mod oip;
mod performance;
mod report;
mod resilience;
mod webhook;
mod webhook_crash;

#[cfg(feature = "system-tests")]
mod alertmanager;
#[cfg(feature = "system-tests")]
mod dashboards;
#[cfg(feature = "system-tests")]
mod deploy;
#[cfg(feature = "system-tests")]
mod deploy_e2e;
#[cfg(feature = "system-tests")]
mod fleet;
#[cfg(feature = "system-tests")]
mod prometheus;
#[cfg(feature = "system-tests")]
mod pull;
#[cfg(feature = "system-tests")]
mod report_browser;
