//! Enrolment from Rust code, without the command-line tool: open a
//! session on a state directory, enrol, read the report.
//!
//! With no arguments it starts a local Pebble (Debian package `pebble`) and
//! enrols against it; with `DIRECTORY_URL CA_FILE STATE_DIR` it uses that CA.
//!
//! ```text
//! cargo run -p acme-host --features pebble --example enrol
//! ```

use std::net::SocketAddr;

use acme_host::pebble::{free_port, LocalPebble, PebbleOptions};
use acme_host::{HostError, Identifier, OrderSpec, Session, Settings, Trust};

fn enrol(
    directory: &str,
    ca_file: &str,
    state_dir: &str,
    http01: SocketAddr,
) -> Result<(), HostError> {
    let mut settings = Settings::new(directory, state_dir);
    // Verify the CA's TLS certificate with this root only (the default is
    // the system's roots).
    settings.trust = Trust::Only(ca_file.into());
    settings.http01_listen = http01; // the built-in http-01 responder
    settings.contact = vec!["mailto:ops@example.com".into()];

    // Keys and progress live in the state directory (keys mode 0600);
    // rerunning resumes an unfinished enrolment instead of starting over.
    let mut session = Session::open(settings)?;
    let order = OrderSpec::new([Identifier::parse("dns:device.example.test")?]);
    let report = session.enrol(&order, &mut |step| eprintln!("  {step}"))?;

    // The chain was checked against the device key and the identifiers
    // before it was saved.
    println!("certificate: {}", report.path.display());
    println!("names:       {}", report.sans.join(", "));
    println!("issuer:      {}", report.issuer);
    let stats = session.stats();
    println!(
        "{} requests on {} connection(s)",
        stats.requests, stats.connections
    );
    Ok(())
}

fn main() -> Result<(), HostError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [directory, ca_file, state_dir] = &args[..] {
        return enrol(
            directory,
            ca_file,
            state_dir,
            SocketAddr::from(([0, 0, 0, 0], 80)),
        );
    }
    let http01_port = free_port()?;
    let pebble = LocalPebble::start(&PebbleOptions {
        env: vec![("PEBBLE_VA_ALWAYS_VALID".into(), "0".into())],
        http01_port,
        tls_alpn01_port: free_port()?,
        ..PebbleOptions::default()
    })?;
    let state = pebble.dir().join("state");
    enrol(
        &pebble.directory_url,
        &pebble.ca_file.to_string_lossy(),
        &state.to_string_lossy(),
        SocketAddr::from(([127, 0, 0, 1], http01_port)),
    )
}
