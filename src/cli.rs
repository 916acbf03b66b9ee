//! The command line as clap parses it: raw types only. Commands turn these into checked
//! values (names, ports, paths) before anything touches the disk.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::KeyType;
use crate::docker::pull::PullPolicy;

#[derive(Debug, Parser)]
#[command(
    name = "ohproxy",
    version,
    about = "OpenHands behind nginx with HTTPS from a local CA"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The config file [default: config.toml in the user's config directory, or under
    /// OHPROXY_HOME]
    #[arg(long, global = true, env = "OHPROXY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only warnings and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Explain what is being done (-vv for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the config, create the local CA, and say how to trust it
    Init(InitArgs),
    /// Issue leaf certificates from the local CA, named as mkcert names them
    Cert(CertArgs),
    /// Show, export, trust or replace the local CA
    #[command(subcommand)]
    Ca(CaCommand),
    /// Render the site file, or apply it to nginx safely
    #[command(subcommand)]
    Nginx(NginxCommand),
    /// Set up whatever is missing (config, CA, leaf), converge the OpenHands container,
    /// apply nginx, and print the URL
    Up(UpArgs),
    /// Stop and remove the OpenHands container; its state dir is kept
    Down(DownArgs),
    /// The container, its match with the config, the URL, certificate expiry and nginx
    Status(StatusArgs),
    /// Check the whole path a browser takes, from the config to a WebSocket through nginx
    Doctor(DoctorArgs),
    /// Keep nginx's /runtime/<port>/ routes in step with the running OpenHands sandboxes
    Watch(WatchArgs),
    /// Users and passwords for access.mode = "password"
    #[command(subcommand)]
    User(UserCommand),
    /// Client certificates for access.mode = "client-cert"
    #[command(subcommand)]
    Client(ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user, or set a new password for an existing one
    Add(UserAddArgs),
    /// Remove a user
    Remove(NameArg),
    /// List the users
    List,
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The user name (no ':', no control characters)
    pub name: String,
    /// Generate a strong password and print it, instead of asking for one
    #[arg(long)]
    pub generate: bool,
}

#[derive(Debug, Args)]
pub struct NameArg {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ClientAddArgs {
    pub name: String,
    /// Encrypt the bundle with 3DES and a SHA-1 MAC, which Apple's importers (iPhone, iPad,
    /// the macOS Keychain) open when they refuse the AES-256 default
    #[arg(long)]
    pub legacy: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Issue a client certificate and write it as a PKCS#12 bundle with a new password
    Add(ClientAddArgs),
    /// Revoke a client certificate: nginx refuses it from the next apply on
    Revoke(NameArg),
    /// List the client certificates
    List,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The name clients open, e.g. openhands.home.arpa
    #[arg(long, value_name = "NAME")]
    pub domain: Option<String>,
    /// An extra name or IP address for the certificate (repeatable)
    #[arg(long = "name", value_name = "NAME|IP")]
    pub names: Vec<String>,
    /// Add this machine's LAN addresses to the certificate
    #[arg(long)]
    pub lan: bool,
    /// The HTTPS port nginx listens on [default: 443]
    #[arg(long, value_name = "PORT")]
    pub https_port: Option<u16>,
    /// The HTTP port that redirects to HTTPS [default: 80]
    #[arg(long, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// The port OpenHands is published on, on 127.0.0.1 [default: 3000]
    #[arg(long, value_name = "PORT")]
    pub app_port: Option<u16>,
    /// Key type of a new CA
    #[arg(long, value_enum, value_name = "TYPE", default_value_t = KeyType::EcdsaP256)]
    pub ca_key_type: KeyType,
    /// Adopt an existing mkcert CA from this directory instead of creating one
    #[arg(long, value_name = "DIR", conflicts_with = "mkcert_ca")]
    pub caroot: Option<PathBuf>,
    /// Adopt the CA of the installed mkcert (`mkcert -CAROOT`)
    #[arg(long)]
    pub mkcert_ca: bool,
    /// Who may reach OpenHands [default: password]
    #[arg(long, value_enum, value_name = "MODE")]
    pub access: Option<crate::access::AccessMode>,
    /// Overwrite an existing config file (never the CA)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CertArgs {
    /// Names and IP addresses [default: the configured domain and names]
    #[arg(value_name = "NAME|IP")]
    pub names: Vec<String>,
    /// Directory for the files [default: the state dir's certs/]
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Key type of the leaf [default: from the config, else ecdsa-p256]
    #[arg(long, value_enum, value_name = "TYPE")]
    pub key_type: Option<KeyType>,
    /// Validity in days, at most 825 [default: from the config, else 397]
    #[arg(long, value_name = "DAYS")]
    pub days: Option<u32>,
    /// A client certificate (clientAuth) instead of a server one
    #[arg(long)]
    pub client: bool,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Print the CA directory
    Path,
    /// Print the CA's subject, validity and SHA-256 fingerprint
    Show,
    /// Print the CA certificate (PEM, or DER with --der) or write it to a file
    Export(ExportArgs),
    /// Install the CA where this machine's programs look for trusted roots
    Trust(TrustArgs),
    /// Remove exactly our CA from the trust stores, nothing else
    Untrust(TrustArgs),
    /// Replace the CA with a new one; every client must then trust the new one
    Replace(ReplaceArgs),
    /// Publish the page that hands the CA to phones and laptops; print its URL and QR code
    Share(ShareArgs),
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// Also write the QR code of the page's URL as a PNG image
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Also write the QR code of the page's URL as an SVG image
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// DER instead of PEM
    #[arg(long)]
    pub der: bool,
    /// Write to this file instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Only this NSS database (sql: format), e.g. a test browser's profile
    #[arg(long, value_name = "DIR")]
    pub nss_db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReplaceArgs {
    /// Key type of the new CA
    #[arg(long, value_enum, value_name = "TYPE", default_value_t = KeyType::EcdsaP256)]
    pub key_type: KeyType,
    /// Confirm: leaves from the old CA stop working everywhere the old CA was trusted
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum NginxCommand {
    /// Print the site file for this config
    Render(RenderArgs),
    /// Install the leaf and the site file into nginx: test, swap, reload, verify, roll back
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write to this file instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Render for this nginx version instead of the installed one's
    #[arg(long, value_name = "X.Y.Z")]
    pub nginx_version: Option<String>,
    /// With --nginx-version: the OpenSSL it runs with [default: unknown, the safe settings]
    #[arg(long, value_name = "X.Y.Z", requires = "nginx_version")]
    pub openssl_version: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Show the difference and the `nginx -t` result, change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The name clients open; needed only when there is no config yet
    #[arg(long, value_name = "NAME")]
    pub domain: Option<String>,
    /// When to pull the app image
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = PullPolicy::Missing)]
    pub pull: PullPolicy,
    /// Run this image instead of the configured one (for this run)
    #[arg(long, value_name = "REF", value_parser = crate::config::image::parse_image_ref)]
    pub image: Option<String>,
    /// Move the state dir of an older OpenHands to where this version reads it
    #[arg(long)]
    pub move_state: bool,
    /// Seconds to wait for the app to answer
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    pub wait: u64,
    /// Do not set up `ohproxy watch` as a systemd service
    #[arg(long)]
    pub no_watch: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the site from nginx (through the same safe apply)
    #[arg(long)]
    pub nginx: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A JSON report on stdout (its fields are documented in README.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as JSON on stdout (the schema is in README.md)
    #[arg(long)]
    pub json: bool,
    /// Keep the WebSocket through nginx open this many seconds, as an idle browser tab does
    /// (1.x: at most 5, since a sandbox closes a socket that brings no session key)
    #[arg(long, value_name = "SECONDS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub hold: u64,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Sync the routes once and exit
    #[arg(long)]
    pub once: bool,
}
