//! The BucketRuntime interface (IRI equivalent): its operations, requests, responses and the
//! bucket model a node backend keeps.
