//! Address allocation inside a network's subnet. Pure functions over the set of addresses
//! in use; persistence comes from the endpoints stored in the state file.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    #[error("no free address left in {subnet}; remove unused containers or create the network with a larger --subnet")]
    Exhausted { subnet: Ipv4Net },
    #[error("requested address {ip} is not in the network's subnet {subnet}")]
    OutOfSubnet { ip: Ipv4Addr, subnet: Ipv4Net },
    #[error("requested address {ip} is already in use on {subnet}; pick another --ip")]
    InUse { ip: Ipv4Addr, subnet: Ipv4Net },
    #[error(
        "requested address {ip} is reserved in {subnet} (network, broadcast or gateway address)"
    )]
    Reserved { ip: Ipv4Addr, subnet: Ipv4Net },
    #[error("gateway {gateway} is not a usable host address of {subnet}")]
    BadGateway { gateway: Ipv4Addr, subnet: Ipv4Net },
    #[error("subnet {subnet} is too small for containers: it needs a prefix of /30 or shorter")]
    TooSmall { subnet: Ipv4Net },
}

/// The first and last usable host addresses (network and broadcast excluded).
fn host_range(subnet: &Ipv4Net) -> Result<(u32, u32), IpamError> {
    if subnet.prefix_len() > 30 {
        return Err(IpamError::TooSmall { subnet: *subnet });
    }
    let first = u32::from(subnet.network()) + 1;
    let last = u32::from(subnet.broadcast()) - 1;
    Ok((first, last))
}

/// Docker's choice: the first host address of the subnet.
pub fn default_gateway(subnet: &Ipv4Net) -> Result<Ipv4Addr, IpamError> {
    Ok(Ipv4Addr::from(host_range(subnet)?.0))
}

/// Checks that `gateway` is a usable host address of `subnet`.
pub fn check_gateway(subnet: &Ipv4Net, gateway: Ipv4Addr) -> Result<(), IpamError> {
    let (first, last) = host_range(subnet)?;
    let g = u32::from(gateway);
    if g < first || g > last {
        return Err(IpamError::BadGateway {
            gateway,
            subnet: *subnet,
        });
    }
    Ok(())
}

/// Picks an address: `requested` when given and free, otherwise the next free one after
/// `last` (wrapping around), so freed addresses are reused only once the range is used up.
pub fn allocate(
    subnet: &Ipv4Net,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
    last: Option<Ipv4Addr>,
    requested: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    let (first, end) = host_range(subnet)?;
    if let Some(ip) = requested {
        if !subnet.contains(&ip) {
            return Err(IpamError::OutOfSubnet {
                ip,
                subnet: *subnet,
            });
        }
        let n = u32::from(ip);
        if n < first || n > end || ip == gateway {
            return Err(IpamError::Reserved {
                ip,
                subnet: *subnet,
            });
        }
        if used.contains(&ip) {
            return Err(IpamError::InUse {
                ip,
                subnet: *subnet,
            });
        }
        return Ok(ip);
    }
    let size = end - first + 1;
    let start = match last.map(u32::from) {
        Some(l) if l >= first && l < end => l + 1,
        _ => first,
    };
    for i in 0..size {
        let candidate = Ipv4Addr::from(first + (start - first + i) % size);
        if candidate != gateway && !used.contains(&candidate) {
            return Ok(candidate);
        }
    }
    Err(IpamError::Exhausted { subnet: *subnet })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn skips_gateway_and_goes_round_robin() {
        let n = net("10.9.0.0/29"); // hosts .1 - .6
        let gw = default_gateway(&n).unwrap();
        assert_eq!(gw, Ipv4Addr::new(10, 9, 0, 1));
        let mut used = BTreeSet::new();
        let a = allocate(&n, gw, &used, None, None).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 9, 0, 2));
        used.insert(a);
        let b = allocate(&n, gw, &used, Some(a), None).unwrap();
        assert_eq!(b, Ipv4Addr::new(10, 9, 0, 3));
        // Releasing .2 does not make it the next pick while later addresses are free.
        used.remove(&a);
        used.insert(b);
        let c = allocate(&n, gw, &used, Some(b), None).unwrap();
        assert_eq!(c, Ipv4Addr::new(10, 9, 0, 4));
    }

    #[test]
    fn exhausts_then_reuses_released() {
        let n = net("10.9.0.0/30"); // hosts .1 (gateway) and .2
        let gw = default_gateway(&n).unwrap();
        let mut used = BTreeSet::new();
        let a = allocate(&n, gw, &used, None, None).unwrap();
        used.insert(a);
        assert_eq!(
            allocate(&n, gw, &used, Some(a), None),
            Err(IpamError::Exhausted { subnet: n })
        );
        used.remove(&a);
        assert_eq!(allocate(&n, gw, &used, Some(a), None).unwrap(), a);
    }

    #[test]
    fn static_requests_are_checked() {
        let n = net("10.9.0.0/24");
        let gw = Ipv4Addr::new(10, 9, 0, 1);
        let used: BTreeSet<_> = [Ipv4Addr::new(10, 9, 0, 5)].into();
        let ok = allocate(&n, gw, &used, None, Some(Ipv4Addr::new(10, 9, 0, 77))).unwrap();
        assert_eq!(ok, Ipv4Addr::new(10, 9, 0, 77));
        assert!(matches!(
            allocate(&n, gw, &used, None, Some(Ipv4Addr::new(10, 9, 0, 5))),
            Err(IpamError::InUse { .. })
        ));
        assert!(matches!(
            allocate(&n, gw, &used, None, Some(gw)),
            Err(IpamError::Reserved { .. })
        ));
        assert!(matches!(
            allocate(&n, gw, &used, None, Some(Ipv4Addr::new(10, 9, 0, 255))),
            Err(IpamError::Reserved { .. })
        ));
        assert!(matches!(
            allocate(&n, gw, &used, None, Some(Ipv4Addr::new(10, 8, 0, 5))),
            Err(IpamError::OutOfSubnet { .. })
        ));
    }

    #[test]
    fn gateway_and_size_checks() {
        assert!(matches!(
            default_gateway(&net("10.0.0.0/31")),
            Err(IpamError::TooSmall { .. })
        ));
        assert!(check_gateway(&net("10.0.0.0/24"), Ipv4Addr::new(10, 0, 0, 254)).is_ok());
        assert!(check_gateway(&net("10.0.0.0/24"), Ipv4Addr::new(10, 0, 0, 0)).is_err());
        assert!(check_gateway(&net("10.0.0.0/24"), Ipv4Addr::new(10, 0, 1, 1)).is_err());
    }
}
