//! Puts libqsim's folders (found by qsim-sys, handed over as DEP_QSIM_LIB_DIRS) into the rpath
//! of `quantize`, so that it runs without LD_LIBRARY_PATH: Cargo applies qsim-sys's own
//! `rustc-link-arg` only to qsim-sys itself.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_QSIM_LIB_DIRS");
    if let Some(dirs) = std::env::var_os("DEP_QSIM_LIB_DIRS") {
        for dir in std::env::split_paths(&dirs) {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
}
