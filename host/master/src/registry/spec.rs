//! `--registry`: which registry a master opens, `sqlite:PATH` or `postgres://...`.

use super::RegistryError;
use std::path::PathBuf;

/// Where the registry lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrySpec {
    /// A SQLite file (created if missing): one master.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user[:password]@host[:port]/db[?...]`): any
    /// number of masters.
    Postgres(String),
}

impl std::str::FromStr for RegistrySpec {
    type Err = RegistryError;

    fn from_str(spec: &str) -> Result<RegistrySpec, RegistryError> {
        let bad = |why: &str| RegistryError::Spec {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        if let Some(path) = spec.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(bad(
                    "sqlite: needs a file path, as in sqlite:./cdn-data/registry.sqlite3",
                ));
            }
            return Ok(RegistrySpec::Sqlite(PathBuf::from(path)));
        }
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            spec.parse::<tokio_postgres::Config>()
                .map_err(|e| bad(&format!("not a PostgreSQL URL: {e}")))?;
            return Ok(RegistrySpec::Postgres(spec.to_string()));
        }
        Err(bad(
            "expected sqlite:PATH or postgres://USER@HOST:PORT/DATABASE",
        ))
    }
}

impl std::fmt::Display for RegistrySpec {
    /// The spec without any password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistrySpec::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            RegistrySpec::Postgres(url) => f.write_str(&super::postgres::redact(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!(
            "sqlite:/tmp/r.db".parse::<RegistrySpec>().unwrap(),
            RegistrySpec::Sqlite("/tmp/r.db".into())
        );
        let pg = "postgres://cdn:secret@127.0.0.1:5432/cdn";
        let spec = pg.parse::<RegistrySpec>().unwrap();
        assert_eq!(spec, RegistrySpec::Postgres(pg.into()));
        assert!(!spec.to_string().contains("secret"), "{spec}");
        for bad in ["", "sqlite:", "mysql://x/y", "registry.db"] {
            let err = bad.parse::<RegistrySpec>().unwrap_err().to_string();
            assert!(
                err.contains("expected") || err.contains("needs"),
                "{bad}: {err}"
            );
        }
    }
}
