//! `consentry`: the command line. It parses arguments and composes the crates; the work is done
//! in `consentry-server`.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use consentry_server::clock::{SharedClock, SystemClock, rfc3339};
use consentry_server::config::{Config, Loaded};
use consentry_server::keys::SigningAlg;
use consentry_server::registration::metadata::{ClientMetadata, Profile, new_client};
use consentry_server::serve::{self, Listeners};
use consentry_server::store::{ClientStore as _, Role, User, UserStore as _};

#[derive(Parser)]
#[command(
    name = "consentry",
    version,
    about = "Identity and consent server for open banking (OpenID Connect, FAPI)"
)]
struct Cli {
    /// Configuration file (TOML). Defaults to $CONSENTRY_CONFIG, then ./consentry.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: public listener (discovery, JWKS, login), mTLS listener, admin listener.
    ///
    /// On first start it creates the database, the master key file, the signing keys and, unless
    /// tls.cert_file is set, a local CA with a server certificate, all under storage.data_dir.
    Serve {
        /// Seed a demo bank (customers, accounts, a year of transactions, a demo TPP) on first
        /// start, and print how to use it. Existing data is kept.
        #[arg(long)]
        demo: bool,
    },
    /// Same as `serve --demo`.
    Demo,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Signing keys: list them, or rotate to new ones with overlap.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Customers and operators.
    #[command(subcommand)]
    User(UserCommand),
    /// OAuth clients (TPPs).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Register two test clients for an OpenID Foundation FAPI test plan and write the config
    /// JSON for the suite's scripts/run-test-plan.py (or for consentry-conformance).
    ConformanceConfig(ConformanceConfigArgs),
}

#[derive(Args)]
struct ConformanceConfigArgs {
    /// The plan with its variants, e.g.
    /// `fapi2-security-profile-final[client_auth_type=private_key_jwt][sender_constrain=mtls][openid=openid_connect][fapi_profile=plain_fapi]`.
    #[arg(long)]
    plan: String,
    /// The suite's base URL; its callbacks `https://<suite>/test/a/<alias>/callback` are registered.
    #[arg(long, default_value = "https://www.certification.openid.net/")]
    suite_url: String,
    /// The alias of the test plan in the suite (part of its callback URLs).
    #[arg(long)]
    alias: String,
    /// A customer the suite's browser logs in as.
    #[arg(long, default_value = "alice")]
    username: String,
    /// That customer's password.
    #[arg(long, default_value = "alice-demo-2026")]
    password: String,
    /// Where to write the JSON (standard output when absent).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the server's CA (`server_ca`), so consentry-conformance trusts a deployment
    /// that uses the local CA. The OpenID Foundation suite does not need it.
    #[arg(long)]
    for_harness: bool,
    /// Where consentry-conformance reads one-time codes: the `/messages` URL of its SMS inbox
    /// (`consentry-conformance sms-inbox`), which the server's `sca.sms.gateway_url` points at.
    #[arg(long, value_name = "URL")]
    sms_inbox: Option<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List signing keys with their state (next, active, retired, expired) and dates.
    List,
    /// Create the next signing key of each algorithm. It is published at once and starts signing
    /// after keys.publish_lead_secs; the current key keeps being published until everything it
    /// signed has expired.
    Rotate {
        /// Rotate only this algorithm.
        #[arg(long, value_parser = ["PS256", "ES256"])]
        alg: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a customer or an operator. The password is read from standard input when
    /// --password-stdin is given, otherwise generated and printed once.
    Add(UserAdd),
}

#[derive(Args)]
struct UserAdd {
    /// Login name (unique).
    #[arg(long)]
    username: String,
    /// Full name shown on pages.
    #[arg(long)]
    name: String,
    #[arg(long)]
    email: Option<String>,
    /// Phone number for SMS one-time codes, in E.164 form.
    #[arg(long)]
    phone: Option<String>,
    /// `customer` (a PSU) or `operator` (bank staff using /admin).
    #[arg(long, default_value = "customer", value_parser = ["customer", "operator"])]
    role: String,
    /// Read the password from standard input (first line).
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client from an RFC 7591 metadata document (JSON). Prints the client_id, and
    /// the client secret once for the secret-based methods of plain OIDC clients.
    Add {
        /// The metadata file.
        #[arg(long, value_name = "FILE")]
        metadata: PathBuf,
    },
    /// List registered clients.
    List,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults, file, environment) with secrets redacted, and
    /// any unknown keys.
    Check,
}

fn main() -> ExitCode {
    let started = Instant::now();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let loaded = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    consentry_server::telemetry::init_tracing(&loaded.config.telemetry);
    for key in &loaded.unknown_keys {
        tracing::warn!(key = %key, "unknown configuration key ignored");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, loaded, started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

async fn run(command: Command, loaded: Loaded, started: Instant) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    let config = loaded.config;
    match command {
        Command::Serve { demo } => serve(config, clock, demo, started).await,
        Command::Demo => serve(config, clock, true, started).await,
        Command::Migrate => {
            let store = serve::open_store(&config).await?;
            println!("database is up to date ({:?})", store.backend());
            Ok(())
        }
        Command::Keys(cmd) => keys(cmd, config, clock).await,
        Command::ConformanceConfig(args) => conformance_config(args, config, clock).await,
        Command::User(UserCommand::Add(add)) => add_user(add, config, clock).await,
        Command::Client(cmd) => client(cmd, config, clock).await,
        Command::Config(ConfigCommand::Check) => {
            match &loaded.file {
                Some(file) => println!("# configuration file: {}", file.display()),
                None => println!("# no configuration file; defaults and environment"),
            }
            for key in &loaded.unknown_keys {
                println!("# unknown key (ignored): {key}");
            }
            print!("{}", config.to_redacted_toml());
            Ok(())
        }
    }
}

async fn serve(
    config: Config,
    clock: SharedClock,
    demo: bool,
    started: Instant,
) -> anyhow::Result<()> {
    let stop = serve::shutdown_signal();
    // Bind first: a port in use stops start-up before anything is created or changed.
    let listeners = Listeners::bind(&config).await?;
    let mut prepared = serve::prepare(config, clock).await?;
    if !prepared.created_keys.is_empty() {
        tracing::info!(kids = ?prepared.created_keys, "created signing keys");
    }
    // The demo prints one-time codes on the console unless a real gateway is configured.
    let console_phone = demo && prepared.state.sms.is_none();
    if console_phone
        && !prepared.set_sms_gateway(std::sync::Arc::new(
            consentry_server::demo::phone::ConsolePhone,
        ))
    {
        anyhow::bail!("the demo phone could not be installed");
    }
    let demo_report = if demo {
        Some(
            consentry_server::demo::seed(&prepared)
                .await
                .context("seeding the demo bank")?,
        )
    } else {
        None
    };
    let running = serve::start_with(prepared, listeners, consentry_resource_apis::router)?;
    let config = &running.state.config;
    tracing::info!(
        public = %running.public_addr,
        mtls = %running.mtls_addr,
        admin = %running.admin_addr,
        ready_ms = started.elapsed().as_millis() as u64,
        "ready"
    );
    println!(
        "  issuer     {}",
        config.server.issuer.as_str().trim_end_matches('/')
    );
    println!(
        "  discovery  {}.well-known/openid-configuration",
        config.server.issuer
    );
    println!(
        "  mTLS       {} (listening on {})",
        config.mtls_base_url(),
        running.mtls_addr
    );
    println!(
        "  resources  {}open-banking/v3.1/ (listening on {})",
        config.resource_base_url(),
        running
            .resource_addr
            .map_or_else(String::new, |a| a.to_string())
    );
    println!("  metrics    http://{}/metrics", running.admin_addr);
    if let Some(report) = demo_report {
        print!("{report}");
    }
    if console_phone {
        println!(
            "One-time codes (SCA) for the demo customers' phones are printed here, as [demo phone ...]."
        );
    }
    println!("Consentry is ready ({} ms)", started.elapsed().as_millis());
    running.run_until(stop).await;
    Ok(())
}

async fn keys(cmd: KeysCommand, config: Config, clock: SharedClock) -> anyhow::Result<()> {
    let (_store, keys) = serve::open_keys(&config, clock).await?;
    match cmd {
        KeysCommand::List => {
            let list = keys.list().await?;
            if list.is_empty() {
                println!("no signing keys yet: they are created on first `consentry serve`");
            }
            println!(
                "{:<44} {:<6} {:<8} {:<21} {:<21} {:<21}",
                "kid", "alg", "state", "signs from", "signs until", "published until"
            );
            for k in list {
                let opt = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), rfc3339);
                println!(
                    "{:<44} {:<6} {:<8} {:<21} {:<21} {:<21}",
                    k.kid,
                    k.alg.as_str(),
                    k.state.as_str(),
                    rfc3339(k.activates_at),
                    opt(k.retires_at),
                    opt(k.unpublish_at)
                );
            }
        }
        KeysCommand::Rotate { alg } => {
            let algs = match alg.as_deref() {
                Some("PS256") => vec![SigningAlg::PS256],
                Some("ES256") => vec![SigningAlg::ES256],
                _ => vec![SigningAlg::PS256, SigningAlg::ES256],
            };
            for r in keys.rotate(&algs).await? {
                println!(
                    "{}: new key {} is published now and signs from {}; {} signs until {} and stays published until {}",
                    r.alg.as_str(),
                    r.new_kid,
                    rfc3339(r.activates_at),
                    r.retiring_kid,
                    rfc3339(r.retires_at),
                    rfc3339(r.unpublish_at)
                );
            }
        }
    }
    Ok(())
}

async fn add_user(add: UserAdd, config: Config, clock: SharedClock) -> anyhow::Result<()> {
    let store = serve::open_store(&config).await?;
    let (password, generated) = if add.password_stdin {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .context("reading the password from standard input")?;
        let password = input.lines().next().unwrap_or_default().to_owned();
        anyhow::ensure!(
            password.chars().count() >= 12,
            "the password must have at least 12 characters"
        );
        (password, false)
    } else {
        (
            consentry_server::crypto::random_token()[..20].to_owned(),
            true,
        )
    };
    let hasher = consentry_server::app::App::password_hasher(&config)?;
    let role = if add.role == "operator" {
        Role::Operator
    } else {
        Role::Customer
    };
    let user = User {
        id: consentry_server::crypto::new_id(),
        username: add.username.trim().to_owned(),
        display_name: add.name,
        email: add.email,
        phone: add.phone,
        role,
        password_hash: hasher.hash(&password).await?,
        disabled_at: None,
        created_at: clock.now(),
    };
    anyhow::ensure!(!user.username.is_empty(), "the username cannot be empty");
    store.insert_user(&user).await.map_err(|e| match e {
        consentry_server::store::StoreError::Conflict { .. } => {
            anyhow::anyhow!("username {} is taken", user.username)
        }
        other => other.into(),
    })?;
    println!("added {} {} ({})", role.as_str(), user.username, user.id);
    if generated {
        println!("password: {password}");
        println!("(shown once; it is stored only as an argon2id hash)");
    }
    Ok(())
}

async fn conformance_config(
    args: ConformanceConfigArgs,
    config: Config,
    clock: SharedClock,
) -> anyhow::Result<()> {
    use consentry_conformance::suite_config::{self, ClientMaterial, SuiteConfig};
    let variant = consentry_conformance::plan::Variant::parse(&args.plan)
        .map_err(|e| anyhow::anyhow!("--plan: {e}"))?;
    let suite = args.suite_url.trim_end_matches('/');
    anyhow::ensure!(
        suite.starts_with("https://"),
        "--suite-url must be an https URL"
    );
    let callback = format!("{suite}/test/a/{}/callback", args.alias);
    let redirect_uris = [
        callback.clone(),
        format!("{callback}?dummy1=lorem&dummy2=ipsum"),
    ];
    let store = serve::open_store(&config).await?;
    let pki = consentry_server::tls::local_ca::ensure_local_pki(
        &config.storage.data_dir.join("tls"),
        &[],
        clock.now(),
    )?;
    let tag = &consentry_server::crypto::random_token()[..8];
    let mut clients = Vec::new();
    for n in 1..=2 {
        let client_id = format!("{}-{tag}-{n}", args.alias);
        let id = consentry_server::registration::test_client::new_identity(
            &pki,
            &client_id,
            &format!("Conformance TPP {n}"),
            clock.now(),
        )?;
        let material = ClientMaterial {
            client_id: client_id.clone(),
            private_jwk: id.private_jwk,
            public_jwk: id.public_jwk,
            cert_pem: id.cert_pem,
            key_pem: id.key_pem,
            subject_dn: id.subject_dn,
        };
        let metadata = suite_config::client_metadata(&variant, &material, &redirect_uris);
        register_client(&store, &metadata.to_string(), clock.now()).await?;
        clients.push(material);
    }
    let issuer = config
        .server
        .issuer
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let discovery = format!("{issuer}/.well-known/openid-configuration");
    let json = suite_config::config_json(&SuiteConfig {
        alias: &args.alias,
        discovery_url: &discovery,
        public_base: &issuer,
        clients: [&clients[0], &clients[1]],
        redirect_uris: [&redirect_uris[0], &redirect_uris[1]],
        resource: suite_config::resource(
            &variant,
            config.mtls_base_url().as_str(),
            config.resource_base_url().as_str(),
        ),
        ca_pem: &pki.ca_cert_pem,
        username: &args.username,
        password: &args.password,
        include_server_ca: args.for_harness,
        sms_inbox: args.sms_inbox.as_deref(),
    });
    let text = serde_json::to_string_pretty(&json)? + "\n";
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "registered {} and {}; wrote {}",
                clients[0].client_id,
                clients[1].client_id,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Validates RFC 7591 metadata and registers the client: `client add` and `conformance-config`.
async fn register_client(
    store: &consentry_server::store::Store,
    metadata: &str,
    now: i64,
) -> anyhow::Result<consentry_server::registration::metadata::NewClient> {
    let parsed = ClientMetadata::parse(metadata)
        .and_then(|m| m.validate(Profile::Fapi1Advanced))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let new = new_client(parsed, now).map_err(|e| anyhow::anyhow!("{e}"))?;
    store
        .insert_client(&new.record)
        .await
        .map_err(|e| match e {
            consentry_server::store::StoreError::Conflict { .. } => {
                anyhow::anyhow!("client_id {} is taken", new.record.client_id)
            }
            other => other.into(),
        })?;
    Ok(new)
}

async fn client(cmd: ClientCommand, config: Config, clock: SharedClock) -> anyhow::Result<()> {
    let store = serve::open_store(&config).await?;
    match cmd {
        ClientCommand::Add { metadata } => {
            let text = std::fs::read_to_string(&metadata)
                .with_context(|| format!("cannot read metadata file {}", metadata.display()))?;
            let new = register_client(&store, &text, clock.now()).await?;
            println!("client_id: {}", new.record.client_id);
            println!("profile:   {}", new.record.profile);
            if let Some(secret) = new.secret {
                println!("client_secret: {secret}");
                println!("(shown once; it is stored only as a hash)");
            }
        }
        ClientCommand::List => {
            for c in store.list_clients().await? {
                println!(
                    "{}  {}  {}  {}  {}",
                    c.client_id,
                    c.profile,
                    c.status.as_str(),
                    rfc3339(c.created_at),
                    c.client_name.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}
