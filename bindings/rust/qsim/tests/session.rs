//! Sessions end to end on the reference model: threads, data sources reused across calls,
//! io info, runs, encodings, notes, export, loading, SmoothQuant, options and versions.

mod common;

use std::collections::BTreeSet;

use qsim::{
    AdaroundOptions, CalibrationMethod, DType, DataSource, ExportFormats, ExportOptions, Options,
    Role, RunMode, Session, SmoothQuantOptions, Status, TextFormat,
};

/// Compiles only when T is Send.
fn assert_send<T: Send>() {}

/// Compiles only when the type is not Sync: for a Sync type both impls apply and `_` is
/// ambiguous (the static_assertions crate's trick; it needs the concrete type, a generic T
/// would always pick the first impl).
macro_rules! assert_not_sync {
    ($type:ty) => {{
        trait AmbiguousIfSync<A> {
            fn check() {}
        }
        impl<T: ?Sized> AmbiguousIfSync<()> for T {}
        impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}
        <$type as AmbiguousIfSync<_>>::check()
    }};
}

#[test]
fn sessions_and_sources_are_send_but_not_sync() {
    assert_send::<Session>();
    assert_send::<DataSource>();
    assert_not_sync!(Session);
    assert_not_sync!(DataSource);
}

#[test]
fn a_session_works_on_another_thread_and_comes_back() {
    let mut session = common::session();
    let mut source = common::npy_source();
    let handle = std::thread::spawn(move || session.calibrate(&mut source, None).map(|()| session));
    let mut session = handle
        .join()
        .expect("the thread ends")
        .expect("calibration on the thread");
    assert!(session.encoding_count().unwrap() > 0);
    let dir = common::scratch_dir("after_thread");
    session.export(&dir, &ExportOptions::default()).unwrap();
    assert!(dir.join("model.encodings.json").is_file());
}

#[test]
fn one_data_source_serves_calibrate_then_adaround() {
    let mut session = common::session();
    let mut source = common::npy_source();
    assert_eq!(source.samples().unwrap(), 500);
    session.calibrate(&mut source, None).unwrap();
    let mut options = AdaroundOptions::default();
    options.num_iterations = 10;
    options.num_samples = 64;
    // A source left drained by calibrate would give no sample: QSIM_ERR_INVALID_ARGUMENT.
    session.adaround(&mut source, &options, None).unwrap();
    let notes = session.notes().unwrap();
    let first = notes.lines().next().unwrap();
    assert!(
        first.starts_with("techniques applied, in order:"),
        "{first}"
    );
    assert!(first.contains("adaround"), "{first}");
}

#[test]
fn io_info_describes_the_model() {
    let session = common::session();
    let inputs = session.inputs().unwrap();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].name, "input");
    assert_eq!(inputs[0].dtype, DType::Float32);
    assert_eq!(inputs[0].shape[1..], [1, 28, 28]);
    let outputs = session.outputs().unwrap();
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].name, "logits");
    assert_eq!(outputs[0].shape.last(), Some(&10));
}

#[test]
fn runs_float_and_quantized() {
    let mut session = common::session();
    let samples = common::synthetic_samples(2, 6);
    let inputs = [common::batch_of(&samples, 0, 2)];
    let too_early = session.run(RunMode::Quantized, &inputs).err().unwrap();
    assert_eq!(too_early.status, Status::State);

    let float = session.run(RunMode::Float, &inputs).unwrap();
    assert_eq!(float.len(), 1);
    assert_eq!(float[0].shape(), [2, 10]);
    let float = float[0].as_f32().unwrap().to_vec();
    assert!(float.iter().all(|value| value.is_finite()));

    session.calibrate(&mut common::npy_source(), None).unwrap();
    let quantized = session.run(RunMode::Quantized, &inputs).unwrap();
    let quantized = quantized[0].as_f32().unwrap();
    assert_eq!(quantized.len(), 20);
    let range = float.iter().fold(0f32, |most, value| most.max(value.abs()));
    let largest_difference = float
        .iter()
        .zip(quantized)
        .fold(0f32, |most, (f, q)| most.max((f - q).abs()));
    assert!(largest_difference > 0.0, "the simulation rounds");
    assert!(
        largest_difference < 0.2 * range,
        "8-bit stays near float: {largest_difference} of {range}"
    );
}

#[test]
fn encodings_can_be_read_back() {
    let mut session = common::session();
    assert_eq!(session.encoding_count().unwrap(), 0);
    session.calibrate(&mut common::npy_source(), None).unwrap();
    let encodings = session.encodings().unwrap();
    assert!(encodings.iter().any(|e| e.role == Role::Activation));
    let (index, weight) = encodings
        .iter()
        .enumerate()
        .find(|(_, e)| e.name == "stem.0.weight")
        .expect("the stem weight");
    assert_eq!(weight.role, Role::Weight);
    assert!(weight.quantized);
    assert_eq!(weight.bitwidth, 8);
    let channels = session.encoding_channels(index).unwrap();
    assert_eq!(channels.scales.len(), weight.num_channels);
    assert_eq!(channels.offsets.len(), weight.num_channels);
    assert!(channels.scales.iter().all(|&scale| scale > 0.0));
}

#[test]
fn per_channel_options_reach_the_session() {
    let mut options = Options::default();
    options.per_channel = true;
    options.activation_calibration = CalibrationMethod::MinMax;
    let mut session = Session::new(common::model(), &options).unwrap();
    session.calibrate(&mut common::npy_source(), None).unwrap();
    let stem = session
        .encodings()
        .unwrap()
        .into_iter()
        .find(|e| e.name == "stem.0.weight")
        .unwrap();
    assert_eq!(stem.num_channels, 16);
    assert_eq!(stem.axis, Some(0));
}

/// Names of the files in `dir`.
fn files_in(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn export_writes_the_chosen_formats_under_the_chosen_name() {
    let mut session = common::session();
    session.calibrate(&mut common::npy_source(), None).unwrap();

    let all = common::scratch_dir("export_all");
    session.export(&all, &ExportOptions::default()).unwrap();
    let expected: BTreeSet<String> = [
        "model.encodings.fbs",
        "model.encodings.json",
        "model.encodings.v1.json",
        "model.onnx",
        "model.qdq.onnx",
    ]
    .iter()
    .map(|name| name.to_string())
    .collect();
    assert_eq!(files_in(&all), expected);

    let chosen = common::scratch_dir("export_chosen");
    let mut options = ExportOptions::default();
    options.formats = ExportFormats::AIMET_JSON_0_6_1 | ExportFormats::ENCODINGS_FBS;
    options.basename = Some("resnet".to_string());
    session.export(&chosen, &options).unwrap();
    let expected: BTreeSet<String> = ["resnet.encodings.fbs", "resnet.encodings.json"]
        .iter()
        .map(|name| name.to_string())
        .collect();
    assert_eq!(files_in(&chosen), expected);
}

#[test]
fn a_format_that_cannot_be_built_is_skipped_and_the_others_written() {
    // 12-bit activations: the QDQ model cannot hold them; the other four files are written.
    let mut options = Options::default();
    options.activation_bits = 12;
    let mut session = Session::new(common::model(), &options).unwrap();
    session.calibrate(&mut common::npy_source(), None).unwrap();
    assert_eq!(session.exported_formats().unwrap(), ExportFormats(0));
    let dir = common::scratch_dir("export_incomplete");
    let partial = session.export(&dir, &ExportOptions::default()).err().unwrap();
    assert_eq!(partial.status, Status::Incomplete);
    assert!(partial.message.contains("skipped model.qdq.onnx"), "{}", partial.message);
    assert!(partial.message.contains("12-bit"), "{}", partial.message);
    let written = ExportFormats::ENCODINGS_FBS
        | ExportFormats::AIMET_JSON_0_6_1
        | ExportFormats::AIMET_JSON_1_0_0
        | ExportFormats::ONNX_ROUNDED;
    assert_eq!(session.exported_formats().unwrap(), written);
    assert_eq!(files_in(&dir).len(), 4);
    assert!(!files_in(&dir).contains("model.qdq.onnx"));
}

#[test]
fn exported_encodings_load_into_a_fresh_session() {
    let mut calibrated = common::session();
    calibrated
        .calibrate(&mut common::npy_source(), None)
        .unwrap();
    let dir = common::scratch_dir("load");
    calibrated.export(&dir, &ExportOptions::default()).unwrap();

    let model = std::fs::read(common::model()).unwrap();
    let mut loaded = Session::from_memory(&model, &Options::default()).unwrap();
    assert_eq!(loaded.inputs().unwrap(), calibrated.inputs().unwrap());
    loaded
        .load_encodings(dir.join("model.encodings.fbs"))
        .unwrap();
    let samples = common::synthetic_samples(4, 7);
    let inputs = [common::batch_of(&samples, 0, 4)];
    assert_eq!(
        loaded.run(RunMode::Quantized, &inputs).unwrap(),
        calibrated.run(RunMode::Quantized, &inputs).unwrap()
    );
}

#[test]
fn smooth_quant_runs_once_before_calibration() {
    let mut source = common::npy_source();
    let mut bad = SmoothQuantOptions::default();
    bad.alpha = 2.0;
    let error = common::session()
        .smooth_quant(&mut source, &bad, None)
        .err()
        .unwrap();
    assert_eq!(error.status, Status::InvalidArgument);

    let mut session = common::session();
    let mut options = SmoothQuantOptions::default();
    options.num_samples = 64;
    session.smooth_quant(&mut source, &options, None).unwrap();
    let again = session
        .smooth_quant(&mut source, &options, None)
        .err()
        .unwrap();
    assert_eq!(again.status, Status::State);
    assert!(session
        .notes()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .contains("smooth_quant"));
}

#[test]
fn defaults_come_from_the_library() {
    let options = Options::default();
    assert_eq!((options.weight_bits, options.activation_bits), (8, 8));
    assert_eq!(
        options.activation_calibration,
        CalibrationMethod::TfEnhanced
    );
    assert_eq!(options.weight_calibration, CalibrationMethod::MinMax);
    assert!(options.fold_batch_norm);
    assert_eq!(options.max_tensor_bytes, 1 << 31);
    let adaround = AdaroundOptions::default();
    assert_eq!(
        (
            adaround.num_iterations,
            adaround.num_samples,
            adaround.batch_samples
        ),
        (10000, 1024, 32)
    );
    assert_eq!(SmoothQuantOptions::default().alpha, 0.5);
    assert_eq!(ExportOptions::default().formats, ExportFormats::ALL);
}

#[test]
fn versions_kernel_path_and_description() {
    assert_eq!(qsim::version_number(), qsim::sys::QSIM_VERSION_NUMBER);
    assert_eq!(qsim::version(), "0.3.0");
    let kernel = qsim::kernel_path().unwrap();
    assert!(
        ["avx512", "avx2", "baseline"].contains(&kernel.name),
        "{kernel:?}"
    );
    assert!(kernel.report.starts_with(kernel.name), "{kernel:?}");
    let text = qsim::describe_model(common::model(), TextFormat::Text).unwrap();
    assert!(text.contains("input"), "{text}");
    let json = qsim::describe_model(common::model(), TextFormat::Json).unwrap();
    assert!(json.trim_start().starts_with('{'), "{json}");
}
