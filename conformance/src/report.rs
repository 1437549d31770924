//! Running a plan and reporting it: one line per module, the failing condition and the exchange
//! that showed it, a closing `N passed, N failed` line, a JSON report with every exchange, and the
//! verdict against the expected-failures list.

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::env::{Env, Exchange, Failure};
use crate::modules::{self, Outcome};
use crate::plan::Variant;

#[derive(Debug, Clone, Serialize)]
pub struct ModuleReport {
    pub module: String,
    pub result: &'static str,
    pub condition: Option<String>,
    pub message: Option<String>,
    pub exchanges: Vec<Exchange>,
}

/// A module allowed to fail, with the reason (and the issue that will make it pass).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpectedFailure {
    pub module: String,
    /// A substring of the plan-variant string; every variant when absent.
    #[serde(default)]
    pub variant: Option<String>,
    pub reason: String,
}

pub fn parse_expected(text: &str) -> Result<Vec<ExpectedFailure>, serde_json::Error> {
    serde_json::from_str(text)
}

/// Runs the modules of `variant` (only `only` when given), `parallel` at a time.
pub async fn run(
    config: &Config,
    variant: &Variant,
    only: Option<&str>,
    parallel: usize,
) -> Vec<ModuleReport> {
    let selected: Vec<_> = modules::selected(variant)
        .into_iter()
        .filter(|m| only.is_none_or(|o| m.name(variant) == o))
        .collect();
    // The server's metadata is fetched once for the run, not once per module.
    let metadata = Env::new(config.clone(), variant.clone())
        .await
        .map(|env| (env.discovery, env.jwks))
        .map_err(|e| e.to_string());
    // Modules that wait out a lifetime start first, so their waits overlap the others.
    let mut order: Vec<(usize, crate::modules::Module)> =
        selected.into_iter().enumerate().collect();
    order.sort_by_key(|(_, m)| !m.suffix.contains("expired"));
    let runs = order.into_iter().map(|(i, module)| {
        let config = config.clone();
        let variant = variant.clone();
        let metadata = metadata.clone();
        async move {
            let name = module.name(&variant);
            let env = metadata.and_then(|(discovery, jwks)| {
                Env::from_parts(config, variant, discovery, jwks).map_err(|e| e.to_string())
            });
            let report = match env {
                Err(e) => module_report(
                    name,
                    Err(crate::env::fail("FetchServerConfiguration", e)),
                    Vec::new(),
                ),
                Ok(env) => {
                    let outcome = (module.run)(&env).await;
                    module_report(name, outcome, env.exchanges())
                }
            };
            (i, report)
        }
    });
    let mut done: Vec<(usize, ModuleReport)> = futures_util::stream::iter(runs)
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The report of module `name` that ended with `outcome` after `exchanges`.
pub fn module_report(
    name: String,
    outcome: Result<Outcome, Failure>,
    exchanges: Vec<Exchange>,
) -> ModuleReport {
    let (result, condition, message) = match outcome {
        Ok(Outcome::Passed) => ("PASSED", None, None),
        Ok(Outcome::Warning(m)) => ("WARNING", None, Some(m)),
        Ok(Outcome::Skipped(m)) => ("SKIPPED", None, Some(m)),
        Ok(Outcome::Failed(f)) | Err(f) => {
            ("FAILED", Some(f.condition.to_owned()), Some(f.message))
        }
    };
    ModuleReport {
        module: name,
        result,
        condition,
        message,
        exchanges,
    }
}

/// The verdict: the lines to print and whether the run is acceptable.
pub struct Verdict {
    pub lines: Vec<String>,
    pub ok: bool,
}

pub fn verdict(
    variant: &Variant,
    reports: &[ModuleReport],
    expected: &[ExpectedFailure],
) -> Verdict {
    let variant_name = variant.to_string();
    let is_expected = |m: &str| {
        expected.iter().find(|e| {
            e.module == m
                && e.variant
                    .as_deref()
                    .is_none_or(|v| variant_name.contains(v))
        })
    };
    let mut lines = vec![format!("plan {variant_name}")];
    let (mut passed, mut failed, mut warnings, mut skipped, mut ok) = (0, 0, 0, 0, true);
    for r in reports {
        match r.result {
            "PASSED" => {
                passed += 1;
                lines.push(format!("PASSED  {}", r.module));
                if let Some(e) = is_expected(&r.module) {
                    ok = false;
                    lines.push(format!(
                        "        listed as an expected failure ({}) but passed: update the list",
                        e.reason
                    ));
                }
            }
            "FAILED" => {
                failed += 1;
                let condition = r.condition.clone().unwrap_or_default();
                lines.push(format!(
                    "FAILED  {}  {condition}: {}",
                    r.module,
                    r.message.clone().unwrap_or_default()
                ));
                match is_expected(&r.module) {
                    Some(e) => lines.push(format!("        expected: {}", e.reason)),
                    None => ok = false,
                }
                if let Some(x) = r.exchanges.last() {
                    let body: String = x.response_body.chars().take(400).collect();
                    lines.push(format!(
                        "        {} {} -> {} {}",
                        x.method,
                        x.url,
                        x.status,
                        x.location.clone().unwrap_or_default()
                    ));
                    lines.push(format!("        {}", body.replace('\n', " ")));
                }
            }
            "WARNING" => {
                warnings += 1;
                lines.push(format!(
                    "WARNING {}  {}",
                    r.module,
                    r.message.clone().unwrap_or_default()
                ));
            }
            _ => {
                skipped += 1;
                lines.push(format!(
                    "SKIPPED {}  {}",
                    r.module,
                    r.message.clone().unwrap_or_default()
                ));
            }
        }
    }
    lines.push(format!("{passed} passed, {failed} failed"));
    lines.push(format!("({warnings} warnings, {skipped} skipped)"));
    Verdict { lines, ok }
}
