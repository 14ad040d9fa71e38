//! Every failure comes back as `Error { status, message }`, with the message naming what is at
//! fault: from qsim_last_error for calls without a session, from qsim_session_last_error for
//! session calls, from the closure for a reader's own error.

mod common;

use qsim::{
    Array, CalibrationMethod, Data, DataSource, ExportOptions, Options, Session, Status, Target,
};

#[test]
fn a_missing_model_is_an_io_error_naming_the_file() {
    let error = Session::new(
        "/nonexistent/folder/missing_model.onnx",
        &Options::default(),
    )
    .err()
    .unwrap();
    assert_eq!(error.status, Status::Io);
    assert!(
        error.message.contains("missing_model.onnx"),
        "{}",
        error.message
    );
}

#[test]
fn a_corrupt_model_is_a_parse_error_naming_the_file() {
    let path = common::scratch_dir("corrupt").join("garbage_model.onnx");
    std::fs::write(&path, b"\x08\x07this is not an ONNX protobuf\xff\xff\xff").unwrap();
    let error = Session::new(&path, &Options::default()).err().unwrap();
    assert_eq!(error.status, Status::Parse);
    assert!(
        error.message.contains("garbage_model.onnx"),
        "{}",
        error.message
    );
}

#[test]
fn an_option_out_of_range_is_named() {
    let mut options = Options::default();
    options.weight_bits = 1;
    let error = Session::new(common::model(), &options).err().unwrap();
    assert_eq!(error.status, Status::InvalidArgument);
    assert!(error.message.contains("weight_bits"), "{}", error.message);
}

#[test]
fn data_source_errors_name_the_file() {
    let missing = DataSource::from_npy(&["/nonexistent/missing_samples.npy"], 32)
        .err()
        .unwrap();
    assert_eq!(missing.status, Status::Io);
    assert!(
        missing.message.contains("missing_samples.npy"),
        "{}",
        missing.message
    );

    let not_npy = common::scratch_dir("not_npy").join("not_samples.npy");
    std::fs::write(&not_npy, b"plain text, no .npy header").unwrap();
    let corrupt = DataSource::from_npy(&[&not_npy], 32).err().unwrap();
    assert_eq!(corrupt.status, Status::Parse);
    assert!(
        corrupt.message.contains("not_samples.npy"),
        "{}",
        corrupt.message
    );

    let no_batch = DataSource::from_npy(&[common::calib_npy()], 0)
        .err()
        .unwrap();
    assert_eq!(no_batch.status, Status::InvalidArgument);
    assert!(
        no_batch.message.contains("batch_size"),
        "{}",
        no_batch.message
    );
}

#[test]
fn session_call_errors_carry_the_session_message() {
    let mut session = common::session();
    let dir = common::scratch_dir("export_too_early");
    let early = session
        .export(&dir, &ExportOptions::default())
        .err()
        .unwrap();
    assert_eq!(early.status, Status::State);
    assert!(!early.message.is_empty());

    let missing = session
        .load_encodings("/nonexistent/missing_encodings.json")
        .err()
        .unwrap();
    assert_eq!(missing.status, Status::Io);
    assert!(
        missing.message.contains("missing_encodings.json"),
        "{}",
        missing.message
    );
}

#[test]
fn errors_are_std_errors_displayed_with_the_status_name() {
    let error = Session::new("/nonexistent/missing_model.onnx", &Options::default())
        .err()
        .unwrap();
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(error.clone());
    assert_eq!(boxed.to_string(), format!("QSIM_ERR_IO: {}", error.message));
    assert_eq!(Status::Cancelled.name(), "QSIM_ERR_CANCELLED");
    assert_eq!(Status::Callback.name(), "QSIM_ERR_CALLBACK");
}

#[test]
fn a_reader_error_is_a_callback_error_with_its_text() {
    let mut session = common::session();
    let samples = common::synthetic_samples(64, 1);
    let mut batches = 0;
    let mut reader = || {
        batches += 1;
        match batches {
            1 => Ok(Some(vec![common::batch_of(&samples, 0, 32)])),
            _ => Err("the sensor was unplugged".into()),
        }
    };
    let error = session
        .calibrate(Data::Reader(&mut reader), None)
        .err()
        .unwrap();
    assert_eq!(error.status, Status::Callback);
    assert!(
        error.message.contains("the sensor was unplugged"),
        "{}",
        error.message
    );
    assert_eq!(batches, 2);
    assert_eq!(
        session.encoding_count().unwrap(),
        0,
        "a failed calibration leaves no encodings"
    );
}

#[test]
fn a_batch_for_the_wrong_number_of_inputs_is_a_callback_error() {
    let mut session = common::session();
    let samples = common::synthetic_samples(32, 2);
    let mut reader = || {
        Ok(Some(vec![
            common::batch_of(&samples, 0, 16),
            common::batch_of(&samples, 16, 16),
        ]))
    };
    let error = session
        .calibrate(Data::Reader(&mut reader), None)
        .err()
        .unwrap();
    assert_eq!(error.status, Status::Callback);
    assert!(
        error.message.contains("2 arrays for a model of 1 inputs"),
        "{}",
        error.message
    );
}

#[test]
fn a_reader_without_data_is_an_invalid_argument() {
    let mut session = common::session();
    let mut reader = || Ok(None);
    let error = session
        .calibrate(Data::Reader(&mut reader), None)
        .err()
        .unwrap();
    assert_eq!(error.status, Status::InvalidArgument);
}

#[test]
fn names_convert_or_list_the_known_ones() {
    assert_eq!(
        CalibrationMethod::from_name("mse").unwrap(),
        CalibrationMethod::Mse
    );
    assert_eq!(Target::from_name("ort-avx2").unwrap(), Target::OrtAvx2);
    let error = CalibrationMethod::from_name("bogus").err().unwrap();
    assert_eq!(error.status, Status::InvalidArgument);
    assert!(error.message.contains("minmax"), "{}", error.message);
    let nul = Target::from_name("exa\0ct").err().unwrap();
    assert_eq!(nul.status, Status::InvalidArgument);
}

#[test]
fn the_binding_checks_what_qsim_cannot_see() {
    let short = Array::new(vec![2, 3], vec![0f32; 5]).err().unwrap();
    assert_eq!(short.status, Status::Shape);
    let too_deep = Array::new(vec![1; 9], vec![0f32]).err().unwrap();
    assert_eq!(too_deep.status, Status::Shape);
    let nul = Session::new("model\0.onnx", &Options::default())
        .err()
        .unwrap();
    assert_eq!(nul.status, Status::InvalidArgument);
}
