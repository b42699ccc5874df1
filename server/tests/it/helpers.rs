//! Test helpers: a running Rampart on port 0 over a fresh database of its own.

use std::time::Duration;

use rollout::{Role, Roles};
use server::{
    auth::accounts::{self, NewAccount},
    config::Config,
    startup::Application,
};
use sqlx::{Connection, PgConnection, PgPool};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub database: String,
    pub database_url: String,
    maintenance_url: String,
}

/// Options for [`spawn_app_with`].
#[derive(Default)]
pub struct Spawn {
    pub demo_data: bool,
    /// Single sign-on through the test OpenID provider (`RAMPART_TEST_OIDC_ISSUER`).
    pub sso: bool,
    /// `RAMPART_PUBLIC_URL`, when people are to reach it elsewhere (behind https, say).
    pub public_url: Option<String>,
    /// `RAMPART_TEST_CLOCK`: [`TestApp::advance_clock`] moves Rampart's clock.
    pub test_clock: bool,
    /// More variables, such as the flag backends'.
    pub env: Vec<(&'static str, String)>,
    /// Another replica over this app's database rather than a database of its own.
    pub replica_of: Option<(String, String)>,
}

/// What `read` gives once `done` holds of it, read again until then, for at most five seconds:
/// a replica hears of a change made through another within moments, not at once.
pub async fn eventually<T: std::fmt::Debug>(
    mut read: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {value:?} after five seconds"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The OpenID provider `make test` starts (end2end/oidc/provider.mjs).
pub fn oidc_issuer() -> String {
    std::env::var("RAMPART_TEST_OIDC_ISSUER").expect(
        "RAMPART_TEST_OIDC_ISSUER must name the test OpenID provider; `make test` starts one and sets it",
    )
}

/// A free port, for a server whose address must be known before it starts (single sign-on's
/// callback is registered by address).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Spawn::default()).await
}

/// With `TEST_LOG` set, the servers' logs go to the test output (shown for failing tests).
fn show_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_test_writer()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
                )
                .try_init();
        }
    });
}

pub async fn spawn_app_with(options: Spawn) -> TestApp {
    show_logs();
    let maintenance_url = maintenance_url();
    let (database, database_url) = match options.replica_of.clone() {
        Some(existing) => existing,
        None => create_database().await,
    };

    let addr = if options.sso {
        format!("127.0.0.1:{}", free_port())
    } else {
        "127.0.0.1:0".to_string()
    };
    let issuer = options.sso.then(oidc_issuer);
    let extra = |name: &str| {
        let found = options.env.iter().find(|(n, _)| *n == name);
        found.map(|(_, value)| value.clone())
    };
    let config = Config::from_lookup(|name| match name {
        name if extra(name).is_some() => extra(name),
        "DATABASE_URL" => Some(database_url.clone()),
        "RAMPART_ADDR" => Some(addr.clone()),
        "RAMPART_OIDC_ISSUER" => issuer.clone(),
        "RAMPART_OIDC_CLIENT_ID" => Some("rampart".to_string()),
        "RAMPART_OIDC_CLIENT_SECRET" => Some("rampart-test-secret".to_string()),
        "RAMPART_OIDC_GROUP_ROLES" => Some(
            "gitlab-org/release-managers=release_manager;gitlab-org/gitaly=engineer".to_string(),
        ),
        "RAMPART_OIDC_SCOPES" => Some("profile groups".to_string()),
        "RAMPART_PUBLIC_URL" => options.public_url.clone(),
        "RAMPART_DEMO_DATA" => Some(options.demo_data.to_string()),
        "RAMPART_DEMO_PASSWORD" => Some(PASSWORD.to_string()),
        "RAMPART_DB_ACQUIRE_TIMEOUT_MS" => Some("1000".to_string()),
        "RAMPART_TEST_CLOCK" => Some(options.test_clock.to_string()),
        _ => None,
    })
    .expect("a valid test configuration");
    let application = Application::build(config)
        .await
        .expect("the application builds");
    let address = format!("http://{}", application.address());
    tokio::spawn(application.run_until_stopped());

    TestApp {
        address,
        client: client(),
        pool: PgPool::connect(&database_url)
            .await
            .expect("connect to the test database"),
        database,
        database_url,
        maintenance_url,
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("a reqwest client")
}

/// The `Set-Cookie` header that carries Rampart's session, whole (attributes included).
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|cookie| cookie.starts_with("rampart_session="))
        .map(str::to_owned)
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// A Rampart running elsewhere (its binary, say) over `database`.
    pub async fn over(address: &str, database: &str, database_url: &str) -> TestApp {
        TestApp {
            address: address.to_owned(),
            client: client(),
            pool: PgPool::connect(database_url)
                .await
                .expect("connect to the test database"),
            database: database.to_owned(),
            database_url: database_url.to_owned(),
            maintenance_url: maintenance_url(),
        }
    }

    /// Adds a password account with these roles.
    pub async fn add_user(&self, username: &str, roles: &[Role]) {
        let account = NewAccount {
            username,
            display_name: username,
            password: PASSWORD,
            roles: &Roles::new(roles.iter().copied()),
        };
        let mut conn = self.pool.acquire().await.expect("a connection");
        accounts::create(&mut conn, &account, "[test]")
            .await
            .expect("the test user is created")
            .expect("the name is free");
    }

    /// Calls the sign-in server function as the hydrated sign-in form does.
    pub async fn sign_in_with(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        client
            .post(format!("{}/api/sign_in", self.address))
            .header("origin", &self.address)
            .header("accept", "application/json")
            .form(&[
                ("username", username),
                ("password", password),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("the request is answered")
    }

    /// Adds a user with these roles and signs this app's client in as them.
    pub async fn sign_in_as(&self, username: &str, roles: &[Role]) {
        self.add_user(username, roles).await;
        let response = self.sign_in_with(&self.client, username, PASSWORD).await;
        assert!(
            response.status().is_success() || response.status().is_redirection(),
            "sign-in failed: {}",
            response.status()
        );
    }

    /// Calls a server function without arguments the way the app's JavaScript does.
    pub async fn call(&self, client: &reqwest::Client, endpoint: &str) -> reqwest::Response {
        self.call_with(client, endpoint, &[]).await
    }

    /// Calls a server function with form arguments the way the app's JavaScript does.
    pub async fn call_with(
        &self,
        client: &reqwest::Client,
        endpoint: &str,
        args: &[(&str, &str)],
    ) -> reqwest::Response {
        client
            .post(format!("{}/api/{endpoint}", self.address))
            .header("origin", &self.address)
            .header("accept", "application/json")
            .form(args)
            .send()
            .await
            .expect("the request is answered")
    }

    /// Moves the app's clock forward (it needs `Spawn { test_clock: true, .. }`).
    pub async fn advance_clock(&self, minutes: i64) {
        let response = self
            .client
            .post(format!("{}/test/clock?minutes={minutes}", self.address))
            .send()
            .await
            .expect("the request is answered");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "the test clock moves"
        );
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the request is answered")
    }

    /// Drops the database under the running app, as if the database server had gone away.
    pub async fn drop_database(&self) {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&self.maintenance_url)
            .await
            .expect("connect");
        sqlx::query(&format!(
            r#"DROP DATABASE "{}" WITH (FORCE)"#,
            self.database
        ))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    }
}

fn maintenance_url() -> String {
    std::env::var("RAMPART_TEST_DATABASE_URL").expect(
        "RAMPART_TEST_DATABASE_URL must name a PostgreSQL maintenance database; `make test` sets it",
    )
}

/// Creates an empty database of a unique name; returns its name and URL.
pub async fn create_database() -> (String, String) {
    let maintenance_url = maintenance_url();
    let database = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&maintenance_url)
        .await
        .expect("connect to the test server");
    sqlx::query(&format!(r#"CREATE DATABASE "{database}""#))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let url = database_url(&maintenance_url, &database);
    (database, url)
}

/// The maintenance URL with its database name replaced.
fn database_url(maintenance_url: &str, database: &str) -> String {
    let (server, _) = maintenance_url
        .rsplit_once('/')
        .expect("a URL with a database name");
    format!("{server}/{database}")
}

/// Rampart's own binary running over a test database, as a separate process: for what only
/// processes can show (one killed mid-work, replicas that share nothing but the database).
/// Dropping it stops it.
pub struct ServerProcess {
    child: std::process::Child,
    pub address: String,
}

impl ServerProcess {
    /// Starts the binary over `database_url` with `env`, and waits until it answers `/readyz`.
    pub async fn start(database_url: &str, env: &[(&str, String)]) -> ServerProcess {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("RAMPART_ADDR", &addr)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server binary starts");
        let process = ServerProcess {
            child,
            address: format!("http://{addr}"),
        };
        for _ in 0..200 {
            let ready = reqwest::get(format!("{}/readyz", process.address)).await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server at {} did not become ready", process.address);
    }

    /// Kills it at once, as a crash would: nothing is finished or cleaned up.
    pub fn kill(mut self) {
        self.child.kill().expect("the server process is killed");
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
