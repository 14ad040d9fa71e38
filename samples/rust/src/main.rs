//! Quantizes an ONNX model end to end through the qsim crate:
//!
//!     quantize MODEL.onnx CALIB.npy OUT_DIR
//!
//! Calibrates on CALIB.npy (32 samples a batch), runs AdaRound (100 iterations on 128 samples)
//! on the same data source, exports every format into OUT_DIR and prints the first line of the
//! notes. The encodings it writes are byte-identical to those of the other languages' samples.

use std::process::ExitCode;

use qsim::{AdaroundOptions, DataSource, ExportOptions, Options, Session};

const BATCH_SIZE: i64 = 32;

fn quantize(model: &str, calib_npy: &str, out_dir: &str) -> qsim::Result<String> {
    let mut session = Session::new(model, &Options::default())?;
    let mut source = DataSource::from_npy(&[calib_npy], BATCH_SIZE)?;
    let mut show_progress = |_done: i64, _total: i64, message: &str| {
        println!("  {message}");
        true
    };
    session.calibrate(&mut source, Some(&mut show_progress))?;

    let mut adaround = AdaroundOptions::default();
    adaround.num_iterations = 100;
    adaround.num_samples = 128;
    // The source starts from its first sample again: every call rewinds it.
    session.adaround(&mut source, &adaround, None)?;

    session.export(out_dir, &ExportOptions::default())?;
    let notes = session.notes()?;
    Ok(notes.lines().next().unwrap_or_default().to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} MODEL.onnx CALIB.npy OUT_DIR", args[0]);
        return ExitCode::from(2);
    }
    match quantize(&args[1], &args[2], &args[3]) {
        Ok(first_note) => {
            println!("{first_note}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            // Display is "STATUS_NAME: message".
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
