//! Placeholder: where site files go, from `nginx -T`; filled in by the nginx apply work.
