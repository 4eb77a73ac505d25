//! The Ceph backend (in progress).
