//! The VolumeRuntime interface (IRI equivalent): its operations, requests, responses and the
//! volume model a node backend keeps.
