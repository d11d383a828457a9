//! The Docker-compatible credential file and the credential-helper protocol, with real files
//! and a real helper program.

use std::os::unix::fs::PermissionsExt;

use kiln_registry::{Credential, CredentialError, CredentialSource, CredentialStore};

fn basic(u: &str, p: &str) -> Credential {
    Credential::Basic {
        username: u.into(),
        password: p.into(),
    }
}

#[test]
fn auths_round_trip_and_keep_other_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"psFormat":"table {{.ID}}","auths":{"other:5000":{"auth":"eDp5"}}}"#,
    )
    .expect("seed");
    let store = CredentialStore::at(&path);
    assert_eq!(
        store
            .store("reg.example:5000", &basic("bob", "pa:ss"))
            .expect("store"),
        CredentialSource::ConfigFile(path.clone())
    );
    store
        .store("docker.io", &basic("hub", "pw"))
        .expect("store hub");

    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    assert_eq!(raw["psFormat"], "table {{.ID}}");
    assert_eq!(raw["auths"]["reg.example:5000"]["auth"], "Ym9iOnBhOnNz"); // base64("bob:pa:ss")
    assert!(
        raw["auths"]["https://index.docker.io/v1/"].is_object(),
        "Docker Hub must use Docker's key: {raw}"
    );
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let got = store.get("reg.example:5000").expect("get").map(|(c, _)| c);
    assert_eq!(got, Some(basic("bob", "pa:ss")));
    assert_eq!(
        store
            .get("index.docker.io")
            .expect("get hub")
            .map(|(c, _)| c),
        Some(basic("hub", "pw"))
    );
    assert_eq!(
        store.get("other:5000").expect("get other").map(|(c, _)| c),
        Some(basic("x", "y"))
    );

    assert!(store.erase("reg.example:5000").expect("erase"));
    assert!(!store.erase("reg.example:5000").expect("erase twice"));
    assert!(store.get("reg.example:5000").expect("get").is_none());
    assert!(store.get("other:5000").expect("other kept").is_some());
}

#[test]
fn missing_file_means_no_logins_and_bad_files_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CredentialStore::at(dir.path().join("absent/config.json"));
    assert!(store.get("reg.example").expect("absent file").is_none());

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").expect("write");
    let err = CredentialStore::at(&bad)
        .get("x")
        .expect_err("bad json accepted");
    assert!(
        matches!(err, CredentialError::Parse { .. }) && err.to_string().contains("bad.json"),
        "{err}"
    );

    let bad_auth = dir.path().join("badauth.json");
    std::fs::write(
        &bad_auth,
        r#"{"auths":{"r.example":{"auth":"!!notbase64"}}}"#,
    )
    .expect("write");
    let err = CredentialStore::at(&bad_auth)
        .get("r.example")
        .expect_err("bad auth accepted");
    assert!(
        matches!(err, CredentialError::BadAuthEntry { .. })
            && err.to_string().contains("r.example"),
        "{err}"
    );
}

#[test]
fn creds_store_helper_stores_gets_and_erases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).expect("mkdir");
    // A file-backed helper: one file per server URL, holding the JSON record.
    let helper = dir.path().join("docker-credential-filestore");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nset -e\nd={secrets}\ncase \"$1\" in\n\
             store) input=$(cat); server=$(printf '%s' \"$input\" | sed 's/.*\"ServerURL\":\"\\([^\"]*\\)\".*/\\1/');\n\
               printf '%s' \"$input\" > \"$d/$(printf '%s' \"$server\" | tr '/:' '__')\" ;;\n\
             get) read -r server || true; f=\"$d/$(printf '%s' \"$server\" | tr '/:' '__')\";\n\
               [ -f \"$f\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}; cat \"$f\" ;;\n\
             erase) read -r server || true; rm -f \"$d/$(printf '%s' \"$server\" | tr '/:' '__')\" ;;\n\
             esac\n",
            secrets = secrets.display()
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().join("config.json");
    std::fs::write(&path, r#"{"credsStore":"filestore"}"#).expect("config");
    let store = CredentialStore::at(&path).with_helper_dir(dir.path());

    assert!(store
        .get("reg.example:5000")
        .expect("empty helper")
        .is_none());
    let source = store
        .store("reg.example:5000", &basic("carol", "pw"))
        .expect("store via helper");
    assert!(matches!(source, CredentialSource::Helper(_)));
    store
        .store("docker.io", &Credential::IdentityToken("refresh".into()))
        .expect("store token");
    // Nothing secret went into the config file.
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        r#"{"credsStore":"filestore"}"#
    );
    assert_eq!(
        store.get("reg.example:5000").expect("get").map(|(c, _)| c),
        Some(basic("carol", "pw"))
    );
    assert_eq!(
        store.get("docker.io").expect("get hub").map(|(c, _)| c),
        Some(Credential::IdentityToken("refresh".into()))
    );
    store.erase("reg.example:5000").expect("erase");
    assert!(store
        .get("reg.example:5000")
        .expect("after erase")
        .is_none());
}

#[test]
fn missing_helper_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.json");
    std::fs::write(&path, r#"{"credHelpers":{"reg.example":"doesnotexist"}}"#).expect("config");
    let err = CredentialStore::at(&path)
        .with_helper_dir(dir.path())
        .get("reg.example")
        .expect_err("missing helper");
    assert!(
        err.to_string().contains("docker-credential-doesnotexist"),
        "{err}"
    );
}
