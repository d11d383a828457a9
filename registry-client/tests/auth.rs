//! Registry auth against a real `docker-registry`: htpasswd Basic and Bearer token auth, with
//! credentials given directly, from a Docker config file and through a credential helper.

mod common;

use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;
use common::token::{TokenIssuer, REFRESH_TOKEN};
use common::{config, Auth, Registry, TestImage};
use kiln_registry::manifest::OCI_MANIFEST;
use kiln_registry::ReferenceExt;
use kiln_registry::{
    ClientConfig, Credential, CredentialSource, CredentialStore, Platform, PlatformExt, Reference,
    RegistryClient, RegistryError,
};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pw";

fn basic(user: &str, password: &str) -> Credential {
    Credential::Basic {
        username: user.into(),
        password: password.into(),
    }
}

async fn push(
    client: &RegistryClient,
    r: &Reference,
    img: &TestImage,
) -> Result<(), RegistryError> {
    client.push_blobs(&r.repo(), &img.blobs(), None).await?;
    client
        .put_manifest(r, OCI_MANIFEST, Bytes::from(img.manifest.clone()))
        .await
        .map(|_| ())
}

/// `err` is a 401 after trying credentials from `source`.
#[track_caller]
fn assert_unauthorized_as(err: &RegistryError, source: CredentialSource) {
    match err {
        RegistryError::Unauthorized(f) => assert_eq!(f.source_used, source, "{err}"),
        other => panic!("expected Unauthorized with {source:?}, got {other}"),
    }
}

/// A registry behind htpasswd Basic auth for `USER`.
fn htpasswd_registry() -> Registry {
    Registry::start(Auth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    })
}

/// A client that sends `cred` to `host`.
fn client_with(host: &str, cred: Credential) -> RegistryClient {
    let client = RegistryClient::new(config());
    client.set_credential(host, cred);
    client
}

/// A client reading logins from `store`.
fn client_reading(store: CredentialStore) -> RegistryClient {
    RegistryClient::new(ClientConfig {
        credentials: Some(store),
        ..config()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_basic_auth() {
    let reg = htpasswd_registry();
    let r = Reference::parse(&format!("{}/private/app:1", reg.host())).expect("ref");
    let img = TestImage::new(20, &[4096]);

    let anonymous = RegistryClient::new(config());
    let err = push(&anonymous, &r, &img)
        .await
        .expect_err("anonymous push accepted");
    assert_unauthorized_as(&err, CredentialSource::Anonymous);
    let msg = err.to_string();
    assert!(
        msg.contains(&reg.host()) && msg.contains("private/app") && msg.contains("kiln login"),
        "{msg}"
    );

    let wrong = client_with(&reg.host(), basic(USER, "wrong"));
    let err = push(&wrong, &r, &img)
        .await
        .expect_err("wrong password accepted");
    assert_unauthorized_as(&err, CredentialSource::Explicit);

    let right = client_with(&reg.host(), basic(USER, PASSWORD));
    push(&right, &r, &img).await.expect("push with credentials");

    // The same login read from a Docker config file.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CredentialStore::at(dir.path().join("config.json"));
    store
        .store(&reg.host(), &basic(USER, PASSWORD))
        .expect("store login");
    let from_file = client_reading(store);
    let resolved = from_file
        .resolve(&r, &Platform::linux_amd64())
        .await
        .expect("pull with config file login");
    assert_eq!(resolved.manifest.layers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_helper_supplies_the_login() {
    let reg = htpasswd_registry();
    let r = Reference::parse(&format!("{}/helped/app:1", reg.host())).expect("ref");
    let dir = tempfile::tempdir().expect("tempdir");
    // A helper speaking the docker-credential-helper protocol, logging the server it was asked for.
    let helper = dir.path().join("docker-credential-kilntest");
    let log = dir.path().join("helper.log");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread -r server\necho \"$1 $server\" >> {log}\n[ \"$1\" = get ] || exit 0\n\
             [ \"$server\" = \"{host}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n",
            log = log.display(),
            host = reg.host()
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config_file = dir.path().join("config.json");
    std::fs::write(
        &config_file,
        format!(r#"{{"credHelpers":{{"{}":"kilntest"}}}}"#, reg.host()),
    )
    .expect("config");
    let store = CredentialStore::at(&config_file).with_helper_dir(dir.path());

    let (cred, source) = store
        .get(&reg.host())
        .expect("helper get")
        .expect("helper has a login");
    assert_eq!(cred, basic(USER, PASSWORD));
    assert!(
        matches!(&source, CredentialSource::Helper(p) if p.contains("docker-credential-kilntest"))
    );
    assert!(store
        .get("other.example")
        .expect("other registry")
        .is_none());

    let client = client_reading(store);
    push(&client, &r, &TestImage::new(21, &[100]))
        .await
        .expect("push with helper login");
    let calls = std::fs::read_to_string(&log).expect("helper log");
    assert!(calls.contains(&format!("get {}", reg.host())), "{calls}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_anonymous_pull_and_authenticated_push() {
    let issuer = TokenIssuer::start(USER, PASSWORD, true);
    let reg = Registry::start(issuer.auth());
    let r = Reference::parse(&format!("{}/tok/app:1", reg.host())).expect("ref");
    let img = TestImage::new(22, &[3000, 4000, 5000]);

    let pusher = client_with(&reg.host(), basic(USER, PASSWORD));
    push(&pusher, &r, &img).await.expect("push with token");
    // One token for the push scope serves every HEAD, POST, PUT and the manifest.
    assert_eq!(issuer.requests(), 1, "tokens were not reused");

    let anonymous = RegistryClient::new(config());
    let resolved = anonymous
        .resolve(&r, &Platform::linux_amd64())
        .await
        .expect("anonymous pull");
    for layer in &resolved.manifest.layers {
        anonymous
            .fetch_blob(&r.repo(), layer, &mut Vec::new())
            .await
            .expect("anonymous blob");
    }
    assert_eq!(
        issuer.requests(),
        2,
        "anonymous pull should need exactly one token"
    );

    let err = push(
        &anonymous,
        &Reference::parse(&format!("{}/tok/other:1", reg.host())).expect("ref"),
        &img,
    )
    .await
    .expect_err("anonymous push accepted");
    assert_unauthorized_as(&err, CredentialSource::Anonymous);
    assert!(
        err.to_string().contains("repository:tok/other:pull,push"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_wrong_password_and_identity_token() {
    let issuer = TokenIssuer::start(USER, PASSWORD, false);
    let reg = Registry::start(issuer.auth());
    let r = Reference::parse(&format!("{}/tok/app:1", reg.host())).expect("ref");

    let wrong = client_with(&reg.host(), basic(USER, "nope"));
    let err = wrong
        .resolve(&r, &Platform::linux_amd64())
        .await
        .expect_err("wrong password accepted");
    assert_unauthorized_as(&err, CredentialSource::Explicit);
    assert!(
        err.to_string().contains("invalid username or password"),
        "{err}"
    );

    // An OAuth2 refresh token (Docker's identitytoken) from a config file.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CredentialStore::at(dir.path().join("config.json"));
    store
        .store(
            &reg.host(),
            &Credential::IdentityToken(REFRESH_TOKEN.into()),
        )
        .expect("store token");
    let client = client_reading(store);
    push(&client, &r, &TestImage::new(23, &[10]))
        .await
        .expect("push with identity token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_login_accepts_good_and_rejects_bad_credentials() {
    let reg = htpasswd_registry();
    let issuer = TokenIssuer::start(USER, PASSWORD, false);
    let tok = Registry::start(issuer.auth());
    for host in [reg.host(), tok.host()] {
        let good = client_with(&host, basic(USER, PASSWORD));
        good.check_login(&host).await.expect("good login refused");
        let bad = client_with(&host, basic(USER, "bad"));
        let err = bad
            .check_login(&host)
            .await
            .expect_err("bad login accepted");
        assert_unauthorized_as(&err, CredentialSource::Explicit);
        assert!(err.to_string().contains(&host), "{err}");
    }
}
