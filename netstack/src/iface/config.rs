//! The interface's IPv4 configuration and its kernel command-line form
//! (`ip=10.0.2.15/24 gw=10.0.2.2`).

use core::fmt;

use crate::wire::Ipv4Address;

/// A static IPv4 configuration: the address, the on-link prefix and the default gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Config {
    /// Our address.
    pub address: Ipv4Address,
    /// The length of the on-link prefix (0..=32).
    pub prefix_len: u8,
    /// The default gateway, for destinations off the prefix.
    pub gateway: Option<Ipv4Address>,
}

/// Why a command line was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `ip=` without a `/prefix`.
    MissingPrefix,
    /// The address after `ip=` or `gw=` is not a dotted quad.
    BadAddress,
    /// The prefix is not a number in 0..=32.
    BadPrefix,
    /// The address is not one a host may hold (unspecified, broadcast, multicast).
    NotUnicast,
    /// The gateway is not on the configured prefix.
    GatewayOffLink,
    /// `gw=` without `ip=`.
    GatewayWithoutAddress,
    /// `ip=` or `gw=` appears twice.
    Duplicate,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::MissingPrefix => "ip= needs a prefix length (ip=10.0.2.15/24)",
            ConfigError::BadAddress => "not an IPv4 address (a.b.c.d)",
            ConfigError::BadPrefix => "the prefix length must be a number from 0 to 32",
            ConfigError::NotUnicast => "the address must be unicast",
            ConfigError::GatewayOffLink => "the gateway is not on the interface's prefix",
            ConfigError::GatewayWithoutAddress => "gw= given without ip=",
            ConfigError::Duplicate => "ip= or gw= given twice",
        })
    }
}

impl core::error::Error for ConfigError {}

impl Ipv4Config {
    /// The prefix as a mask.
    pub fn netmask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n.min(32))),
        }
    }

    /// Whether `addr` is on the interface's prefix (reachable without the gateway).
    pub fn is_on_link(&self, addr: Ipv4Address) -> bool {
        (addr.to_bits() ^ self.address.to_bits()) & self.netmask() == 0
    }

    /// The prefix's directed broadcast address (none for /31 and /32, RFC 3021).
    pub fn subnet_broadcast(&self) -> Option<Ipv4Address> {
        (self.prefix_len < 31)
            .then(|| Ipv4Address::from_bits(self.address.to_bits() | !self.netmask()))
    }

    /// Whether `addr` is a broadcast address on this interface (limited or directed).
    pub fn is_broadcast(&self, addr: Ipv4Address) -> bool {
        addr.is_broadcast() || Some(addr) == self.subnet_broadcast()
    }
}

fn parse_addr(s: &str) -> Result<Ipv4Address, ConfigError> {
    s.parse().map_err(|_| ConfigError::BadAddress)
}

/// Reads `ip=ADDR/PREFIX` and `gw=ADDR` among the whitespace-separated words of a kernel command
/// line; other words are ignored. `Ok(None)` when there is no `ip=`, or `ip=dhcp`: the caller
/// then uses DHCP.
pub fn parse_cmdline(cmdline: &str) -> Result<Option<Ipv4Config>, ConfigError> {
    let mut ip = None;
    let mut gw = None;
    let mut dhcp = false;
    for word in cmdline.split_ascii_whitespace() {
        if let Some(v) = word.strip_prefix("ip=") {
            if ip.is_some() || dhcp {
                return Err(ConfigError::Duplicate);
            }
            if v == "dhcp" {
                dhcp = true;
                continue;
            }
            let (addr, prefix) = v.split_once('/').ok_or(ConfigError::MissingPrefix)?;
            let address = parse_addr(addr)?;
            let prefix_len: u8 = prefix.parse().map_err(|_| ConfigError::BadPrefix)?;
            if prefix_len > 32 {
                return Err(ConfigError::BadPrefix);
            }
            if !address.is_unicast() {
                return Err(ConfigError::NotUnicast);
            }
            ip = Some((address, prefix_len));
        } else if let Some(v) = word.strip_prefix("gw=") {
            if gw.is_some() {
                return Err(ConfigError::Duplicate);
            }
            gw = Some(parse_addr(v)?);
        }
    }
    let Some((address, prefix_len)) = ip else {
        return match gw {
            Some(_) => Err(ConfigError::GatewayWithoutAddress),
            None => Ok(None),
        };
    };
    let config = Ipv4Config {
        address,
        prefix_len,
        gateway: gw,
    };
    if let Some(g) = gw {
        if !g.is_unicast() {
            return Err(ConfigError::NotUnicast);
        }
        if !config.is_on_link(g) {
            return Err(ConfigError::GatewayOffLink);
        }
    }
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_address_prefix_and_gateway() {
        let c = parse_cmdline("console=ttyS0 ip=10.0.2.15/24 gw=10.0.2.2 quiet")
            .unwrap()
            .unwrap();
        assert_eq!(c.address, Ipv4Address::new(10, 0, 2, 15));
        assert_eq!(c.prefix_len, 24);
        assert_eq!(c.gateway, Some(Ipv4Address::new(10, 0, 2, 2)));
        assert!(c.is_on_link(Ipv4Address::new(10, 0, 2, 200)));
        assert!(!c.is_on_link(Ipv4Address::new(10, 0, 3, 1)));
        assert_eq!(c.subnet_broadcast(), Some(Ipv4Address::new(10, 0, 2, 255)));
        let c = parse_cmdline("ip=192.168.1.2/32").unwrap().unwrap();
        assert_eq!((c.gateway, c.subnet_broadcast()), (None, None));
        let c = parse_cmdline("ip=192.168.1.2/0").unwrap().unwrap();
        assert!(c.is_on_link(Ipv4Address::new(8, 8, 8, 8)));
    }

    #[test]
    fn no_ip_word_is_none() {
        assert_eq!(parse_cmdline(""), Ok(None));
        assert_eq!(parse_cmdline("console=hvc0 ipx=1"), Ok(None));
        assert_eq!(parse_cmdline("ip=dhcp quiet"), Ok(None));
    }

    #[test]
    fn errors_are_reported_not_panicked() {
        use ConfigError::*;
        for (line, err) in [
            ("ip=10.0.2.15", MissingPrefix),
            ("ip=10.0.2/24", BadAddress),
            ("ip=10.0.2.15/33", BadPrefix),
            ("ip=10.0.2.15/", BadPrefix),
            ("ip=10.0.2.15/-1", BadPrefix),
            ("ip=10.0.2.15/999999999999", BadPrefix),
            ("ip=0.0.0.0/8", NotUnicast),
            ("ip=224.0.0.1/4", NotUnicast),
            ("ip=10.0.2.15/24 gw=10.0.3.1", GatewayOffLink),
            ("ip=10.0.2.15/24 gw=x", BadAddress),
            ("gw=10.0.2.2", GatewayWithoutAddress),
            ("ip=10.0.2.15/24 ip=10.0.2.16/24", Duplicate),
            ("ip=dhcp ip=10.0.2.16/24", Duplicate),
            ("ip=dhcp gw=10.0.2.2", GatewayWithoutAddress),
            ("ip=10.0.2.15/24 gw=10.0.2.2 gw=10.0.2.2", Duplicate),
            ("ip=/24", BadAddress),
            ("ip=\u{e9}\u{e9}/\u{e9}", BadAddress),
        ] {
            assert_eq!(parse_cmdline(line), Err(err), "{line}");
        }
    }
}
