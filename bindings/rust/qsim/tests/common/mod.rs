//! What the tests share: the reference model and calibration data (run_tests.sh passes their
//! places in QSIM_SOURCE_DIR and QSIM_CALIB_NPY), scratch folders and synthetic samples.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

use qsim::{Array, DataSource, Options, Session};

/// Floats in one sample of the model's input [N, 1, 28, 28].
pub const SAMPLE_LEN: usize = 28 * 28;

fn source_dir() -> PathBuf {
    std::env::var_os("QSIM_SOURCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../..")))
}

pub fn model() -> PathBuf {
    source_dir().join("models/resnet_fmnist.onnx")
}

/// float32 [500, 1, 28, 28].
pub fn calib_npy() -> PathBuf {
    PathBuf::from(
        std::env::var_os("QSIM_CALIB_NPY").expect("set QSIM_CALIB_NPY (run_tests.sh does)"),
    )
}

pub fn session() -> Session {
    Session::new(model(), &Options::default()).expect("the reference model loads")
}

pub fn npy_source() -> DataSource {
    DataSource::from_npy(&[calib_npy()], 32).expect("the calibration samples load")
}

/// An empty folder of this name under the temporary folder (run_tests.sh points TMPDIR into
/// its work folder).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qsim-rust-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// `count` samples of values in [0, 1) from a fixed generator (a 64-bit LCG), as float32
/// [count, 1, 28, 28] data.
pub fn synthetic_samples(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..count * SAMPLE_LEN)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Samples [first, first + count) of `samples` as one input array.
pub fn batch_of(samples: &[f32], first: usize, count: usize) -> Array {
    let values = samples[first * SAMPLE_LEN..(first + count) * SAMPLE_LEN].to_vec();
    Array::new(vec![count as i64, 1, 28, 28], values).expect("a [count, 1, 28, 28] batch")
}
