//! nginx on the host, the second baseline of `bench http`: Debian's nginx package (the one
//! `bench vs-linux` puts in its Linux VM) unpacked with `dpkg-deb -x` into the bench cache and
//! run from there, so no system service is installed or started. It serves the static site's
//! directory with the VM's settings: one worker, no access log, keep-alive with no request
//! limit. Its temporary directories, pid file and error log are under its own prefix.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::linux_vm;
use crate::util::{self, Error};

/// An unpacked nginx.
#[derive(Debug, Clone)]
pub struct HostNginx {
    pub binary: PathBuf,
    /// `nginx=VERSION`.
    pub package: String,
}

/// Unpacks Debian's nginx into `cache/nginx-host-VERSION/` (unless there) and checks that it
/// runs on this host (its libraries are the host's).
pub fn prepare(cache: &Path) -> Result<HostNginx, Error> {
    let version = linux_vm::candidate_version("nginx")?;
    let package = format!("nginx={version}");
    let dir = cache.join(format!("nginx-host-{}", safe(&version)));
    let binary = dir.join("root/usr/sbin/nginx");
    if !binary.is_file() {
        eprintln!(
            "host nginx: unpacking {package} in {}",
            util::display_path(&dir)
        );
        let (debs, root) = (dir.join("debs"), dir.join("root"));
        for made in [&debs, &root] {
            fs::create_dir_all(made)
                .map_err(|err| Error::new(format!("{}: {err}", made.display())))?;
        }
        linux_vm::fetch_and_unpack(&package, &debs, &root)?;
    }
    let missing: Vec<String> = Command::new("ldd")
        .arg(&binary)
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|line| line.contains("not found"))
                .map(|line| line.trim().to_owned())
                .collect()
        })
        .unwrap_or_default();
    if !missing.is_empty() {
        return Err(Error::new(format!(
            "{}: libraries missing on this host: {} (apt-get install nginx-common pulls them in)",
            binary.display(),
            missing.join(", ")
        )));
    }
    Ok(HostNginx { binary, package })
}

/// Version strings as directory names (`1:1.2` has a colon).
fn safe(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-+~".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// nginx.conf for a server rooted at `prefix` (pid file, temporary files) serving `site` on
/// port 80 of every address. The worker runs as root: the site lives in the caller's tree,
/// which user nobody may not be able to read.
pub fn config(prefix: &Path, site: &Path) -> String {
    let p = prefix.display();
    format!(
        "user root root;
worker_processes 1;
daemon off;
error_log stderr;
pid {p}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {p}/tmp/body;
  proxy_temp_path {p}/tmp/proxy;
  fastcgi_temp_path {p}/tmp/fastcgi;
  uwsgi_temp_path {p}/tmp/uwsgi;
  scgi_temp_path {p}/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  types {{ text/html html; text/css css; image/svg+xml svg; text/plain txt; }}
  default_type application/octet-stream;
  server {{ listen 80; root \"{}\"; index index.html; }}
}}
",
        site.display()
    )
}

/// Writes the configuration under `prefix` and returns nginx's arguments.
pub fn setup(prefix: &Path, site: &Path) -> Result<Vec<String>, Error> {
    let tmp = prefix.join("tmp");
    fs::create_dir_all(&tmp).map_err(|err| Error::new(format!("{}: {err}", tmp.display())))?;
    let conf = prefix.join("nginx.conf");
    fs::write(&conf, config(prefix, site))
        .map_err(|err| Error::new(format!("{}: {err}", conf.display())))?;
    Ok(vec![
        "-p".to_owned(),
        format!("{}/", prefix.display()),
        "-e".to_owned(),
        "stderr".to_owned(),
        "-c".to_owned(),
        conf.display().to_string(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_everything_under_the_prefix() {
        let conf = config(Path::new("/p"), Path::new("/site dir"));
        assert!(conf.contains("pid /p/nginx.pid;"), "{conf}");
        assert!(
            conf.contains("client_body_temp_path /p/tmp/body;"),
            "{conf}"
        );
        assert!(conf.contains("root \"/site dir\";"), "{conf}");
        assert!(conf.contains("worker_processes 1;"));
        assert!(conf.contains("access_log off;"));
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
        assert_eq!(safe("1:1.22.1-9+deb12u11"), "1_1.22.1-9+deb12u11");
    }
}
