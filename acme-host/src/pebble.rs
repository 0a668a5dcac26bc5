//! A local Pebble CA (Debian package `pebble`) for the `demo` command and
//! the interop tests: free loopback ports, a fresh test root and
//! `localhost` certificate for its HTTPS, and `pebble-challtestsrv` as its
//! DNS server so any test name resolves to 127.0.0.1.
//!
//! Test support, behind the `pebble` feature: its API may change in any
//! release.

use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use der::Encode as _;
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

use crate::error::HostError;

/// What the local Pebble should look like.
#[derive(Debug, Clone, Default)]
pub struct PebbleOptions {
    /// Extra environment, e.g. `PEBBLE_VA_ALWAYS_VALID=1`.
    pub env: Vec<(String, String)>,
    /// The port Pebble's validator connects to for http-01 (our responder).
    pub http01_port: u16,
    /// The port Pebble's validator connects to for tls-alpn-01.
    pub tls_alpn01_port: u16,
    /// Require External Account Binding with these (kid, base64url key).
    pub eab_keys: Vec<(String, String)>,
    /// Start Pebble with `-strict`.
    pub strict: bool,
    /// Issue certificates valid this many seconds (Pebble's default is 5
    /// years).
    pub certificate_validity_secs: Option<u64>,
    /// Where Pebble's ACME and management interfaces listen (default
    /// 127.0.0.1). `0.0.0.0` serves every interface of the network
    /// namespace, such as the host side of a TAP link to a device.
    pub listen_ip: Option<Ipv4Addr>,
    /// The address every name resolves to for validation (default
    /// 127.0.0.1): where the device's challenge responders are.
    pub challenge_ip: Option<Ipv4Addr>,
    /// Where challtestsrv serves DNS (on port 53) and its management
    /// interface; default 127.0.0.1 on free ports. A device on the other
    /// side of a TAP link can then resolve the CA's name
    /// ([`LocalPebble::add_a`]) and publish dns-01 records through it.
    pub dns_listen_ip: Option<Ipv4Addr>,
    /// Test only: serve HTTPS with a certificate for `localhost` signed by
    /// another leaf of the test root rather than by a CA. Both are
    /// correctly signed; only a client that checks basicConstraints
    /// refuses the chain.
    pub forge_tls_chain_with_a_leaf: bool,
}

/// A running Pebble (and challtestsrv); both are stopped when dropped.
pub struct LocalPebble {
    dir: PathBuf,
    children: Vec<Child>,
    /// The ACME directory URL.
    pub directory_url: String,
    /// The PEM file of the root that signed Pebble's HTTPS certificate:
    /// pass it as the CA file.
    pub ca_file: PathBuf,
    /// Pebble's management interface base URL (roots, intermediates).
    pub management_url: String,
    /// challtestsrv's management interface (host:port, plain HTTP).
    pub challtestsrv: SocketAddr,
    /// Pebble's log file.
    pub log_file: PathBuf,
}

/// A free TCP port on 127.0.0.1.
///
/// # Errors
/// [`HostError::Internal`] when no port can be bound.
pub fn free_port() -> Result<u16, HostError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| HostError::Internal(format!("no free port: {e}")))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

fn x509_time(unix: u64) -> Result<x509_cert::time::Time, HostError> {
    der::asn1::UtcTime::from_unix_duration(Duration::from_secs(unix))
        .map(x509_cert::time::Time::UtcTime)
        .map_err(|e| HostError::Internal(format!("time: {e}")))
}

fn internal(e: impl std::fmt::Display) -> HostError {
    HostError::Internal(format!("test CA: {e}"))
}

/// Makes a test root and a `localhost`/127.0.0.1 leaf it signs; returns
/// (root PEM, leaf PEM, leaf PKCS#8 PEM).
/// A fresh test root and a `localhost` certificate (also `pebble` and
/// 127.0.0.1, as Pebble's own test certificate) for Pebble's HTTPS: the
/// root's PEM, the certificate chain's PEM and the leaf key's PKCS#8 PEM.
///
/// With `forge`, the served certificate is signed by another `localhost`
/// leaf of the root instead (see `PebbleOptions::forge_tls_chain_with_a_leaf`),
/// and the chain holds both.
fn test_tls_certificates(forge: bool) -> Result<(String, String, String), HostError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(internal)?
        .as_secs();
    let validity = Validity {
        not_before: x509_time(now - 3600)?,
        not_after: x509_time(now + 30 * 86_400)?,
    };
    let root_key = SigningKey::random(&mut rand_core::OsRng);
    let root_name: Name = "CN=acme-device test root".parse().map_err(internal)?;
    let root_spki =
        SubjectPublicKeyInfoOwned::from_key(*root_key.verifying_key()).map_err(internal)?;
    let root = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::new(&[1]).map_err(internal)?,
        validity,
        root_name.clone(),
        root_spki,
        &root_key,
    )
    .map_err(internal)?
    .build::<p256::ecdsa::DerSignature>()
    .map_err(internal)?;
    let leaf_key = SigningKey::random(&mut rand_core::OsRng);
    let leaf = localhost_leaf(&leaf_key, root_name, &root_key, 2, validity)?;
    let (served_key, chain) = if forge {
        let forged_key = SigningKey::random(&mut rand_core::OsRng);
        let leaf_name: Name = "CN=localhost".parse().map_err(internal)?;
        let forged = localhost_leaf(&forged_key, leaf_name, &leaf_key, 3, validity)?;
        (forged_key, vec![forged, leaf])
    } else {
        (leaf_key, vec![leaf])
    };
    let mut chain_pem = String::new();
    for certificate in &chain {
        chain_pem.push_str(&pem_of(&certificate.to_der().map_err(internal)?));
    }
    let key = served_key.to_pkcs8_pem(LineEnding::LF).map_err(internal)?;
    Ok((
        pem_of(&root.to_der().map_err(internal)?),
        chain_pem,
        key.to_string(),
    ))
}

/// PEM text of one DER certificate.
fn pem_of(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// A server certificate for `localhost`, `pebble` and 127.0.0.1 holding
/// `key`, issued by `issuer` and signed with `issuer_key`.
fn localhost_leaf(
    key: &SigningKey,
    issuer: Name,
    issuer_key: &SigningKey,
    serial: u8,
    validity: Validity,
) -> Result<x509_cert::Certificate, HostError> {
    let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(internal)?;
    let profile = Profile::Leaf {
        issuer,
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let mut leaf = CertificateBuilder::new(
        profile,
        SerialNumber::new(&[serial]).map_err(internal)?,
        validity,
        "CN=localhost".parse().map_err(internal)?,
        spki,
        issuer_key,
    )
    .map_err(internal)?;
    leaf.add_extension(&SubjectAltName(vec![
        GeneralName::DnsName(der::asn1::Ia5String::new("localhost").map_err(internal)?),
        GeneralName::DnsName(der::asn1::Ia5String::new("pebble").map_err(internal)?),
        GeneralName::IpAddress(der::asn1::OctetString::new(vec![127, 0, 0, 1]).map_err(internal)?),
    ]))
    .map_err(internal)?;
    leaf.add_extension(&ExtendedKeyUsage(vec![const_oid_server_auth()]))
        .map_err(internal)?;
    leaf.build::<p256::ecdsa::DerSignature>().map_err(internal)
}

fn const_oid_server_auth() -> der::asn1::ObjectIdentifier {
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1")
}

fn wait_for_port(
    ip: Ipv4Addr,
    port: u16,
    child: &mut Child,
    log: &Path,
    what: &str,
) -> Result<(), HostError> {
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        if TcpStream::connect((ip, port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut text = String::new();
            let _ = std::fs::File::open(log).and_then(|mut f| f.read_to_string(&mut text));
            return Err(HostError::Internal(format!(
                "{what} exited ({status}):\n{text}"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(HostError::Internal(format!(
        "{what} did not start listening on port {port}"
    )))
}

impl LocalPebble {
    /// Starts challtestsrv and Pebble.
    ///
    /// # Errors
    /// [`HostError::Usage`] when the `pebble` package is missing (with the
    /// command that installs it), [`HostError::Internal`] otherwise.
    pub fn start(options: &PebbleOptions) -> Result<Self, HostError> {
        // The ports are found free, released, then bound by Pebble: another
        // process can take one in between. Try again with fresh ports.
        let mut attempt = 1;
        loop {
            match Self::start_once(options) {
                Err(HostError::Internal(message))
                    if attempt < 4 && message.contains("address already in use") =>
                {
                    log::warn!("a port was taken while Pebble started; retrying");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn start_once(options: &PebbleOptions) -> Result<Self, HostError> {
        let (Some(pebble), Some(challtestsrv)) = (which("pebble"), which("pebble-challtestsrv"))
        else {
            return Err(HostError::Usage(
                "Pebble is not installed: install it with `sudo apt-get install pebble` (Debian package `pebble`, which also provides pebble-challtestsrv)".into(),
            ));
        };
        let dir = std::env::temp_dir().join(format!(
            "acme-device-pebble-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let mut this = Self {
            dir: dir.clone(),
            children: Vec::new(),
            directory_url: String::new(),
            ca_file: dir.join("root.pem"),
            management_url: String::new(),
            challtestsrv: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_file: dir.join("pebble.log"),
        };
        let (root, leaf, key) = test_tls_certificates(options.forge_tls_chain_with_a_leaf)?;
        std::fs::write(&this.ca_file, root).map_err(internal)?;
        std::fs::write(dir.join("cert.pem"), leaf).map_err(internal)?;
        std::fs::write(dir.join("key.pem"), key).map_err(internal)?;

        let dns_ip = options.dns_listen_ip.unwrap_or(Ipv4Addr::LOCALHOST);
        let dns_port = match options.dns_listen_ip {
            Some(_) => 53,
            None => free_port()?,
        };
        let challtest_management = free_port()?;
        this.challtestsrv = SocketAddr::from((dns_ip, challtest_management));
        let challtest_log = dir.join("challtestsrv.log");
        let mut challtest = Command::new(challtestsrv)
            .args([
                "-dns01",
                &format!("{dns_ip}:{dns_port}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("{dns_ip}:{challtest_management}"),
                "-defaultIPv4",
                &options
                    .challenge_ip
                    .unwrap_or(Ipv4Addr::LOCALHOST)
                    .to_string(),
                "-defaultIPv6",
                "",
            ])
            .stdout(Stdio::from(
                std::fs::File::create(&challtest_log).map_err(internal)?,
            ))
            .stderr(Stdio::null())
            .spawn()
            .map_err(internal)?;
        let started = wait_for_port(
            dns_ip,
            challtest_management,
            &mut challtest,
            &challtest_log,
            "pebble-challtestsrv",
        );
        this.children.push(challtest);
        started?;

        let port = free_port()?;
        let management = free_port()?;
        let listen_ip = options.listen_ip.unwrap_or(Ipv4Addr::LOCALHOST);
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": format!("{listen_ip}:{port}"),
            "managementListenAddress": format!("{listen_ip}:{management}"),
            "certificate": dir.join("cert.pem"),
            "privateKey": dir.join("key.pem"),
            "httpPort": options.http01_port,
            "tlsPort": options.tls_alpn01_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": !options.eab_keys.is_empty(),
        }});
        if let Some(secs) = options.certificate_validity_secs {
            config["pebble"]["certificateValidityPeriod"] = serde_json::Value::from(secs);
        }
        if !options.eab_keys.is_empty() {
            let keys: serde_json::Map<String, serde_json::Value> = options
                .eab_keys
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            config["pebble"]["externalAccountMACKeys"] = serde_json::Value::Object(keys);
        }
        let config_path = dir.join("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).map_err(internal)?;
        let mut command = Command::new(pebble);
        command
            .arg("-config")
            .arg(&config_path)
            .arg("-dnsserver")
            .arg(format!("{dns_ip}:{dns_port}"));
        if options.strict {
            command.arg("-strict");
        }
        command.env("PEBBLE_VA_NOSLEEP", "1");
        for (k, v) in &options.env {
            command.env(k, v);
        }
        let log = std::fs::File::create(&this.log_file).map_err(internal)?;
        let log2 = log.try_clone().map_err(internal)?;
        let mut child = command
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(internal)?;
        // Probe where Pebble listens (any local address when it is all).
        let probe_ip = if listen_ip.is_unspecified() {
            Ipv4Addr::LOCALHOST
        } else {
            listen_ip
        };
        let started = wait_for_port(probe_ip, port, &mut child, &this.log_file, "pebble");
        this.children.push(child);
        started?;
        wait_for_port(
            probe_ip,
            management,
            this.children
                .last_mut()
                .ok_or_else(|| internal("no child"))?,
            &this.log_file,
            "pebble management",
        )?;
        this.directory_url = format!("https://localhost:{port}/dir");
        this.management_url = format!("https://localhost:{management}");
        Ok(this)
    }

    /// Adds a TXT record through challtestsrv (what a dns-01 hook does).
    ///
    /// # Errors
    /// [`HostError::Network`] when challtestsrv does not accept it.
    pub fn set_txt(&self, name: &str, value: &str) -> Result<(), HostError> {
        let body = serde_json::json!({"host": fqdn(name), "value": value}).to_string();
        challtest_post(self.challtestsrv, "/set-txt", &body)
    }

    /// Makes challtestsrv answer A queries for `name` with `address`
    /// (every other name resolves to the challenge address).
    ///
    /// # Errors
    /// [`HostError::Network`] when challtestsrv does not accept it.
    pub fn add_a(&self, name: &str, address: Ipv4Addr) -> Result<(), HostError> {
        let body =
            serde_json::json!({"host": fqdn(name), "addresses": [address.to_string()]}).to_string();
        challtest_post(self.challtestsrv, "/add-a", &body)
    }

    /// Removes a TXT record through challtestsrv.
    ///
    /// # Errors
    /// [`HostError::Network`] when challtestsrv does not accept it.
    pub fn clear_txt(&self, name: &str) -> Result<(), HostError> {
        let body = serde_json::json!({"host": fqdn(name)}).to_string();
        challtest_post(self.challtestsrv, "/clear-txt", &body)
    }

    /// The scratch directory of this Pebble.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Downloads root `index` (PEM) from the management interface: the
    /// root the issued chains lead to.
    ///
    /// # Errors
    /// [`HostError::Network`] when the management interface does not
    /// answer with a certificate.
    pub fn root_pem(&self, index: usize) -> Result<String, HostError> {
        let config = crate::tls::client_config(&crate::tls::Trust::Only(self.ca_file.clone()))?;
        let mut transport =
            crate::transport::Transport::new(config, 64 * 1024, Duration::from_secs(10));
        let url = format!("{}/roots/{index}", self.management_url);
        let parsed = acme_core::http::Url::parse(&url)
            .map_err(|e| HostError::Internal(format!("management URL {url}: {e}")))?;
        let mut head = [0u8; 512];
        let n = acme_core::http::write_request_head(
            &mut head,
            acme_core::http::Method::Get,
            &parsed,
            None,
        )
        .map_err(|e| HostError::Internal(format!("request head: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let response =
            transport.round_trip(parsed.host, parsed.port, &head[..n], false, deadline)?;
        if response.status != 200 {
            return Err(HostError::Network(format!(
                "Pebble {url}: status {}",
                response.status
            )));
        }
        String::from_utf8(response.body.to_vec())
            .map_err(|_| HostError::Network(format!("Pebble {url}: not text")))
    }
}

/// `name` with the trailing dot challtestsrv's records are keyed by.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// A plain-HTTP POST to challtestsrv's management interface.
///
/// # Errors
/// [`HostError::Network`].
pub fn challtest_post(addr: SocketAddr, path: &str, body: &str) -> Result<(), HostError> {
    use std::io::Write as _;
    let mut stream =
        TcpStream::connect(addr).map_err(|e| HostError::Network(format!("challtestsrv: {e}")))?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| HostError::Network(format!("challtestsrv: {e}")))?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    if response.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(HostError::Network(format!(
            "challtestsrv {path}: {}",
            response.lines().next().unwrap_or("")
        )))
    }
}

impl Drop for LocalPebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
