//! `cdn-certs`: makes the certificates an imagecdn deployment trusts (DESIGN §4).
//!
//! `init` makes a CA and, signed by it, the master's certificate and the default worker and
//! client identities (plus any named ones); `issue` adds one more; `bundle` writes the folder
//! for one machine (its certificate and key and `ca.pem`, never `ca.key`); `show` lists what a
//! folder holds. Every binary then finds its own files in `--certs DIR` by role and name.

use anyhow::{Context, Result};
use cdn_certs::{BundleOptions, InitOptions, LeafSpec, Outcome, Role};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "cdn-certs",
    version,
    about = "Make the CA and the master, worker and client certificates for imagecdn",
    after_help = "Examples:\n  cdn-certs init                       # ./certs: CA, master (localhost), worker, client\n  cdn-certs init --workers w1,w2 --clients alice\n  cdn-certs issue --role worker --name w3\n  cdn-certs bundle --role worker --name w3 --out ./w3-certs   # copy ./w3-certs to that machine\n  cdn-certs show"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a new CA and the master, default worker and default client certificates.
    Init {
        /// The certificate folder.
        #[arg(long, default_value = "./certs")]
        dir: PathBuf,
        /// A name the master answers to (DNS name or IP); repeatable. 127.0.0.1 and ::1 are
        /// always included.
        #[arg(long = "master-name", default_value = "localhost")]
        master_names: Vec<String>,
        /// Named worker certificates to make too (comma-separated), e.g. w1,w2.
        #[arg(long, value_delimiter = ',')]
        workers: Vec<String>,
        /// Named client certificates to make too (comma-separated).
        #[arg(long, value_delimiter = ',')]
        clients: Vec<String>,
        /// Replace an existing CA (every certificate it signed stops being trusted).
        #[arg(long)]
        force: bool,
        /// How long each master/worker/client certificate is valid, in days.
        #[arg(long, default_value_t = cdn_certs::LEAF_VALIDITY_DAYS, value_name = "DAYS")]
        days: u32,
    },
    /// Add one certificate signed by the existing CA.
    Issue {
        /// The certificate folder (must hold ca.pem and ca.key).
        #[arg(long, default_value = "./certs")]
        dir: PathBuf,
        /// master, worker or client.
        #[arg(long)]
        role: String,
        /// The identity's name ([A-Za-z0-9._-], 1-64 characters).
        #[arg(long)]
        name: String,
        /// For a master certificate: a name it answers to; repeatable.
        #[arg(long = "master-name", default_value = "localhost")]
        master_names: Vec<String>,
        /// Replace an existing certificate of that name.
        #[arg(long)]
        force: bool,
        /// How long the certificate is valid, in days.
        #[arg(long, default_value_t = cdn_certs::LEAF_VALIDITY_DAYS, value_name = "DAYS")]
        days: u32,
    },
    /// Write the folder for one machine: its certificate and key, and ca.pem (never ca.key).
    Bundle {
        /// The certificate folder that issued it (holds ca.pem and the identity).
        #[arg(long, default_value = "./certs")]
        dir: PathBuf,
        /// master, worker or client.
        #[arg(long)]
        role: String,
        /// The worker's or client's name (default: the default identity, worker.pem or
        /// client.pem). For the master, the name in its certificate, checked if given.
        #[arg(long)]
        name: Option<String>,
        /// The folder to write (made if missing); copy it to the machine and give it as --certs.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace files in --out that have other contents.
        #[arg(long)]
        force: bool,
    },
    /// List the certificates in a folder with their identity and expiry.
    Show {
        #[arg(long, default_value = "./certs")]
        dir: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // The cause chain, not a backtrace: these errors are for users.
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    cdn_common::logging::init("warn", cdn_common::logging::LogFormat::Text);
    match Cli::parse().command {
        Command::Init {
            dir,
            master_names,
            workers,
            clients,
            force,
            days,
        } => {
            let written = cdn_certs::init(&InitOptions {
                dir: dir.clone(),
                master_names,
                workers,
                clients,
                force,
                leaf_days: days,
            })
            .with_context(|| format!("making certificates in {}", dir.display()))?;
            for path in written {
                println!("wrote {}", path.display());
            }
        }
        Command::Issue {
            dir,
            role,
            name,
            master_names,
            force,
            days,
        } => {
            let role: Role = role.parse()?;
            let mut spec = LeafSpec::new(role, &name).valid_for_days(days);
            spec.master_names = master_names;
            let files = cdn_certs::issue(&dir, &spec, force)
                .with_context(|| format!("issuing a {role} certificate for {name:?}"))?;
            println!("wrote {}", files.cert.display());
            println!("wrote {}", files.key.display());
        }
        Command::Bundle {
            dir,
            role,
            name,
            out,
            force,
        } => {
            let role: Role = role.parse()?;
            let options = BundleOptions {
                dir,
                role,
                name,
                out,
                force,
            };
            bundle(&options)?;
        }
        Command::Show { dir } => show(&dir)?,
    }
    Ok(())
}

fn bundle(options: &BundleOptions) -> Result<()> {
    let written = cdn_certs::bundle(options).with_context(|| {
        let identity = match (options.role, &options.name) {
            (Role::Master, _) | (_, None) => options.role.to_string(),
            (role, Some(name)) => format!("{role} {name:?}"),
        };
        format!(
            "bundling the {identity} certificate from {} into {}",
            options.dir.display(),
            options.out.display()
        )
    })?;
    for file in written {
        let verb = match file.outcome {
            Outcome::Written => "wrote",
            Outcome::Unchanged => "unchanged",
            Outcome::Replaced => "replaced",
        };
        println!("{verb} {}", file.path.display());
    }
    let name = match (&options.name, options.role) {
        (Some(name), Role::Worker | Role::Client) => format!(" --name {name}"),
        _ => String::new(),
    };
    println!(
        "copy {} to the {} machine and start it with --certs <that folder>{name}; the folder \
         holds no ca.key",
        options.out.display(),
        options.role
    );
    Ok(())
}

fn show(dir: &Path) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    if entries.is_empty() {
        anyhow::bail!(
            "no certificates in {}: run `cdn-certs init --dir {}`",
            dir.display(),
            dir.display()
        );
    }
    entries.sort();
    let ca_pem = std::fs::read(dir.join(cdn_certs::CA_CERT)).ok();
    let ca_der = ca_pem
        .as_deref()
        .and_then(|text| x509_parser::pem::parse_x509_pem(text).ok())
        .map(|(_, pem)| pem.contents);
    let ca = ca_der
        .as_deref()
        .and_then(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, cert)| cert);
    println!("{:<24} {:<44} {:<28} STATUS", "FILE", "IDENTITY", "EXPIRES");
    for path in entries {
        let pem = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate: {e}", path.display()))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| anyhow::anyhow!("{}: not a certificate: {e}", path.display()))?;
        let uris = cdn_certs::uri_sans(&pem.contents);
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default();
        let identity = if cert.is_ca() {
            "CA".to_string()
        } else if uris.is_empty() {
            cert.subject().to_string()
        } else {
            uris.join(", ")
        };
        let mut status = Vec::new();
        if !cert.validity().is_valid() {
            status.push("EXPIRED or not yet valid");
        }
        match &ca {
            None => status.push("no readable ca.pem"),
            Some(ca) if !cert.is_ca() => {
                let signed = cert.issuer() == ca.subject()
                    && cert.verify_signature(Some(ca.public_key())).is_ok();
                if !signed {
                    status.push("NOT signed by ca.pem");
                }
            }
            Some(_) => {}
        }
        if !path.with_extension("key").exists() {
            status.push("key missing");
        }
        if status.is_empty() {
            status.push("ok");
        }
        println!(
            "{file:<24} {identity:<44} {:<28} {}",
            cert.validity().not_after.to_string(),
            status.join(", ")
        );
    }
    Ok(())
}
