//! Addressing: subnets, CIDRs and address ranges.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::defaults;

/// Subnets and names shared by every host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// DNS domain the hosts live under (`name.domain` is each host's FQDN).
    pub domain: String,
    /// The subnet every host address, the API VIP and MetalLB's pool sit in.
    pub node_subnet: Cidr,
    /// Pod network (Calico IP pool).
    #[serde(default = "default_pod_subnet")]
    pub pod_subnet: Cidr,
    /// Service ClusterIP range.
    #[serde(default = "default_service_subnet")]
    pub service_subnet: Cidr,
    /// In-cluster DNS domain.
    #[serde(default = "default_cluster_domain")]
    pub cluster_domain: String,
}

fn default_pod_subnet() -> Cidr {
    Cidr::parse_const(defaults::CALICO_POD_CIDR)
}
fn default_service_subnet() -> Cidr {
    Cidr::parse_const(defaults::SERVICE_CIDR)
}
fn default_cluster_domain() -> String {
    defaults::CLUSTER_DOMAIN.to_owned()
}

/// An IP network in CIDR notation (`10.77.0.0/24`). Kept as written: `10.77.0.1/24` is not
/// silently turned into `10.77.0.0/24`, so validation can point at the host bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr(pub IpNet);

/// A string that is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a CIDR such as 10.0.0.0/24")]
pub struct CidrError(pub String);

impl Cidr {
    /// Parses a compile-time constant; the constants in `defaults` are valid by construction.
    fn parse_const(s: &str) -> Cidr {
        match s.parse::<IpNet>() {
            Ok(net) => Cidr(net.trunc()),
            Err(_) => Cidr(IpNet::default()),
        }
    }

    /// Whether `addr` lies inside this network.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&addr)
    }

    /// Whether the address has bits set beyond the prefix (`10.77.0.1/24`).
    pub fn has_host_bits(&self) -> bool {
        self.0.addr() != self.0.network()
    }

    /// The network with host bits cleared (`10.77.0.1/24` -> `10.77.0.0/24`).
    pub fn network(&self) -> Cidr {
        Cidr(self.0.trunc())
    }

    /// Whether two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.0.contains(&other.0.network()) || other.0.contains(&self.0.network())
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<IpNet>()
            .map(Cidr)
            .map_err(|_| CidrError(s.to_owned()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Cidr {
    fn schema_name() -> Cow<'static, str> {
        "Cidr".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An IP network in CIDR notation, e.g. 10.77.0.0/24",
            "pattern": "^[0-9a-fA-F:.]+/[0-9]{1,3}$"
        })
    }
}

/// An inclusive address range `first-last`, or a CIDR, as MetalLB pools write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRange {
    /// First address in the range.
    pub first: IpAddr,
    /// Last address in the range (inclusive).
    pub last: IpAddr,
}

impl IpRange {
    /// Whether `addr` lies in the range.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.first <= addr && addr <= self.last
    }
}

impl FromStr for IpRange {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CidrError(s.to_owned());
        if let Some((a, b)) = s.split_once('-') {
            let first: IpAddr = a.trim().parse().map_err(|_| bad())?;
            let last: IpAddr = b.trim().parse().map_err(|_| bad())?;
            if first.is_ipv4() != last.is_ipv4() || first > last {
                return Err(bad());
            }
            Ok(IpRange { first, last })
        } else {
            let net: Cidr = s.parse()?;
            Ok(IpRange {
                first: net.0.network(),
                last: net.0.broadcast(),
            })
        }
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl Serialize for IpRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for IpRange {
    fn schema_name() -> Cow<'static, str> {
        "IpRange".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An inclusive address range `first-last` or a CIDR"
        })
    }
}
