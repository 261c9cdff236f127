//! csplease
