//! Puts boot's linker scripts on the link search path, so that an appliance built for a
//! bare-metal target links with `-C link-arg=-Tmorgana-<arch>.ld` (see `.cargo/config.toml`).

fn main() {
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("link");
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rerun-if-changed=link");
}
