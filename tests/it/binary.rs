//! The real binary: every fault is a one-line error naming its cause with a non-zero exit and
//! nothing overwritten; a kill -9 loses nothing committed; SIGTERM stops gracefully.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_consentry");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A data directory and ports for one server.
struct Env {
    dir: tempfile::TempDir,
    public: u16,
    mtls: u16,
    admin: u16,
    resource: u16,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            public: free_port(),
            mtls: free_port(),
            admin: free_port(),
            resource: free_port(),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CONSENTRY_STORAGE__DATA_DIR", self.data())
            .env(
                "CONSENTRY_SERVER__ISSUER",
                format!("https://localhost:{}", self.public),
            )
            .env(
                "CONSENTRY_SERVER__PUBLIC_ADDR",
                format!("127.0.0.1:{}", self.public),
            )
            .env(
                "CONSENTRY_SERVER__MTLS_ADDR",
                format!("127.0.0.1:{}", self.mtls),
            )
            .env(
                "CONSENTRY_SERVER__ADMIN_ADDR",
                format!("127.0.0.1:{}", self.admin),
            )
            .env(
                "CONSENTRY_SERVER__RESOURCE_ADDR",
                format!("127.0.0.1:{}", self.resource),
            )
            .env("CONSENTRY_LOGIN__ARGON2_MEMORY_KIB", "64")
            .env("CONSENTRY_LOGIN__ARGON2_ITERATIONS", "1")
            .env("CONSENTRY_KEYS__CACHE_SECS", "0")
            .env("RUST_LOG", "warn");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts `consentry serve` and returns once it has printed that it is ready.
    fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.starts_with("Consentry is ready");
                    seen.push(line);
                    if ready {
                        break;
                    }
                }
                _ => {
                    let out = child.wait_with_output().unwrap();
                    panic!(
                        "server exited before ready: {seen:?} {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            banner: seen.join("\n"),
            ca: self.data().join("tls/ca.crt"),
            public: self.public,
            mtls: self.mtls,
            admin: self.admin,
        }
    }
}

struct Server {
    child: Child,
    banner: String,
    ca: PathBuf,
    public: u16,
    mtls: u16,
    admin: u16,
}

impl Server {
    fn client(&self) -> reqwest::blocking::Client {
        let ca = std::fs::read(&self.ca).unwrap();
        reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap()
    }

    fn jwks(&self) -> serde_json::Value {
        self.client()
            .get(format!("https://localhost:{}/jwks", self.public))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error line the binary printed: one line, starting `error: `.
fn one_error_line(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    lines[0].to_owned()
}

fn kids(jwks: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k
}

fn provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[test]
fn demo_serves_then_survives_kill_9_with_the_same_keys_and_data() {
    provider();
    let env = Env::new();
    let server = env.serve(&["--demo"]);
    assert!(
        server.banner.contains("Demo bank seeded."),
        "{}",
        server.banner
    );
    assert!(
        server.banner.contains("alice") && server.banner.contains("demo-tpp"),
        "{}",
        server.banner
    );
    assert!(
        server.banner.contains("One-time codes (SCA)"),
        "without a gateway the demo prints codes: {}",
        server.banner
    );
    for f in [
        "tpp-private-jwks.json",
        "tpp-client.crt",
        "tpp-client.key",
        "ca.crt",
    ] {
        assert!(env.data().join("demo").join(f).exists(), "{f}");
    }
    let before = server.jwks();
    assert_eq!(before["keys"].as_array().unwrap().len(), 2);

    // The demo TPP's certificate completes an mTLS handshake and reaches the handler.
    let demo = env.data().join("demo");
    let pem = [
        std::fs::read(demo.join("tpp-client.crt")).unwrap(),
        std::fs::read(demo.join("tpp-client.key")).unwrap(),
    ]
    .concat();
    let tpp = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&server.ca).unwrap()).unwrap(),
        )
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let seen: serde_json::Value = tpp
        .get(format!(
            "https://localhost:{}/tls/client-certificate",
            server.mtls
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        seen["subject"].as_str().unwrap().contains("Demo TPP"),
        "{seen}"
    );

    // A user added while the server runs is committed; kill -9 loses nothing.
    let mut add = env.command(&[
        "user",
        "add",
        "--username",
        "gina",
        "--name",
        "Gina Example",
        "--password-stdin",
    ]);
    let mut child = add
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"gina-long-password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    server.signal("-KILL");
    drop(server);

    let again = env.serve(&["--demo"]);
    assert!(again.banner.contains("already present"), "{}", again.banner);
    assert_eq!(
        kids(&again.jwks()),
        kids(&before),
        "the same keys after a restart"
    );
    let dup = env.run(&["user", "add", "--username", "gina", "--name", "G"]);
    assert!(one_error_line(&dup).contains("gina is taken"));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    provider();
    let env = Env::new();
    let mut server = env.serve(&[]);
    assert_eq!(
        reqwest::blocking::get(format!("http://127.0.0.1:{}/readyz", server.admin))
            .unwrap()
            .status(),
        200
    );
    server.signal("-TERM");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "graceful exit: {status}");
}

#[test]
fn a_port_in_use_is_named_and_nothing_is_created() {
    let mut env = Env::new();
    // Take a port the system hands out now, rather than one `free_port` released earlier that
    // another test's server may have taken since.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    env.mtls = taken.local_addr().unwrap().port();
    let out = env.run(&["serve"]);
    let line = one_error_line(&out);
    assert!(
        line.contains(&format!("127.0.0.1:{}", env.mtls)) && line.contains("server.mtls_addr"),
        "{line}"
    );
    assert!(!env.data().exists(), "nothing created when a port is taken");
}

#[test]
fn a_bad_configuration_value_names_its_key() {
    let env = Env::new();
    let out = env
        .command(&["config", "check"])
        .env("CONSENTRY_TOKENS__ACCESS_TOKEN_SECS", "soon")
        .output()
        .unwrap();
    assert!(one_error_line(&out).contains("tokens.access_token_secs"));
    std::fs::write(env.dir.path().join("consentry.toml"), "[server\n").unwrap();
    let out = env.run(&["config", "check"]);
    assert!(one_error_line(&out).contains("consentry.toml"));
}

#[test]
fn config_check_redacts_secrets_and_reports_unknown_keys() {
    let env = Env::new();
    std::fs::write(
        env.dir.path().join("consentry.toml"),
        "[keys]\nmaster_key = \"super-secret-value\"\n[server]\ncolour = \"blue\"\n",
    )
    .unwrap();
    let out = env.run(&["config", "check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("super-secret-value"), "{text}");
    assert!(
        text.contains("[redacted]") && text.contains("unknown key (ignored): server.colour"),
        "{text}"
    );
}

#[test]
fn a_wrong_or_missing_master_key_refuses_to_start_and_keeps_the_keys() {
    provider();
    let env = Env::new();
    let server = env.serve(&[]);
    let before = kids(&server.jwks());
    server.signal("-KILL");
    drop(server);
    let key_file = env.data().join("master.key");
    let good = std::fs::read(&key_file).unwrap();

    std::fs::write(&key_file, "not a key at all\n").unwrap();
    let line = one_error_line(&env.run(&["serve"]));
    assert!(line.contains("master.key"), "{line}");

    std::fs::write(&key_file, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n").unwrap();
    let line = one_error_line(&env.run(&["serve"]));
    assert!(line.contains("does not match"), "{line}");

    std::fs::remove_file(&key_file).unwrap();
    let line = one_error_line(&env.run(&["serve"]));
    assert!(
        line.contains("master.key") && line.contains("missing"),
        "{line}"
    );
    assert!(
        !key_file.exists(),
        "no key silently generated over existing data"
    );

    std::fs::write(&key_file, good).unwrap();
    let server = env.serve(&[]);
    assert_eq!(kids(&server.jwks()), before);
}

#[test]
fn unreadable_certificate_files_are_named() {
    let env = Env::new();
    let out = env
        .command(&["serve"])
        .env("CONSENTRY_TLS__CERT_FILE", "/nonexistent/server.crt")
        .env("CONSENTRY_TLS__KEY_FILE", "/nonexistent/server.key")
        .output()
        .unwrap();
    assert!(one_error_line(&out).contains("/nonexistent/server.crt"));
}

#[test]
fn an_unreachable_database_is_one_line() {
    let env = Env::new();
    let out = env
        .command(&["migrate"])
        .env(
            "CONSENTRY_STORAGE__DATABASE_URL",
            format!(
                "postgres://consentry:pw@127.0.0.1:{}/consentry",
                free_port()
            ),
        )
        .output()
        .unwrap();
    let line = one_error_line(&out);
    assert!(line.contains("storage.database_url"), "{line}");
    assert!(!line.contains(":pw@"), "no password in messages: {line}");
}

#[test]
fn keys_rotate_publishes_the_next_key_before_it_signs() {
    provider();
    let env = Env::new();
    let server = env.serve(&[]);
    let before = kids(&server.jwks());
    let out = env.run(&["keys", "rotate", "--alg", "ES256"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = kids(&server.jwks());
    assert_eq!(
        after.len(),
        3,
        "the next ES256 key is published at once: {after:?}"
    );
    assert!(
        before.iter().all(|k| after.contains(k)),
        "the current keys stay published"
    );
    let list = String::from_utf8_lossy(&env.run(&["keys", "list"]).stdout).into_owned();
    assert!(list.contains("next") && list.contains("active"), "{list}");
    let again = env.run(&["keys", "rotate", "--alg", "ES256"]);
    assert!(
        !again.status.success(),
        "a second rotation while one is pending is refused"
    );
}

#[test]
fn clients_are_registered_from_metadata_files() {
    let env = Env::new();
    let file = env.dir.path().join("tpp.json");
    std::fs::write(
        &file,
        r#"{"client_id":"tpp-a","client_name":"TPP A","redirect_uris":["https://tpp-a.example/cb"],
            "token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=tpp-a,O=TPP A,C=GB"}"#,
    )
    .unwrap();
    let out = env.run(&["client", "add", "--metadata", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("client_id: tpp-a"));
    let list = String::from_utf8_lossy(&env.run(&["client", "list"]).stdout).into_owned();
    assert!(
        list.contains("tpp-a") && list.contains("fapi1-advanced"),
        "{list}"
    );
    assert!(
        one_error_line(&env.run(&["client", "add", "--metadata", file.to_str().unwrap()]))
            .contains("taken")
    );

    std::fs::write(
        &file,
        r#"{"redirect_uris":["http://insecure.example/cb"],"jwks":{"keys":[{"kty":"EC"}]}}"#,
    )
    .unwrap();
    assert!(
        one_error_line(&env.run(&["client", "add", "--metadata", file.to_str().unwrap()]))
            .contains("invalid_redirect_uri")
    );
}

#[test]
fn help_explains_every_command() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["keys", "rotate", "--help"],
        &["client", "add", "--help"],
        &["config", "check", "--help"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).len() > 100, "{args:?}");
    }
    let _ = Path::new(BIN);
}

/// The real binary serves; `consentry conformance-config` registers two clients and writes the
/// suite's config; the harness runs a whole FAPI 2 plan-variant against the running process.
#[test]
fn the_harness_passes_against_the_real_binary_with_a_generated_config() {
    provider();
    let env = Env::new();
    let _server = env.serve(&["--demo"]);
    let config_path = env.dir.path().join("suite.json");
    let plan = "fapi2-security-profile-final[client_auth_type=private_key_jwt][sender_constrain=mtls][openid=openid_connect][fapi_profile=plain_fapi]";
    let out = env.run(&[
        "conformance-config",
        "--plan",
        plan,
        "--alias",
        "ci",
        "--suite-url",
        "https://tpp.example/",
        "--for-harness",
        "--out",
        config_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert_eq!(
        json["client"]["redirect_uri"],
        "https://tpp.example/test/a/ci/callback"
    );
    assert_eq!(
        json["client2"]["redirect_uri"],
        "https://tpp.example/test/a/ci/callback?dummy1=lorem&dummy2=ipsum"
    );
    assert!(
        json["client"]["jwks"]["keys"][0]["d"].is_string(),
        "the suite gets the private key"
    );
    assert!(
        json["mtls"]["cert"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let list = String::from_utf8_lossy(&env.run(&["client", "list"]).stdout).into_owned();
    assert!(
        list.contains("ci-") && list.contains("fapi2-security"),
        "{list}"
    );

    let config: consentry_conformance::config::Config = serde_json::from_value(json).unwrap();
    let variant = consentry_conformance::plan::Variant::parse(plan).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reports = runtime.block_on(consentry_conformance::report::run(
        &config, &variant, None, 4,
    ));
    let verdict = consentry_conformance::report::verdict(&variant, &reports, &[]);
    println!("{}", verdict.lines.join("\n"));
    assert!(reports.len() > 20, "the plan ran its modules");
    assert!(verdict.ok, "{}", verdict.lines.join("\n"));
}
