//! What the node registers as its hardware: detected from the machine.

/// The detected hardware: device model, memory and device count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    /// e.g. `cpu: AMD EPYC 7B13 (2 threads)`.
    pub device_model: String,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Devices the node computes on (1: the CPU).
    pub device_count: u32,
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
    fn detects_something_sane_here() {
        let hw = detect();
        assert!(hw.device_model.starts_with("cpu: "));
        assert_eq!(hw.device_count, 1);
        if cfg!(target_os = "linux") {
            assert!(hw.memory_mib > 0);
        }
    }
}
