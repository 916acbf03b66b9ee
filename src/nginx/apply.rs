//! Placeholder: the safe apply; filled in by the nginx apply work.
