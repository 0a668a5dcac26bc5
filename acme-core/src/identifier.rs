//! ACME identifiers: dns names (RFC 8555 §9.7.7) and IP addresses
//! (RFC 8738).

use core::net::IpAddr;

use crate::IdentifierError;

/// The most identifiers one order, CSR or certificate check handles.
pub const MAX_IDENTIFIERS: usize = 8;

/// The longest dns name accepted, in bytes (RFC 1035 §2.3.4).
pub const MAX_DNS_NAME_LEN: usize = 253;

/// Something a certificate is requested for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier<'a> {
    /// A dns name, optionally a wildcard `*.example.com`.
    Dns(&'a str),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

#[cfg(feature = "defmt")]
impl defmt::Format for Identifier<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Identifier::Dns(name) => defmt::write!(f, "dns:{=str}", name),
            Identifier::Ip(IpAddr::V4(a)) => defmt::write!(f, "ip:{=[u8]}", a.octets()),
            Identifier::Ip(IpAddr::V6(a)) => defmt::write!(f, "ip:{=[u8]:x}", a.octets()),
        }
    }
}

impl<'a> Identifier<'a> {
    /// Checks a dns name: 1 to 253 bytes, labels of 1 to 63 letters, digits
    /// or hyphens, with an optional leading `*.` wildcard label.
    ///
    /// ```
    /// use acme_core::{Identifier, IdentifierError};
    ///
    /// let identifier = Identifier::dns("device-17.example")?;
    /// assert_eq!(identifier, Identifier::Dns("device-17.example"));
    /// assert_eq!(Identifier::dns("device 17.example"), Err(IdentifierError::DnsNameCharacter));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`IdentifierError::DnsNameLength`] or
    /// [`IdentifierError::DnsNameCharacter`].
    pub fn dns(name: &'a str) -> Result<Self, IdentifierError> {
        validate_dns_name(name)?;
        Ok(Identifier::Dns(name))
    }

    /// The ACME `type` member: `"dns"` or `"ip"`.
    ///
    /// ```
    /// use core::net::{IpAddr, Ipv4Addr};
    /// use acme_core::Identifier;
    ///
    /// assert_eq!(Identifier::Dns("device-17.example").type_str(), "dns");
    /// assert_eq!(Identifier::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 17))).type_str(), "ip");
    /// ```
    #[must_use]
    pub fn type_str(&self) -> &'static str {
        match self {
            Identifier::Dns(_) => "dns",
            Identifier::Ip(_) => "ip",
        }
    }
}

/// Checks that `name` is an acceptable dns identifier.
///
/// ```
/// use acme_core::identifier::validate_dns_name;
/// use acme_core::IdentifierError;
///
/// assert_eq!(validate_dns_name("device-17.example"), Ok(()));
/// assert_eq!(validate_dns_name("*.example.com"), Ok(())); // a wildcard
/// assert_eq!(validate_dns_name("a..example"), Err(IdentifierError::DnsNameLength));
/// assert_eq!(validate_dns_name("example.com."), Err(IdentifierError::DnsNameLength));
/// assert_eq!(validate_dns_name("a_b.example"), Err(IdentifierError::DnsNameCharacter));
/// assert_eq!(validate_dns_name("a.*.example"), Err(IdentifierError::DnsNameCharacter));
/// ```
///
/// # Errors
/// [`IdentifierError::DnsNameLength`] or [`IdentifierError::DnsNameCharacter`].
pub fn validate_dns_name(name: &str) -> Result<(), IdentifierError> {
    if name.is_empty() || name.len() > MAX_DNS_NAME_LEN {
        return Err(IdentifierError::DnsNameLength);
    }
    let body = name.strip_prefix("*.").unwrap_or(name);
    for label in body.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(IdentifierError::DnsNameLength);
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(IdentifierError::DnsNameCharacter);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(IdentifierError::DnsNameHyphen);
        }
    }
    Ok(())
}

/// Checks a whole identifier list: at least one, at most
/// [`MAX_IDENTIFIERS`], and every dns name valid.
///
/// # Errors
/// The first [`IdentifierError`] found.
pub(crate) fn validate_all(identifiers: &[Identifier<'_>]) -> Result<(), IdentifierError> {
    if identifiers.is_empty() {
        return Err(IdentifierError::None);
    }
    if identifiers.len() > MAX_IDENTIFIERS {
        return Err(IdentifierError::TooMany);
    }
    for identifier in identifiers {
        if let Identifier::Dns(name) = identifier {
            validate_dns_name(name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(Identifier::dns("device.example.com").is_ok());
        assert!(Identifier::dns("*.example.com").is_ok());
        assert!(Identifier::dns("xn--bcher-kva.example").is_ok());
        assert_eq!(Identifier::dns(""), Err(IdentifierError::DnsNameLength));
        assert_eq!(Identifier::dns("a..b"), Err(IdentifierError::DnsNameLength));
        assert_eq!(Identifier::dns("a.b."), Err(IdentifierError::DnsNameLength));
        assert_eq!(
            Identifier::dns("-a.example"),
            Err(IdentifierError::DnsNameHyphen)
        );
        assert_eq!(
            Identifier::dns("a-.example"),
            Err(IdentifierError::DnsNameHyphen)
        );
        assert!(Identifier::dns("a-b.example").is_ok());
        assert_eq!(
            Identifier::dns("a.*.b"),
            Err(IdentifierError::DnsNameCharacter)
        );
        assert_eq!(
            Identifier::dns("a_b.example"),
            Err(IdentifierError::DnsNameCharacter)
        );
        let long_label = [b'a'; 64];
        assert_eq!(
            Identifier::dns(core::str::from_utf8(&long_label).unwrap()),
            Err(IdentifierError::DnsNameLength)
        );
    }

    #[test]
    fn lists() {
        assert_eq!(validate_all(&[]), Err(IdentifierError::None));
        let many = [Identifier::Dns("a.example"); MAX_IDENTIFIERS + 1];
        assert_eq!(validate_all(&many), Err(IdentifierError::TooMany));
        assert_eq!(
            validate_all(&[Identifier::Dns("bad name")]),
            Err(IdentifierError::DnsNameCharacter)
        );
    }
}
