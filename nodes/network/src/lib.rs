//! What metalnet does upstream: on each hypervisor, program the local data plane for the
//! interfaces scheduled there, announce their routes to the route reflectors, and install the
//! routes received for subscribed VNIs.
//!
//! It is neither the packet pipeline (`ferrocore-node-dataplane`) nor the reflector.
//!
//! Status: not built yet (see README.md).
