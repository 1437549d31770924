//! `consentry-conformance`: runs a FAPI test plan against a deployment and prints a line per
//! module, with a closing `N passed, N failed`; `consentry-conformance sms-inbox` serves the SMS
//! inbox the deployment's one-time codes go to during a run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use consentry_conformance::config::Config;
use consentry_conformance::plan::Variant;
use consentry_conformance::{modules, report, sms_inbox};

#[derive(Parser)]
#[command(
    name = "consentry-conformance",
    about = "Run an OpenID Foundation FAPI server test plan against a deployment",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The plan with its variants, as the suite writes it:
    /// `fapi2-security-profile-final[client_auth_type=private_key_jwt][sender_constrain=dpop]...`
    #[arg(long, required = true)]
    plan: Option<String>,
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

#[derive(Subcommand)]
enum Command {
    /// Serve an SMS inbox on loopback until Ctrl-C: point the server's `sca.sms.gateway_url`
    /// and the config's `sms_inbox` at the URL it prints, and the harness's browser reads the
    /// one-time codes from it. Each message is printed too, for driving the page by hand.
    SmsInbox(SmsInboxArgs),
}

#[derive(Args)]
struct SmsInboxArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:9901")]
    listen: SocketAddr,
    /// Take only messages posted with `Authorization: Bearer <TOKEN>` (the gateway token the
    /// server is configured with).
    #[arg(long, env = "CONSENTRY_SMS_INBOX_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    if let Some(Command::SmsInbox(args)) = cli.command {
        return serve_sms_inbox(args);
    }
    let Some(plan) = cli.plan else {
        eprintln!("error: --plan is required");
        return ExitCode::FAILURE;
    };
    let variant = match Variant::parse(&plan) {
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

/// `sms-inbox`: the inbox until Ctrl-C, printing its URL and every message it takes.
fn serve_sms_inbox(args: SmsInboxArgs) -> ExitCode {
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("error: cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let inbox = sms_inbox::start_with_token(listener, args.token)
            .await
            .map_err(|e| format!("cannot start the SMS inbox: {e}"))?;
        println!("SMS inbox at {}", inbox.url());
        println!(
            "set the server's sca.sms.gateway_url and the config's sms_inbox to it; Ctrl-C stops it"
        );
        let mut arrivals = inbox.subscribe();
        let stop = tokio::signal::ctrl_c();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                arrival = arrivals.recv() => match arrival {
                    Ok(m) => println!("to {} from {}: {}", m.to, m.from, m.text),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        println!("({n} messages came too fast to show)");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        inbox
            .shutdown()
            .await
            .map_err(|e| format!("the SMS inbox failed: {e}"))
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
