//! Names on user networks end to end (issue 9): `kiln rename` changes the name peers resolve
//! (the new one works, the old one no longer does), and network aliases are scoped to one
//! network: `--network-alias` to the network named by `--network`, `network connect --alias`
//! to that network, none on the default bridge. Traffic stays inside kiln's namespaces.

mod network_support;

use network_support::Net;

/// `ARGS` plus a busybox httpd serving `text` at /index.html on port 80.
fn httpd_args(net: &Net, args: &[&str], text: &str) -> Vec<String> {
    let dir = net.rt.k.path("www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), text).unwrap();
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.push("-v".into());
    a.push(format!("{}:/www:ro", dir.display()));
    for w in ["busybox", "httpd", "-f", "-p", "80", "-h", "/www"] {
        a.push(w.into());
    }
    a
}

fn ok(net: &Net, args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    net.ok(&a).trim().to_string()
}

/// A detached sleeper on `network`.
fn sleeper(net: &Net, name: &str, network: &str) -> String {
    net.run_d(&[
        "--name",
        name,
        "--network",
        network,
        "busybox",
        "sleep",
        "300",
    ])
}

fn fetch(net: &Net, from: &str, target: &str) -> (String, i32) {
    net.exec(
        from,
        &format!("timeout 5 wget -q -O - http://{target}/index.html"),
    )
}

/// Every name in the container's /etc/hosts (the words after each address).
fn host_names(net: &Net, id: &str) -> Vec<String> {
    let (text, code) = net.exec(id, "cat /etc/hosts");
    assert_eq!(code, 0, "cat /etc/hosts in {id}");
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace().skip(1).map(String::from))
        .collect()
}

fn has(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n == name)
}

#[test]
fn rename_changes_the_name_peers_resolve() {
    let net = Net::new();
    net.ok(&["network", "create", "--subnet", "10.214.21.0/24", "ren"]);
    let web = ok(
        &net,
        &httpd_args(
            &net,
            &["run", "-d", "--name", "old", "--network", "ren"],
            "renamed\n",
        ),
    );
    let client = sleeper(&net, "client", "ren");
    assert_eq!(fetch(&net, &client, "old"), ("renamed\n".into(), 0));

    net.ok(&["rename", "old", "new"]);
    // Peers reach the new name at once, and the old one is gone from their hosts file.
    assert_eq!(fetch(&net, &client, "new"), ("renamed\n".into(), 0));
    let (_, code) = fetch(&net, &client, "old");
    assert_ne!(code, 0, "the old name still resolves after rename");
    let names = host_names(&net, &client);
    assert!(has(&names, "new") && !has(&names, "old"), "{names:?}");
    // The renamed container's own entries follow too.
    let own = host_names(&net, &web);
    assert!(has(&own, "new") && !has(&own, "old"), "{own:?}");
    // `network inspect` shows the new name.
    let inspect = net.ok(&["network", "inspect", "ren"]);
    assert!(inspect.contains("\"Name\": \"new\""), "{inspect}");
    assert!(!inspect.contains("\"Name\": \"old\""), "{inspect}");

    // A clash changes nothing anywhere.
    let (code, err) = net.fails(&["rename", "new", "client"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("already in use"), "{err}");
    assert!(has(&host_names(&net, &client), "new"));

    // A stopped container is renamed in its record and joins under the new name.
    net.ok(&[
        "create",
        "--name",
        "napper",
        "--network",
        "ren",
        "busybox",
        "sleep",
        "300",
    ]);
    net.ok(&["rename", "napper", "dozer"]);
    net.ok(&["start", "dozer"]);
    let names = host_names(&net, &client);
    assert!(has(&names, "dozer") && !has(&names, "napper"), "{names:?}");
}

#[test]
fn network_aliases_are_scoped_to_their_network() {
    let net = Net::new();
    net.ok(&["network", "create", "--subnet", "10.214.22.0/24", "one"]);
    let two_id = net
        .ok(&["network", "create", "--subnet", "10.214.23.0/24", "two"])
        .trim()
        .to_string();
    // Both networks are joined at start: `--network-alias` was given with `--network one`,
    // `--alias` with the connect to `two`.
    ok(
        &net,
        &httpd_args(
            &net,
            &[
                "create",
                "--name",
                "svc",
                "--network",
                "one",
                "--network-alias",
                "svc-one",
            ],
            "svc\n",
        ),
    );
    net.ok(&["network", "connect", "--alias", "svc-two", "two", "svc"]);
    // Before the start, inspect lists the networks to join with their own aliases.
    let wanted = net.inspect(
        "svc",
        "{{json .NetworkSettings.Networks.one.Aliases}} {{json .NetworkSettings.Networks.two.Aliases}}",
    );
    assert_eq!(wanted, "[\"svc-one\"] [\"svc-two\"]");
    net.ok(&["start", "svc"]);
    let p1 = sleeper(&net, "p1", "one");
    let p2 = sleeper(&net, "p2", "two");

    let check = |when: &str| {
        assert_eq!(fetch(&net, &p1, "svc-one"), ("svc\n".into(), 0), "{when}");
        assert_eq!(fetch(&net, &p2, "svc-two"), ("svc\n".into(), 0), "{when}");
        assert_eq!(fetch(&net, &p1, "svc").1, 0, "{when}");
        assert_eq!(fetch(&net, &p2, "svc").1, 0, "{when}");
        let n1 = host_names(&net, &p1);
        assert!(
            !has(&n1, "svc-two"),
            "{when}: net two's alias on one: {n1:?}"
        );
        let n2 = host_names(&net, &p2);
        assert!(
            !has(&n2, "svc-one"),
            "{when}: net one's alias on two: {n2:?}"
        );
        let (_, code) = fetch(&net, &p2, "svc-one");
        assert_ne!(code, 0, "{when}: svc-one resolved on two");
        assert_eq!(
            net.inspect("svc", "{{json .NetworkSettings.Networks.one.Aliases}}"),
            "[\"svc-one\"]",
            "{when}"
        );
        assert_eq!(
            net.inspect("svc", "{{json .NetworkSettings.Networks.two.Aliases}}"),
            "[\"svc-two\"]",
            "{when}"
        );
        assert_eq!(
            net.inspect("svc", "{{.NetworkSettings.Networks.two.NetworkID}}"),
            two_id,
            "{when}"
        );
        let dns = net.inspect("svc", "{{json .NetworkSettings.Networks.two.DNSNames}}");
        assert!(dns.starts_with("[\"svc\",\"svc-two\","), "{when}: {dns}");
    };
    check("first start");
    // The scoping is kept in the container's configuration for later starts.
    net.ok(&["restart", "-t", "1", "svc"]);
    check("after restart");

    // The default bridge has no names, so no aliases either.
    let b = net.run_d(&["--network-alias", "bee", "busybox", "sleep", "300"]);
    assert_eq!(
        net.inspect(
            &b,
            "{{json .NetworkSettings.Networks.bridge.Aliases}} {{json .NetworkSettings.Networks.bridge.DNSNames}}"
        ),
        "[] null"
    );
}
