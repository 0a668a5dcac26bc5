//! The JSON bodies of ACME requests, streamed by the JSON writer.

use core::net::{IpAddr, Ipv4Addr};

use crate::csr::stream_csr;
use crate::eab::ExternalAccountBinding;
use crate::http::put_decimal;
use crate::identifier::Identifier;
use crate::json::{JsonPayload, JsonWriter};
use crate::sink::{Base64UrlSink, Sink};
use crate::{Error, Es256Signer};

/// newAccount (RFC 8555 §7.3).
pub(crate) struct NewAccount<'a> {
    pub(crate) contact: &'a [&'a str],
    pub(crate) terms_of_service_agreed: bool,
    pub(crate) only_return_existing: bool,
    pub(crate) eab: Option<ExternalAccountBinding<'a>>,
}

impl JsonPayload for NewAccount<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        if self.only_return_existing {
            out.raw(b"{\"onlyReturnExisting\":true}");
            return Ok(());
        }
        out.raw(b"{");
        let mut first = true;
        if !self.contact.is_empty() {
            write_contact(out, self.contact);
            first = false;
        }
        if self.terms_of_service_agreed {
            if !first {
                out.raw(b",");
            }
            out.raw(b"\"termsOfServiceAgreed\":true");
            first = false;
        }
        if let Some(eab) = &self.eab {
            if !first {
                out.raw(b",");
            }
            out.key("externalAccountBinding");
            eab.write_json(out)?;
        }
        out.raw(b"}");
        Ok(())
    }
}

fn write_contact(out: &mut JsonWriter<'_>, contact: &[&str]) {
    out.key("contact");
    out.raw(b"[");
    for (i, c) in contact.iter().enumerate() {
        if i > 0 {
            out.raw(b",");
        }
        out.string(c);
    }
    out.raw(b"]");
}

/// An account update: `{"contact":[…]}`.
pub(crate) struct ContactUpdate<'a>(pub(crate) &'a [&'a str]);

impl JsonPayload for ContactUpdate<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        out.raw(b"{");
        write_contact(out, self.0);
        out.raw(b"}");
        Ok(())
    }
}

/// `{"status":"deactivated"}` for accounts and authorizations.
pub(crate) struct Deactivate;

impl JsonPayload for Deactivate {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        out.raw(b"{\"status\":\"deactivated\"}");
        Ok(())
    }
}

/// `{}`: the challenge response (RFC 8555 §7.5.1).
pub(crate) struct EmptyObject;

impl JsonPayload for EmptyObject {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        out.raw(b"{}");
        Ok(())
    }
}

/// newOrder (RFC 8555 §7.4), with RFC 9773's `replaces` and `profile`.
pub(crate) struct NewOrder<'a> {
    pub(crate) identifiers: &'a [Identifier<'a>],
    pub(crate) not_before: Option<&'a str>,
    pub(crate) not_after: Option<&'a str>,
    pub(crate) profile: Option<&'a str>,
    pub(crate) replaces: Option<&'a str>,
}

impl JsonPayload for NewOrder<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        out.raw(b"{\"identifiers\":[");
        for (i, id) in self.identifiers.iter().enumerate() {
            if i > 0 {
                out.raw(b",");
            }
            out.raw(b"{\"type\":\"");
            out.raw(id.type_str().as_bytes());
            out.raw(b"\",\"value\":");
            match id {
                Identifier::Dns(name) => out.string(name),
                Identifier::Ip(addr) => write_ip(out, addr),
            }
            out.raw(b"}");
        }
        out.raw(b"]");
        for (name, value) in [
            ("notBefore", self.not_before),
            ("notAfter", self.not_after),
            ("profile", self.profile),
            ("replaces", self.replaces),
        ] {
            if let Some(value) = value {
                out.raw(b",");
                out.key(name);
                out.string(value);
            }
        }
        out.raw(b"}");
        Ok(())
    }
}

/// Writes an IP address as a JSON string, in the form `core`'s `Display`
/// gives (dotted decimal; RFC 5952 for IPv6: lowercase hex without leading
/// zeros, the first longest run of two or more zero groups as `::`, an
/// IPv4-mapped address as `::ffff:a.b.c.d`), written digit by digit:
/// `Display` would bring `core::fmt` into a device's image (1.7 KB of the
/// core's enrolment, 3.3 KB of the board firmware).
fn write_ip(out: &mut JsonWriter<'_>, addr: &IpAddr) {
    out.raw(b"\"");
    match addr {
        IpAddr::V4(v4) => write_ipv4(out.sink(), v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => {
                out.raw(b"::ffff:");
                write_ipv4(out.sink(), &v4);
            }
            None => write_ipv6(out.sink(), &v6.segments()),
        },
    }
    out.raw(b"\"");
}

fn write_ipv4(sink: &mut dyn Sink, addr: &Ipv4Addr) {
    for (i, octet) in addr.octets().into_iter().enumerate() {
        if i > 0 {
            sink.put(b".");
        }
        put_decimal(sink, u64::from(octet));
    }
}

fn write_ipv6(sink: &mut dyn Sink, groups: &[u16; 8]) {
    // The first longest run of zero groups; `::` stands for it when it is
    // two groups or more.
    let (mut run_start, mut run_len) = (0, 0);
    let mut current = 0;
    for (i, &group) in groups.iter().enumerate() {
        current = if group == 0 { current + 1 } else { 0 };
        if current > run_len {
            (run_start, run_len) = (i + 1 - current, current);
        }
    }
    let put_groups = |sink: &mut dyn Sink, groups: &[u16]| {
        for (i, &group) in groups.iter().enumerate() {
            if i > 0 {
                sink.put(b":");
            }
            put_hex(sink, group);
        }
    };
    match (groups.get(..run_start), groups.get(run_start + run_len..)) {
        (Some(head), Some(tail)) if run_len > 1 => {
            put_groups(sink, head);
            sink.put(b"::");
            put_groups(sink, tail);
        }
        _ => put_groups(sink, groups),
    }
}

/// Writes `value` in lowercase hex without leading zeros.
fn put_hex(sink: &mut dyn Sink, value: u16) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let nibble = usize::from((value >> shift) & 0xf);
        started |= nibble != 0 || shift == 0;
        if started {
            sink.put(DIGITS.get(nibble..=nibble).unwrap_or(b"0"));
        }
    }
}

/// finalize (RFC 8555 §7.4): `{"csr":"<base64url DER>"}`, the CSR streamed
/// straight into the JWS without a buffer of its own.
pub(crate) struct Finalize<'a> {
    pub(crate) device_key: &'a dyn Es256Signer,
    pub(crate) identifiers: &'a [Identifier<'a>],
    pub(crate) common_name: Option<&'a str>,
}

impl JsonPayload for Finalize<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        out.raw(b"{\"csr\":\"");
        let mut b64 = Base64UrlSink::new(out.sink());
        stream_csr(
            &mut b64,
            self.device_key,
            self.identifiers,
            self.common_name,
        )?;
        b64.finish();
        out.raw(b"\"}");
        Ok(())
    }
}

/// revokeCert (RFC 8555 §7.6).
pub(crate) struct Revoke<'a> {
    pub(crate) certificate_der: &'a [u8],
    pub(crate) reason: Option<u8>,
}

impl JsonPayload for Revoke<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        out.raw(b"{\"certificate\":\"");
        let mut text = Base64UrlSink::new(out.sink());
        crate::sink::Sink::put(&mut text, self.certificate_der);
        text.finish();
        out.raw(b"\"");
        if let Some(reason) = self.reason {
            out.raw(b",\"reason\":");
            let digits = [b'0' + reason / 10 % 10, b'0' + reason % 10];
            let skip = usize::from(reason < 10);
            out.raw(digits.get(skip..).unwrap_or(&digits));
        }
        out.raw(b"}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::sink::SliceSink;
    use core::net::Ipv6Addr;

    fn written(addr: IpAddr) -> std::string::String {
        let mut buf = [0u8; 64];
        let mut sink = SliceSink::new(&mut buf);
        write_ip(&mut JsonWriter::new(&mut sink), &addr);
        std::string::String::from_utf8(sink.finish().unwrap().to_vec()).unwrap()
    }

    /// Every address is written as `core`'s `Display` writes it, quoted.
    #[test]
    fn ip_text_matches_display() {
        let mut addrs: std::vec::Vec<IpAddr> = std::vec::Vec::new();
        // Every pattern of zero and non-zero groups, with values that test
        // each hex digit count.
        for mask in 0u32..256 {
            for value in [1u16, 0xa, 0x10, 0xff, 0x100, 0xabc, 0x1000, 0xffff] {
                let groups: [u16; 8] =
                    core::array::from_fn(|i| if mask & (1 << i) != 0 { value } else { 0 });
                addrs.push(IpAddr::V6(Ipv6Addr::from(groups)));
            }
        }
        // IPv4, IPv4-mapped and IPv4-compatible addresses.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let v4 = Ipv4Addr::from((next() >> 16) as u32);
            addrs.push(IpAddr::V4(v4));
            addrs.push(IpAddr::V6(v4.to_ipv6_mapped()));
            addrs.push(IpAddr::V6(v4.to_ipv6_compatible()));
            addrs.push(IpAddr::V6(Ipv6Addr::from(
                u128::from(next()) << 64 | u128::from(next()),
            )));
        }
        for v4 in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::LOCALHOST,
        ] {
            addrs.push(IpAddr::V4(v4));
        }
        for addr in addrs {
            assert_eq!(written(addr), std::format!("\"{addr}\""), "{:?}", addr);
        }
        assert_eq!(written(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), "\"::\"");
        assert_eq!(written(IpAddr::V6(Ipv6Addr::LOCALHOST)), "\"::1\"");
        assert_eq!(
            written("2001:db8:0:0:1:0:0:1".parse().unwrap()),
            "\"2001:db8::1:0:0:1\"" // the first of two equal runs
        );
        assert_eq!(
            written("2001:db8:0:1:1:1:1:1".parse().unwrap()),
            "\"2001:db8:0:1:1:1:1:1\""
        );
    }
}
