//! After a full scenario (networks, containers, links, published ports, icc=false), the
//! host's links, named network namespaces and nftables ruleset are exactly as before.
//! Its own test binary, so no other test of this crate runs meanwhile.

mod common;

use common::{
    exclusive_host, tcp_roundtrip, unique, Env, HostSnapshot, LeakCheck, Netns, NsServer,
};
use kiln_network::ports::parse_publish;
use kiln_network::PortProxy;

#[test]
fn host_is_as_before_after_a_full_scenario() {
    let _host = exclusive_host();
    let before = HostSnapshot::take();
    {
        let leak = LeakCheck::new(&unique());
        let env = Env::new(&leak, "10.213.50.0/24");
        let user = env.network("u", "10.213.51.0/24", |_| {});
        let strict = env.network("s", "10.213.52.0/24", |r| r.icc = false);
        let a = Netns::new(&format!("{}a", leak.prefix));
        let b = Netns::new(&format!("{}b", leak.prefix));
        let ip_a = env
            .attach(&a, &user.name, |r| r.hosts_file = Some(a.hosts_file()))
            .endpoint
            .ip;
        env.attach(&b, &user.name, |r| r.hosts_file = Some(b.hosts_file()));
        env.attach(&b, &strict.name, |_| {});
        env.attach(&a, "", |_| {});
        assert!(b.ping(&a.name));
        let _srv = NsServer::tcp_echo(&a.path, 80);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let proxy = rt
            .block_on(PortProxy::start(
                &parse_publish("127.0.0.1::80").unwrap(),
                ip_a.into(),
            ))
            .unwrap();
        let port = proxy.bindings()[0].host_port;
        assert_eq!(tcp_roundtrip(([127, 0, 0, 1], port).into(), b"x"), b"x");
        assert_ne!(
            HostSnapshot::take(),
            before,
            "the scenario should have changed the host"
        );
    }
    before.assert_unchanged();
}
