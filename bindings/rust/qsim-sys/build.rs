//! Finds libqsim and tells rustc how to link it.
//!
//! QSIM_LIB_DIR, when set, names the folder holding libqsim.so; otherwise
//! `pkg-config --libs-only-L --libs-only-l qsim` answers (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
//! for a qsim installed under PREFIX). Every library folder also goes into the rpath of this
//! package's own test binaries, and out as `cargo:lib_dirs=` (DEP_QSIM_LIB_DIRS to the build
//! scripts of direct dependents): Cargo applies `rustc-link-arg` only to the package that
//! prints it, so each package that builds binaries adds the rpath itself (see qsim/build.rs).

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// Where libqsim is and what to link.
struct Library {
    dirs: Vec<PathBuf>,
    names: Vec<String>,
}

fn from_lib_dir(dir: String) -> Library {
    Library {
        dirs: vec![PathBuf::from(dir)],
        names: vec!["qsim".to_string()],
    }
}

fn from_pkg_config() -> Library {
    let output = Command::new("pkg-config")
        .args(["--libs-only-L", "--libs-only-l", "qsim"])
        .output()
        .unwrap_or_else(|e| panic!("qsim-sys: cannot run pkg-config ({e}); set QSIM_LIB_DIR"));
    if !output.status.success() {
        panic!(
            "qsim-sys: pkg-config cannot find qsim: {}set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig \
             or QSIM_LIB_DIR=PREFIX/lib",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let flags = String::from_utf8(output.stdout).expect("qsim-sys: pkg-config printed non-UTF-8");
    let mut library = Library {
        dirs: Vec::new(),
        names: Vec::new(),
    };
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            // A relocatable qsim.pc says PREFIX/lib/pkgconfig/../../lib: keep the rpath plain.
            library
                .dirs
                .push(fs::canonicalize(dir).unwrap_or_else(|_| PathBuf::from(dir)));
        } else if let Some(name) = flag.strip_prefix("-l") {
            library.names.push(name.to_string());
        }
    }
    if library.names.is_empty() {
        panic!(
            "qsim-sys: pkg-config gave no library for qsim: '{}'",
            flags.trim()
        );
    }
    library
}

fn main() {
    for variable in [
        "QSIM_LIB_DIR",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={variable}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let library = match env::var("QSIM_LIB_DIR") {
        Ok(dir) if !dir.is_empty() => from_lib_dir(dir),
        _ => from_pkg_config(),
    };
    for dir in &library.dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    for name in &library.names {
        println!("cargo:rustc-link-lib=dylib={name}");
    }
    let dirs = env::join_paths(&library.dirs).expect("qsim-sys: a library folder holds ':'");
    println!("cargo:lib_dirs={}", dirs.to_string_lossy());
}
