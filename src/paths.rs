//! Where things live: the config file, the state dir (CA, leaves, rendered files) and the
//! CA directory, from `--config`/`OHPROXY_CONFIG`, `OHPROXY_HOME`, `CAROOT` and `dirs`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The resolved locations for one run.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    pub state_dir: PathBuf,
    /// `CAROOT` from the environment, which wins over the config and the default.
    pub caroot_env: Option<PathBuf>,
}

impl Paths {
    /// Resolves the paths from an explicit config file (flag or `OHPROXY_CONFIG`) and the
    /// environment. `OHPROXY_HOME=DIR` puts the config and the state under DIR.
    pub fn resolve(config_flag: Option<&Path>) -> Result<Paths> {
        let home = non_empty_env("OHPROXY_HOME");
        let (default_config, state_dir) = match &home {
            Some(home) => (home.join("config.toml"), home.join("state")),
            None => {
                let Some(config) = dirs::config_dir() else {
                    bail!("cannot find the user's config directory; set OHPROXY_HOME");
                };
                let Some(data) = dirs::data_dir() else {
                    bail!("cannot find the user's data directory; set OHPROXY_HOME");
                };
                (
                    config.join("ohproxy").join("config.toml"),
                    data.join("ohproxy"),
                )
            }
        };
        let config_file = config_flag.map(Path::to_path_buf).unwrap_or(default_config);
        Ok(Paths {
            config_file: absolute(&config_file)?,
            state_dir: absolute(&state_dir)?,
            caroot_env: non_empty_env("CAROOT").map(|p| absolute(&p)).transpose()?,
        })
    }

    /// The default directory of the CA when neither `CAROOT` nor the config names one.
    pub fn default_ca_dir(&self) -> PathBuf {
        self.state_dir.join("ca")
    }

    /// Where `ohproxy cert` writes leaves by default.
    pub fn leaf_dir(&self) -> PathBuf {
        self.state_dir.join("certs")
    }
}

fn non_empty_env(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(std::path::absolute(path)?)
}
