//! What only the unit tests use: the checks that keep the documentation's generated tables
//! and links in step with the code (`docs`), and the property-test runner (`property_tests`).

pub mod docs;
pub mod property_tests;
