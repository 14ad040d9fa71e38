//! Reader and progress closures: their batches reach qsim as they are, their panics reach the
//! caller as the same panic after qsim has returned (the process and the session live on),
//! false from progress cancels.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use qsim::{AdaroundOptions, Channels, Data, DataSource, Session, Status};

/// Every encoding's scales and offsets: what a calibration produced.
fn all_channels(session: &Session) -> Vec<Channels> {
    (0..session.encoding_count().unwrap())
        .map(|index| session.encoding_channels(index).unwrap())
        .collect()
}

#[test]
fn a_panic_in_a_reader_reaches_the_caller_and_the_session_lives_on() {
    let mut session = common::session();
    let samples = common::synthetic_samples(64, 3);
    let mut batches = 0;
    let mut reader = || {
        batches += 1;
        if batches == 2 {
            panic!("reader exploded");
        }
        Ok(Some(vec![common::batch_of(&samples, 0, 32)]))
    };
    let payload = catch_unwind(AssertUnwindSafe(|| {
        session.calibrate(Data::Reader(&mut reader), None)
    }))
    .unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"reader exploded"));
    assert_eq!(batches, 2, "qsim stops reading after the failed batch");
    assert_eq!(
        session.encoding_count().unwrap(),
        0,
        "the session is as it was"
    );

    session.calibrate(&mut common::npy_source(), None).unwrap();
    assert!(session.encoding_count().unwrap() > 0);
}

#[test]
fn a_panic_in_a_progress_closure_reaches_the_caller_and_the_session_lives_on() {
    let mut session = common::session();
    let mut calls = 0;
    let mut progress = |done: i64, _total: i64, _message: &str| {
        calls += 1;
        if done == 3 {
            panic!("progress exploded at batch {done}");
        }
        true
    };
    let mut source = common::npy_source();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        session.calibrate(&mut source, Some(&mut progress))
    }))
    .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("progress exploded at batch 3")
    );
    assert_eq!(calls, 3);
    assert_eq!(
        session.encoding_count().unwrap(),
        0,
        "the session is as it was"
    );

    session.calibrate(&mut source, None).unwrap();
    assert!(session.encoding_count().unwrap() > 0);
}

#[test]
#[should_panic(expected = "the test's own reader panic")]
fn a_reader_panic_unwinds_out_of_calibrate() {
    let mut session = common::session();
    let mut reader = || -> Result<Option<qsim::Batch>, qsim::ReaderError> {
        panic!("the test's own reader panic")
    };
    let _ = session.calibrate(Data::Reader(&mut reader), None);
}

#[test]
fn false_from_progress_cancels_and_keeps_the_earlier_encodings() {
    let mut session = common::session();
    session.calibrate(&mut common::npy_source(), None).unwrap();
    let before = all_channels(&session);

    // Other data would give other encodings, had the call gone through.
    let samples: Vec<f32> = common::synthetic_samples(96, 4)
        .iter()
        .map(|value| value * 50.0)
        .collect();
    let mut source = DataSource::from_arrays(&[common::batch_of(&samples, 0, 96)], 32).unwrap();
    let mut progress = |done: i64, _total: i64, _message: &str| done < 2;
    let error = session
        .calibrate(&mut source, Some(&mut progress))
        .err()
        .unwrap();
    assert_eq!(error.status, Status::Cancelled);
    assert_eq!(all_channels(&session), before);

    session.calibrate(&mut source, None).unwrap();
    assert_ne!(
        all_channels(&session),
        before,
        "the cancelled data does change the encodings"
    );
}

#[test]
fn false_from_progress_cancels_adaround() {
    let mut session = common::session();
    let mut source = common::npy_source();
    session.calibrate(&mut source, None).unwrap();
    let mut options = AdaroundOptions::default();
    options.num_iterations = 5;
    options.num_samples = 32;
    let mut progress = |_done: i64, _total: i64, _message: &str| false;
    let error = session
        .adaround(&mut source, &options, Some(&mut progress))
        .err()
        .unwrap();
    assert_eq!(error.status, Status::Cancelled);
    assert!(!session
        .notes()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .contains("adaround"));
}

#[test]
fn progress_sees_every_calibration_batch() {
    let mut session = common::session();
    let mut seen = Vec::new();
    let mut progress = |done: i64, total: i64, message: &str| {
        seen.push((done, total, message.to_string()));
        true
    };
    session
        .calibrate(&mut common::npy_source(), Some(&mut progress))
        .unwrap();
    // 500 samples in batches of 32.
    let expected: Vec<(i64, i64, String)> = (1..=16)
        .map(|batch| (batch, -1, format!("calibration batch {batch}")))
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_reader_closure_calibrates_as_a_data_source_of_the_same_samples() {
    let samples = common::synthetic_samples(80, 5);
    let all = common::batch_of(&samples, 0, 80);
    let mut source = DataSource::from_arrays(&[all], 32).unwrap();
    assert_eq!(source.samples().unwrap(), 80);
    let mut from_source = common::session();
    from_source.calibrate(&mut source, None).unwrap();

    let mut next = 0;
    let mut reader = || {
        if next == 80 {
            return Ok(None);
        }
        let count = 32.min(80 - next);
        let batch = common::batch_of(&samples, next, count);
        next += count;
        Ok(Some(vec![batch]))
    };
    let mut from_reader = common::session();
    from_reader
        .calibrate(Data::Reader(&mut reader), None)
        .unwrap();

    assert_eq!(
        from_reader.encodings().unwrap(),
        from_source.encodings().unwrap()
    );
    assert_eq!(all_channels(&from_reader), all_channels(&from_source));
}
