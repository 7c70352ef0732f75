//! The service under test, named once for every test module.
pub use foo::*;

/// The service's executable, built by cargo for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_foo");
