//! The MachineRuntime interface (IRI equivalent): its operations, requests, responses and the
//! machine model a node backend keeps.
