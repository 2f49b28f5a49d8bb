//! How the property tests run: on proptest, so that a failing case is shrunk to a minimal
//! one before it is shown, and its seed is kept so that the failure comes back on every run.
//!
//! Each run draws new random cases (`PROPTEST_RNG_SEED=n` fixes them). A failure writes a
//! `cc <seed>` line to `proptest-regressions/<path of the test's file below src>.txt`
//! (`proptest-regressions/http/framing.txt` for `src/http/framing.rs`); those files are
//! committed, and every later run replays their cases first, before the random ones.

use proptest::strategy::Strategy;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseResult, TestRunner,
};

/// Runs `test` on `cases` values of `strategy`, for a property written in `source`
/// (`file!()`, which names its regressions file); panics with the minimal failing value.
/// Assertions in `test` may panic: the panic counts as the case failing.
pub fn for_all<S: Strategy>(
    source: &'static str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> TestCaseResult,
) {
    let config = Config {
        cases,
        source_file: Some(source),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        // Not ChaCha, the default: in an unoptimized test build its SIMD code took about
        // half of the tests' time. The cases need not be unpredictable.
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    };
    run(config, strategy, test);
}

fn run<S: Strategy>(config: Config, strategy: S, test: impl Fn(S::Value) -> TestCaseResult) {
    if let Err(failure) = TestRunner::new(config).run(&strategy, test) {
        panic!("{failure}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prop_assert;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[test]
    fn a_failing_property_is_shrunk_to_its_minimal_case() {
        // Not persisted: this failure is made on purpose.
        let config = Config {
            failure_persistence: None,
            ..Config::default()
        };
        let failure = catch_unwind(AssertUnwindSafe(|| {
            run(config, vec(0..1000u32, 0..20), |numbers| {
                prop_assert!(numbers.iter().all(|&n| n < 500));
                Ok(())
            })
        }))
        .unwrap_err();
        let message = failure.downcast_ref::<String>().unwrap();
        let (_, minimal) = message.split_once("minimal failing input:").unwrap();
        let minimal: String = minimal.split_whitespace().collect();
        assert_eq!(minimal, "[500,]", "{message}");
    }
}
