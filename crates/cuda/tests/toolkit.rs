//! The GPU kernels through NVIDIA's own compilers, on a machine without a GPU: the CUDA
//! 13.5.37 release `scripts/setup.sh` unpacks from NVIDIA's PyPI wheels
//! (`aikernel_engine::paths::cuda_toolkit`). The real NVRTC compiles the forward kernels as
//! the launch path does (`gpu::Nvrtc`, the determinism options); the PTX is audited
//! instruction by instruction against the arithmetic rules of docs/engine.md ("CUDA
//! backend"); ptxas assembles it for sm_80 and sm_90 without spills; nvcc builds `gpu_check` as
//! `scripts/gpu-check.sh --compile-only` does. Nothing here runs on a GPU.
//!
//! A missing toolkit fails, saying to run setup. The wheels are x86_64 Linux, so this file
//! compiles to nothing elsewhere, like the AVX kernels' tests on aarch64.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use aikernel_cuda::forward::Kernel;
use aikernel_cuda::gpu::Nvrtc;
use aikernel_engine::paths;

mod common;
#[path = "toolkit/ptx_audit.rs"]
mod ptx_audit;
use ptx_audit::audit;

/// The virtual architectures compiled, each with the real one ptxas assembles it for (A100,
/// H100/H200).
const ARCHS: [(&str, &str); 2] = [("compute_80", "sm_80"), ("compute_90", "sm_90")];

/// setup's CUDA compilers, or a failure that says how to install them.
fn toolkit() -> PathBuf {
    let root = paths::cuda_toolkit();
    for file in [
        "bin/nvcc",
        "bin/ptxas",
        "nvvm/bin/cicc",
        "lib/libnvrtc.so.13",
    ] {
        assert!(
            root.join(file).is_file(),
            "{} missing: the CUDA {} compilers are not installed; run scripts/setup.sh (it \
             unpacks NVIDIA's wheels into {})",
            root.join(file).display(),
            paths::CUDA_TOOLKIT_VERSION,
            root.display()
        );
    }
    root
}

/// The PTX NVRTC gives for `arch` (compiled once per test binary).
fn ptx(arch: &str) -> &'static str {
    static CACHE: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let i = ARCHS
        .iter()
        .position(|&(a, _)| a == arch)
        .unwrap_or_else(|| panic!("{arch} is not in ARCHS"));
    CACHE[i].get_or_init(|| {
        toolkit();
        common::toolkit::compile(arch)
    })
}

/// A scratch folder under the system temp folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "aikernel-toolkit-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A command's status with everything it printed, for a failure message.
fn report(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The names of a PTX module's kernels (`.entry`), in order.
fn entries(ptx: &str) -> Vec<&str> {
    ptx.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix(".visible .entry ")
                .or(l.strip_prefix(".entry "))?;
            rest.split('(').next().map(str::trim)
        })
        .collect()
}

#[test]
fn nvrtc_compiles_every_forward_kernel() {
    for (arch, _) in ARCHS {
        let ptx = ptx(arch);
        let found = entries(ptx);
        println!("{arch}: {} bytes of PTX, entries {found:?}", ptx.len());
        for kernel in Kernel::ALL {
            assert!(
                ptx.lines()
                    .any(|l| l.trim_start() == format!(".visible .entry {}(", kernel.name())),
                "{arch}: no `.visible .entry {}` in the PTX",
                kernel.name()
            );
        }
        assert_eq!(
            found.len(),
            Kernel::ALL.len(),
            "{arch}: the module's kernels are not the forward kernels: {found:?}"
        );
    }
}

#[test]
fn a_process_compiles_the_kernels_once_per_architecture() {
    let lib = common::toolkit::nvrtc_library();
    let nv = Nvrtc::load_from(&[lib.to_str().expect("toolkit path is UTF-8")])
        .expect("load the toolkit's NVRTC");
    let first = nv.compile_once("compute_90").expect("NVRTC compiles");
    let again = nv.compile_once("compute_90").expect("the memo answers");
    assert!(
        std::sync::Arc::ptr_eq(&first, &again),
        "the second open compiled again instead of reusing the first PTX"
    );
    let other = nv
        .compile_once("compute_80")
        .expect("NVRTC compiles for sm_80");
    assert!(!std::sync::Arc::ptr_eq(&first, &other));
    assert!(
        String::from_utf8_lossy(&other).contains(".target sm_80"),
        "another architecture is compiled for itself"
    );
    assert_eq!(
        *first,
        nv.compile("compute_90").expect("NVRTC compiles"),
        "the memo holds exactly what NVRTC gives"
    );
}

#[test]
fn ptx_keeps_the_determinism_rules() {
    for (arch, _) in ARCHS {
        let found = audit(ptx(arch));
        let total: usize = found.instructions.values().sum();
        println!(
            "{arch}: {total} instructions in {} functions, {} violations",
            found.instructions.len(),
            found.violations.len()
        );
        for kernel in Kernel::ALL {
            assert!(
                found.instructions.get(kernel.name()).copied().unwrap_or(0) > 0,
                "{arch}: the audit saw no instruction of {}",
                kernel.name()
            );
        }
        let list: Vec<String> = found.violations.iter().map(ToString::to_string).collect();
        assert!(
            list.is_empty(),
            "{arch}: {} instructions break the determinism rules:\n{}",
            list.len(),
            list.join("\n")
        );
    }
}

/// Per function ptxas -v reports: (registers, stack frame bytes, spill store bytes, spill
/// load bytes).
fn ptxas_usage(log: &str) -> BTreeMap<String, [u64; 4]> {
    let mut usage: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    let mut current = String::new();
    let number_before = |text: &str, word: &str| -> Option<u64> {
        let before = &text[..text.find(word)?];
        before.split_whitespace().last()?.parse().ok()
    };
    for line in log.lines() {
        for key in ["Compiling entry function '", "Function properties for "] {
            if let Some(at) = line.find(key) {
                line[at + key.len()..]
                    .split(['\'', ' '])
                    .next()
                    .unwrap_or_default()
                    .clone_into(&mut current);
            }
        }
        let entry = usage.entry(current.clone()).or_default();
        if let Some(r) = number_before(line, " registers") {
            entry[0] = r;
        }
        if line.contains("bytes stack frame") {
            entry[1] = number_before(line, " bytes stack frame").unwrap_or(u64::MAX);
            entry[2] = number_before(line, " bytes spill stores").unwrap_or(u64::MAX);
            entry[3] = number_before(line, " bytes spill loads").unwrap_or(u64::MAX);
        }
    }
    usage.remove("");
    usage
}

#[test]
fn ptxas_assembles_without_spills() {
    let ptxas = toolkit().join("bin/ptxas");
    let dir = Scratch::new("ptxas");
    for (arch, sm) in ARCHS {
        let src = dir.0.join(format!("ak_forward_{arch}.ptx"));
        std::fs::write(&src, ptx(arch)).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let out = Command::new(&ptxas)
            .arg(format!("-arch={sm}"))
            .arg("-v")
            .arg(&src)
            .arg("-o")
            .arg(dir.0.join(format!("ak_forward_{sm}.cubin")))
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", ptxas.display()));
        let what = format!("ptxas -arch={sm} -v");
        assert!(out.status.success(), "{}", report(&what, &out));
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let usage = ptxas_usage(&log);
        println!("{sm}: registers per kernel (stack frame, spill stores, spill loads in bytes)");
        for (name, [regs, stack, stores, loads]) in &usage {
            println!("  {name:<22} {regs:>3} registers  {stack} {stores} {loads}");
        }
        for kernel in Kernel::ALL {
            let u = usage.get(kernel.name()).unwrap_or_else(|| {
                panic!("{sm}: ptxas reported nothing for {}\n{log}", kernel.name())
            });
            assert!(
                u[0] > 0,
                "{sm}: no register count for {}\n{log}",
                kernel.name()
            );
        }
        for (name, [_, stack, stores, loads]) in &usage {
            assert!(
                *stack == 0 && *stores == 0 && *loads == 0,
                "{sm}: {name} has a {stack}-byte stack frame, {stores} bytes of spill stores and \
                 {loads} of spill loads\n{log}"
            );
        }
    }
}

#[test]
fn nvcc_builds_the_gpu_check_driver() {
    let nvcc = toolkit().join("bin/nvcc");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = Scratch::new("gpu-check");
    // The script's own compile (host.o with g++, gpu_check.cu with nvcc -arch=sm_90 and the
    // determinism flags), so the flags tested are the flags used. With NVCC unset it must
    // pick setup's compilers, the rule of paths::cuda_toolkit.
    let out = Command::new("bash")
        .arg(root.join("scripts/gpu-check.sh"))
        .arg("--compile-only")
        .arg(&dir.0)
        .env_remove("NVCC")
        .output()
        .expect("running bash scripts/gpu-check.sh");
    assert!(
        out.status.success(),
        "{}",
        report("scripts/gpu-check.sh --compile-only", &out)
    );
    let read = |name: &str| -> serde_json::Value {
        let path = dir.0.join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
    };
    let (summary, env) = (read("summary.json"), read("env.json"));
    println!("summary.json: {summary}\nenv.json: {env}");
    assert_eq!(summary["compile_only"], true, "{summary}");
    assert_eq!(summary["pass"], true, "{summary}");
    assert_eq!(
        env["nvcc_path"].as_str().map(PathBuf::from),
        Some(nvcc.clone()),
        "gpu-check.sh --compile-only did not pick setup's nvcc ({})",
        nvcc.display()
    );
    let command = env["nvcc_command"].as_str().unwrap_or_default();
    let words: Vec<&str> = command.split(' ').collect();
    for flag in [
        "-arch=sm_90",
        "-fmad=false",
        "-prec-div=true",
        "-prec-sqrt=true",
        "-ftz=false",
        "-Xcompiler -ffp-contract=off",
    ] {
        assert!(
            words
                .windows(flag.split(' ').count())
                .any(|w| w.join(" ") == flag),
            "nvcc was run without {flag}: {command}"
        );
    }
    assert_ne!(env["libnvrtc"], "none", "{env}");
    let exe = dir.0.join("gpu_check");
    let head = std::fs::read(&exe).unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    assert!(
        head.starts_with(b"\x7fELF"),
        "{} is not an ELF executable",
        exe.display()
    );
}
