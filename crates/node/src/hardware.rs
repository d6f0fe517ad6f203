//! What the node registers as its hardware: detected from the machine (the CPU, or the
//! GPUs when the node computes on CUDA).

use aikernel_cuda::DeviceInfo;

use crate::config::Device;

/// The detected hardware: device model, memory and device count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    /// e.g. `cpu: AMD EPYC 7B13 (2 threads)`.
    pub device_model: String,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Devices the node computes on (1: the CPU; the GPUs found under CUDA).
    pub device_count: u32,
}

/// The hardware the node computes on: the GPUs the CUDA driver reports under
/// `device = "cuda"` (the CPU when discovery fails, which the config check has already
/// refused), else the CPU.
pub fn detect_for(device: Device) -> Hardware {
    match device {
        Device::Cuda => match aikernel_cuda::discover() {
            Ok(gpus) => gpu_hardware(&gpus),
            Err(e) => {
                tracing::warn!(error = %e, "no GPU to report; reporting the CPU");
                detect()
            }
        },
        Device::Cpu => detect(),
    }
}

/// The GPUs as registered: the first one's name and memory (the node computes on GPU 0),
/// and how many there are.
pub fn gpu_hardware(gpus: &[DeviceInfo]) -> Hardware {
    let first = gpus.first();
    Hardware {
        device_model: format!("cuda: {}", first.map_or("no device", |d| d.name.as_str())),
        memory_mib: first.map_or(0, |d| d.total_memory >> 20),
        device_count: u32::try_from(gpus.len()).unwrap_or(u32::MAX),
    }
}

/// What a node registers while the host build of the CUDA kernels stands in for its GPU (the
/// `gpu_stand_in` test hook): named as such, with the machine's memory.
pub fn stand_in() -> Hardware {
    Hardware {
        device_model: "cuda: host build standing in for a GPU (test)".to_owned(),
        memory_mib: detect().memory_mib,
        device_count: 1,
    }
}

/// Reads `/proc/cpuinfo` and `/proc/meminfo` (Linux); elsewhere, generic values.
pub fn detect() -> Hardware {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| field(&s, "model name"))
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let memory_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| field(&s, "MemTotal"))
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024);
    Hardware {
        device_model: format!("cpu: {cpu} ({threads} threads)"),
        memory_mib,
        device_count: 1,
    }
}

/// The value of the first `key: value` line with this key.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_fields() {
        let info = "processor\t: 0\nmodel name\t: Test CPU 9000\nflags: avx2\n";
        assert_eq!(field(info, "model name").as_deref(), Some("Test CPU 9000"));
        assert_eq!(
            field("MemTotal:  2048 kB\n", "MemTotal").as_deref(),
            Some("2048 kB")
        );
        assert_eq!(field(info, "missing"), None);
    }

    #[test]
    fn gpus_are_reported_by_name_memory_and_count() {
        let h200 = |ordinal| DeviceInfo {
            ordinal,
            name: "NVIDIA H200".to_owned(),
            total_memory: 150_754_820_096,
        };
        let hw = gpu_hardware(&[h200(0), h200(1)]);
        assert_eq!(
            hw,
            Hardware {
                device_model: "cuda: NVIDIA H200".to_owned(),
                memory_mib: 143_771,
                device_count: 2,
            }
        );
        assert_eq!(gpu_hardware(&[]).device_count, 0);
        // The CPU where the node computes on it.
        assert!(detect_for(Device::Cpu).device_model.starts_with("cpu: "));
    }

    #[test]
    fn detects_something_sane_here() {
        let hw = detect();
        assert!(hw.device_model.starts_with("cpu: "));
        assert_eq!(hw.device_count, 1);
        if cfg!(target_os = "linux") {
            assert!(hw.memory_mib > 0);
        }
    }
}
