fn main() {
    napi_build::setup();
    // `cfg(reactor)`: the native process reactor is built for Linux on
    // x86_64 and aarch64 (its launcher makes system calls with inline
    // assembly, see src/reactor/launch.rs); elsewhere lib/spawn/ hands
    // every spawn to node:child_process.
    println!("cargo:rustc-check-cfg=cfg(reactor)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux" && (arch == "x86_64" || arch == "aarch64") {
        println!("cargo:rustc-cfg=reactor");
    }
}
