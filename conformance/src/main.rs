//! `consentry-conformance`: runs a FAPI test plan against a deployment and prints a line per
//! module, with a closing `N passed, N failed`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use consentry_conformance::config::Config;
use consentry_conformance::plan::Variant;
use consentry_conformance::{modules, report};

#[derive(Parser)]
#[command(
    name = "consentry-conformance",
    about = "Run an OpenID Foundation FAPI server test plan against a deployment"
)]
struct Cli {
    /// The plan with its variants, as the suite writes it:
    /// `fapi2-security-profile-final[client_auth_type=private_key_jwt][sender_constrain=dpop]...`
    #[arg(long)]
    plan: String,
    /// The configuration JSON (the suite's shape: server.discoveryUrl, client, client2, mtls,
    /// mtls2, resource, browser).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run only this module.
    #[arg(long)]
    module: Option<String>,
    /// List the modules the plan and variant select, and exit.
    #[arg(long)]
    list: bool,
    /// Write a JSON report with every exchange here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Modules allowed to fail, with reasons (JSON list of {module, variant?, reason}).
    #[arg(long)]
    expected_failures: Option<PathBuf>,
    /// Modules run at once (their waits overlap).
    #[arg(long, default_value_t = 8)]
    parallel: usize,
}

fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let variant = match Variant::parse(&cli.plan) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: --plan: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.list {
        for m in modules::selected(&variant) {
            println!("{}", m.name(&variant));
        }
        return ExitCode::SUCCESS;
    }
    let Some(config_path) = cli.config else {
        eprintln!("error: --config is required to run a plan");
        return ExitCode::FAILURE;
    };
    let config: Config = match std::fs::read_to_string(&config_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: cannot read configuration {}: {e}",
                config_path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let expected = match &cli.expected_failures {
        None => Vec::new(),
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| report::parse_expected(&t).map_err(|e| e.to_string()))
        {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: cannot read expected failures {}: {e}", p.display());
                return ExitCode::FAILURE;
            }
        },
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("error: cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    let reports = runtime.block_on(report::run(
        &config,
        &variant,
        cli.module.as_deref(),
        cli.parallel,
    ));
    let verdict = report::verdict(&variant, &reports, &expected);
    for line in &verdict.lines {
        println!("{line}");
    }
    if let Some(path) = cli.report {
        let json = serde_json::json!({ "plan": variant.to_string(), "modules": reports });
        if let Err(e) = std::fs::write(
            &path,
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        ) {
            eprintln!("error: cannot write the report {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if verdict.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
