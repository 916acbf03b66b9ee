//! Placeholder: filled in by the certificate work.
