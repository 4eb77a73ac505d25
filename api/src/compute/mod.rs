//! The `compute.ironcore.dev/v1alpha1` kinds: Machine, MachineClass, MachinePool.

mod device;
mod machine;
mod machine_class;
mod machine_pool;

pub use device::{
    DEVICE_PREFIX, DeviceNameError, DeviceNamer, MAX_DEVICE_INDEX, device_name, parse_device_name,
};
pub use machine::{
    AttachmentState, DEFAULT_IGNITION_KEY, EfiVar, EmptyDiskVolumeSource,
    EphemeralNetworkInterfaceSource, EphemeralVolumeSource, LocalDiskVolumeSource, Machine,
    MachineGuestConfig, MachineNetworkInterface, MachineNetworkInterfaceStatus, MachineSpec,
    MachineState, MachineStatus, MachineVolume, MachineVolumeStatus, Power,
    ephemeral_network_interface_name, ephemeral_volume_name,
};
pub(crate) use machine_class::positive_capabilities;
pub use machine_class::{MACHINE_CLASS_FINALIZER, MachineClass};
pub use machine_pool::{
    DaemonEndpoint, MachinePool, MachinePoolAddress, MachinePoolAddressType,
    MachinePoolDaemonEndpoints, MachinePoolSpec, MachinePoolState, MachinePoolStatus,
};
