//! Release builds for x86_64 Linux, linked by rustc's own lld, put the functions a fresh server
//! runs from exec to idle first and together in the binary (`link/startup.ld`), so
//! startup faults in fewer pages of code: see docs/performance.md, "Startup layout".

use std::env;
use std::path::Path;

fn main() {
    const LAYOUT: &str = "link/startup.ld";
    println!("cargo:rerun-if-changed={LAYOUT}");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let release = env::var("PROFILE").as_deref() == Ok("release");
    // rustc links this target with lld unless a linker is configured; other linkers may not
    // know the flag, so they link without the ordering.
    let lld = env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu")
        && env::var_os("RUSTC_LINKER").is_none();
    if release && lld {
        let script = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join(LAYOUT);
        println!(
            "cargo:rustc-link-arg-bin=aipass-mcp=-Wl,-T,{}",
            script.display()
        );
    }
}
