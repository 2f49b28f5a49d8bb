//! Registry (being written).
