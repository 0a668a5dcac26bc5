//! The JSON bodies of ACME requests, streamed by the JSON writer.

use core::net::IpAddr;

use crate::csr::stream_csr;
use crate::eab::ExternalAccountBinding;
use crate::identifier::Identifier;
use crate::json::{JsonPayload, JsonWriter};
use crate::sink::Base64UrlSink;
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

/// Writes an IP address in its RFC 5952 / dotted form as a JSON string.
fn write_ip(out: &mut JsonWriter<'_>, addr: &IpAddr) {
    struct Text {
        buf: [u8; 48],
        len: usize,
    }
    impl core::fmt::Write for Text {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.len + s.len();
            let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
            dst.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
    let mut text = Text {
        buf: [0; 48],
        len: 0,
    };
    // An IP address is at most 45 characters: this cannot fail.
    let _ = core::fmt::write(&mut text, format_args!("{addr}"));
    out.raw(b"\"");
    out.raw(text.buf.get(..text.len).unwrap_or(&[]));
    out.raw(b"\"");
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
