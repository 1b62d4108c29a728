//! Bakes the site directory into the image: every file becomes an entry of a sorted table
//! (`$OUT_DIR/site.rs`) with its URL path, content type, a strong ETag (a 64-bit FNV-1a of the
//! bytes), its modification time for Last-Modified, the bytes themselves (`include_bytes!` of
//! the file) and, when it is at least 10% smaller, a gzip variant compressed here, at build time.
//! Nothing of a file system remains at run time.
//!
//! The directory is `$MORGANA_SITE_DIR` (set by `cargo xtask build --site DIR`), else `site/`
//! next to this file. Builds are reproducible: gzip headers carry no time and
//! `SOURCE_DATE_EPOCH`, when set, replaces every file's modification time.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;
use std::{env, fs};

fn main() {
    println!("cargo:rerun-if-env-changed=MORGANA_SITE_DIR");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = env::var_os("MORGANA_SITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("site"));
    let dir = fs::canonicalize(&dir)
        .unwrap_or_else(|e| panic!("the site directory {} cannot be read: {e}", dir.display()));
    println!("cargo:rerun-if-changed={}", dir.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let epoch: Option<u64> = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok());

    let mut files = Vec::new();
    walk(&dir, &dir, &mut files);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.is_empty() {
        panic!("the site directory {} holds no files", dir.display());
    }

    let gz_dir = out.join("gz");
    fs::create_dir_all(&gz_dir).expect("create OUT_DIR/gz");
    let mut code = String::from(
        "/// The baked site, sorted by path.\npub static FILES: &[morgana::http::SiteFile] = &[\n",
    );
    for (n, (url, path)) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let modified = epoch.unwrap_or_else(|| {
            fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs())
        });
        let gzip = if compressible(url) {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            enc.write_all(&bytes).expect("gzip into memory");
            let gz = enc.finish().expect("gzip into memory");
            (gz.len() * 10 <= bytes.len() * 9).then(|| {
                let p = gz_dir.join(format!("{n}.gz"));
                fs::write(&p, gz).expect("write the gzip variant");
                p
            })
        } else {
            None
        };
        let _ = writeln!(
            code,
            "    morgana::http::SiteFile {{ path: {url:?}, content_type: {:?}, etag: \"\\\"{:016x}\\\"\", modified: {modified}, body: include_bytes!({:?}), gzip: {} }},",
            content_type(url),
            fnv1a(&bytes),
            path.display().to_string(),
            gzip.map_or("None".to_string(), |p| format!(
                "Some(include_bytes!({:?}))",
                p.display().to_string()
            )),
        );
    }
    code.push_str("];\n");
    fs::write(out.join("site.rs"), code).expect("write OUT_DIR/site.rs");
}

/// Every regular file under `dir`, as (URL path, file path); hidden entries are skipped.
fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            panic!("{}: file names must be UTF-8", entry.path().display());
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            walk(root, &path, files);
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            let rel = path.strip_prefix(root).expect("under the root");
            let url: String = rel
                .components()
                .map(|c| format!("/{}", c.as_os_str().to_str().expect("UTF-8")))
                .collect();
            files.push((url, path));
        }
    }
}

fn extension(url: &str) -> &str {
    let name = url.rsplit('/').next().unwrap_or("");
    name.rsplit_once('.').map_or("", |(_, e)| e)
}

fn content_type(url: &str) -> &'static str {
    match extension(url).to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Formats that are already compressed gain nothing from gzip.
fn compressible(url: &str) -> bool {
    !matches!(
        extension(url).to_ascii_lowercase().as_str(),
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "woff2" | "woff" | "gz" | "zip" | "pdf"
    )
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
