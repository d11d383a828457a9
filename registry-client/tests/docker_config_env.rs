//! `DOCKER_CONFIG` picks the config directory, as in Docker. Its own test binary: it sets a
//! process-wide environment variable.

use kiln_registry::CredentialStore;

#[test]
fn docker_config_env_overrides_the_home_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::env::set_var("DOCKER_CONFIG", dir.path());
    assert_eq!(
        CredentialStore::from_env().path(),
        dir.path().join("config.json")
    );
    std::env::remove_var("DOCKER_CONFIG");
    std::env::set_var("HOME", dir.path());
    assert_eq!(
        CredentialStore::from_env().path(),
        dir.path().join(".docker/config.json")
    );
}
