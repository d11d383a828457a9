//! User networks, names and links end to end: containers on one user network reach each
//! other by name, a container on another network reaches neither their names nor their
//! addresses; `network connect`/`disconnect`; `--link` gives Docker's legacy variables and
//! hosts entry; `icc=false` leaves only links. Traffic stays inside kiln's namespaces.

mod network_support;

use network_support::Net;

/// A detached httpd serving `text` at /index.html on port 80.
fn web(net: &Net, args: &[&str], text: &str) -> String {
    let dir = net.rt.k.path("www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), text).unwrap();
    let vol = format!("{}:/www:ro", dir.display());
    let mut a: Vec<&str> = args.to_vec();
    a.extend([
        "-v", &vol, "busybox", "httpd", "-f", "-p", "80", "-h", "/www",
    ]);
    net.run_d(&a)
}

fn fetch(net: &Net, from: &str, target: &str) -> (String, i32) {
    net.exec(
        from,
        &format!("timeout 5 wget -q -O - http://{target}/index.html"),
    )
}

#[test]
fn user_network_names_and_isolation() {
    let net = Net::new();
    net.ok(&["network", "create", "--subnet", "10.214.1.0/24", "front"]);
    net.ok(&["network", "create", "--subnet", "10.214.2.0/24", "back"]);
    let ls = net.ok(&["network", "ls"]);
    assert!(ls.contains("front") && ls.contains("back"), "{ls}");
    let web_id = web(
        &net,
        &[
            "--name",
            "web",
            "--network",
            "front",
            "--network-alias",
            "www",
        ],
        "on front\n",
    );
    let client = net.run_d(&[
        "--name",
        "client",
        "--network",
        "front",
        "busybox",
        "sleep",
        "300",
    ]);
    let other = net.run_d(&[
        "--name",
        "other",
        "--network",
        "back",
        "busybox",
        "sleep",
        "300",
    ]);
    let (body, code) = fetch(&net, &client, "web");
    assert_eq!((body.as_str(), code), ("on front\n", 0));
    assert_eq!(fetch(&net, &client, "www").0, "on front\n");
    // The name in the client's hosts file is the web container's address on `front`.
    let web_ip = net.inspect(&web_id, "{{.NetworkSettings.Networks.front.IPAddress}}");
    assert!(web_ip.starts_with("10.214.1."), "{web_ip}");
    let (hosts, _) = net.exec(&client, "cat /etc/hosts");
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with(&format!("{web_ip}\tweb"))),
        "{hosts}"
    );
    // Another network: neither the name nor the address.
    let (_, code) = fetch(&net, &other, "web");
    assert_ne!(code, 0, "a container on `back` resolved web");
    let (_, code) = fetch(&net, &other, &web_ip);
    assert_ne!(code, 0, "a container on `back` reached web's address");
    // Connected to `front` it reaches web by name; disconnected it does not any more.
    net.ok(&["network", "connect", "front", "other"]);
    assert_eq!(fetch(&net, &other, "web").0, "on front\n");
    let (ifs, _) = net.exec(&other, "ls /sys/class/net");
    assert!(ifs.contains("eth1"), "{ifs}");
    let inspect = net.ok(&["network", "inspect", "front"]);
    assert!(
        inspect.contains("\"other\"") || inspect.contains("other"),
        "{inspect}"
    );
    net.ok(&["network", "disconnect", "front", "other"]);
    let (_, code) = fetch(&net, &other, "web");
    assert_ne!(code, 0, "still reachable after disconnect");
    // A network with containers cannot be removed.
    assert!(net
        .fails(&["network", "rm", "front"])
        .1
        .contains("active endpoints"));
}

#[test]
fn links_give_legacy_variables_and_hosts_entry() {
    let net = Net::new();
    let db = net.run_d(&[
        "--name",
        "db",
        "--expose",
        "5432",
        "-e",
        "DB_USER=kiln",
        "busybox",
        "sleep",
        "300",
    ]);
    let db_ip = net.inspect(&db, "{{.NetworkSettings.IPAddress}}");
    let out = net.ok(&[
        "run",
        "--rm",
        "--link",
        "db:database",
        "busybox",
        "sh",
        "-c",
        "env | sort; cat /etc/hosts",
    ]);
    for want in [
        format!("DATABASE_PORT=tcp://{db_ip}:5432"),
        format!("DATABASE_PORT_5432_TCP_ADDR={db_ip}"),
        "DATABASE_PORT_5432_TCP_PORT=5432".to_string(),
        "DATABASE_PORT_5432_TCP_PROTO=tcp".to_string(),
        "DATABASE_ENV_DB_USER=kiln".to_string(),
    ] {
        assert!(out.lines().any(|l| l == want), "missing {want} in\n{out}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("DATABASE_NAME=/") && l.ends_with("/database")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == format!("{db_ip}\tdatabase db")),
        "{out}"
    );
    // A link to a container that does not exist fails the start.
    let (code, err) = net.fails(&["run", "--rm", "--link", "nosuch:x", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("nosuch"), "{err}");
}

#[test]
fn icc_false_leaves_only_links() {
    let net = Net::new();
    net.ok(&[
        "network",
        "create",
        "--subnet",
        "10.214.3.0/24",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "closed",
    ]);
    let srv = web(&net, &["--name", "srv", "--network", "closed"], "closed\n");
    let srv_ip = net.inspect(&srv, "{{.NetworkSettings.IPAddress}}");
    let stranger = net.run_d(&["--network", "closed", "busybox", "sleep", "300"]);
    let (_, code) = fetch(&net, &stranger, &srv_ip);
    assert_ne!(code, 0, "icc=false let an unlinked container through");
    let friend = net.run_d(&[
        "--network",
        "closed",
        "--link",
        "srv",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(fetch(&net, &friend, &srv_ip).0, "closed\n");
    assert_eq!(fetch(&net, &friend, "srv").0, "closed\n");
}

#[test]
fn default_bridge_icc_false_from_the_environment() {
    let net = Net::new();
    // Like Docker's daemon flag: the setting is stored with the store on first sight.
    let dir = net.rt.k.path("www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "icc off\n").unwrap();
    let vol = format!("{}:/www:ro", dir.display());
    let out = net
        .rt
        .k
        .cmd(&[
            "run", "-d", "--name", "srv", "-v", &vol, "busybox", "httpd", "-f", "-p", "80", "-h",
            "/www",
        ])
        .env("KILN_BRIDGE_ICC", "false")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let srv = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let inspect = net.ok(&["network", "inspect", "bridge"]);
    assert!(
        inspect.contains("\"com.docker.network.bridge.enable_icc\": \"false\""),
        "{inspect}"
    );
    let srv_ip = net.inspect(&srv, "{{.NetworkSettings.IPAddress}}");
    let stranger = net.run_d(&["busybox", "sleep", "300"]);
    assert_ne!(
        fetch(&net, &stranger, &srv_ip).1,
        0,
        "icc=false let traffic through"
    );
    let friend = net.run_d(&["--link", "srv", "busybox", "sleep", "300"]);
    assert_eq!(fetch(&net, &friend, "srv").0, "icc off\n");
}
